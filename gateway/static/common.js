// Shared by the three pages: who the user is (a demo identity or a pasted token), calling /graphql with
// that token and purpose, and building DOM from data. Values from the API are only ever set as text.

const KEY = "vcv.identity";

export class ApiError extends Error {
  constructor(errors, status) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.codes = errors.map((e) => (e.extensions || {}).code || "ERROR");
    this.status = status;
  }
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function identity() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function setIdentity(value) {
  sessionStorage.setItem(KEY, JSON.stringify(value));
  window.dispatchEvent(new CustomEvent("vcv-identity"));
}

export async function gql(query, variables = {}) {
  const who = identity();
  if (!who) throw new ApiError([{ message: "choose an identity or paste a token first", extensions: { code: "NO_IDENTITY" } }], 0);
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${who.token}`, "X-Purpose": who.purpose },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError([{ message: "the gateway cannot be reached", extensions: { code: "NETWORK" } }], 0);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `the gateway answered HTTP ${response.status} without JSON`, extensions: { code: "BAD_RESPONSE" } }], response.status);
  }
  if (!body.data) throw new ApiError(body.errors || [], response.status);
  return { data: body.data, errors: body.errors || [], redactions: (body.extensions || {}).redactions || [] };
}

// The user's own words for what went wrong, with the code for support.
export function explain(error) {
  if (!(error instanceof ApiError)) return `Unexpected problem: ${error.message}`;
  const code = error.codes[0] || "ERROR";
  const plain = {
    UNAUTHENTICATED: "Your token was not accepted",
    PURPOSE_NOT_ALLOWED: "This token does not allow that purpose",
    PURPOSE_REQUIRED: "A purpose is required",
    FORBIDDEN: "Your role may not see this",
    CUSTOMER_NOT_FOUND: "No such customer is visible to you",
    AUDIT_UNAVAILABLE: "Nothing can be shown while the audit log is unavailable",
    NO_IDENTITY: "Choose an identity first",
  }[code];
  return `${plain || "The request failed"}: ${error.message} (${code})`;
}

export function message(container, text, kind = "info") {
  container.replaceChildren(h("p", { class: `state ${kind}`, role: kind === "error" ? "alert" : "status" }, text));
}

export function money(m) {
  if (!m) return null;
  return `${Number(m.amount).toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${m.currency}`;
}

function looksLikeJwt(token) {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function claims(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

// The bar at the top of every page: navigation, current identity, demo identities, paste a token.
export async function identityBar(root) {
  const here = location.pathname;
  const nav = h("nav", {},
    ...[["/", "Customer 360"], ["/self-service", "Self-service"], ["/compliance", "Compliance"]].map(([href, text]) =>
      h("a", { href, class: href === here ? "current" : null }, text)));
  const current = h("span", { class: "who", id: "who" });
  const demo = h("select", { id: "demo-identity", "aria-label": "Demo identity" });
  const purpose = h("select", { id: "purpose", "aria-label": "Purpose" });
  const pasted = h("input", { id: "token", type: "password", placeholder: "…or paste a token", autocomplete: "off", "aria-label": "Token" });
  const pastedPurpose = h("input", { id: "token-purpose", placeholder: "purpose", size: 12, "aria-label": "Purpose for the pasted token" });
  const problem = h("span", { class: "identity-error", id: "identity-error", role: "alert" });
  const use = h("button", { type: "button", id: "use-token" }, "Use token");
  let identities = [];

  function render() {
    const who = identity();
    current.textContent = who ? `${who.label} · purpose ${who.purpose}` : "No identity chosen";
    purpose.replaceChildren(...(who ? who.purposes : []).map((p) => h("option", { value: p, selected: who && p === who.purpose }, p)));
    purpose.disabled = !who || who.purposes.length < 2;
  }

  try {
    const response = await fetch("/demo/identities");
    if (response.ok) identities = await response.json();
  } catch {
    identities = [];
  }
  demo.append(h("option", { value: "" }, identities.length ? "Demo identity…" : "No demo identities"));
  identities.forEach((id, index) => demo.append(h("option", { value: String(index) }, id.label)));
  demo.disabled = identities.length === 0;
  demo.addEventListener("change", () => {
    const chosen = identities[Number(demo.value)];
    if (!chosen) return;
    problem.textContent = "";
    setIdentity({ label: chosen.label, role: chosen.role, token: chosen.token, purposes: chosen.purposes, purpose: chosen.purposes[0] });
    demo.value = "";
  });
  purpose.addEventListener("change", () => setIdentity({ ...identity(), purpose: purpose.value }));
  use.addEventListener("click", () => {
    const token = pasted.value.trim();
    if (!looksLikeJwt(token)) {
      problem.textContent = "That is not a token: expected three dot-separated parts (a JWT).";
      return;
    }
    const c = claims(token);
    const purposes = Array.isArray(c.purposes) && c.purposes.length ? c.purposes : [pastedPurpose.value.trim() || "advisory"];
    const chosen = pastedPurpose.value.trim() || purposes[0];
    problem.textContent = "";
    pasted.value = "";
    setIdentity({ label: `${c.role || "token"} ${c.sub || ""}`.trim(), role: c.role || "unknown", token,
                  purposes: purposes.includes(chosen) ? purposes : [chosen, ...purposes], purpose: chosen });
  });
  window.addEventListener("vcv-identity", render);
  render();
  root.replaceChildren(h("div", { class: "bar" }, h("strong", { class: "brand" }, "Virtual Customer View"), nav),
    h("div", { class: "bar identity" }, current, purpose, demo, pasted, pastedPurpose, use, problem));
}

// Fields the policy withheld or changed, by response path ("customer.contracts.3.iban").
export function redactionIndex(redactions) {
  const index = new Map();
  for (const r of redactions) index.set(Array.isArray(r.path) ? r.path.join(".") : r.path, r);
  return index;
}

export function badge(redaction) {
  const kind = redaction.treatment.split(" ")[0];
  const text = kind === "redact" ? "hidden" : kind === "mask" ? "masked" : kind === "generalize" ? "rounded" : kind === "pseudonymize" ? "pseudonym" : kind;
  return h("span", { class: `badge ${kind}`, title: `${redaction.treatment} — rule ${redaction.rule} (agreement of ${redaction.owner})`,
    "data-rule": redaction.rule, tabindex: 0 }, text);
}

export function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
