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

// The user's own words for what went wrong; the code stays, in small print, for whoever gives support.
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
    NETWORK: "The gateway cannot be reached",
  }[code];
  return `${plain || "The request failed"}: ${error.message} (code ${code})`;
}

// A state shown in place of content (loading, empty, refused). Not a live region: the page's status line
// announces; an error is an alert, short, and the one exception.
export function message(container, text, kind = "info") {
  container.replaceChildren(h("p", { class: `state ${kind}`, role: kind === "error" ? "alert" : null }, text));
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

// Plain words for internal keys, from /vocabulary.json (gateway/page_words.py). Loaded once per page; a page
// that cannot load them still works and shows keys made readable.
let WORDS = { purposes: {}, products: {}, organisations: {}, fields: {}, categories: {}, treatments: {}, rules: {} };

export async function loadWords() {
  try {
    const response = await fetch("/vocabulary.json");
    if (response.ok) WORDS = { ...WORDS, ...(await response.json()) };
  } catch {
    // keep the readable fallbacks
  }
  return WORDS;
}

export function readable(key) {
  const text = String(key || "").replace(/_/g, " ").trim().toLowerCase();
  return text.charAt(0).toUpperCase() + text.slice(1);
}
export const purposeTitle = (key) => (WORDS.purposes[key] || {}).title || readable(key);
export const purposeText = (key) => (WORDS.purposes[key] || {}).description || "";
export const productName = (key) => WORDS.products[key] || readable(key);
export const orgName = (key) => WORDS.organisations[key] || key || "Unknown organisation";
export const ruleText = (rule) => WORDS.rules[rule] || "";
export const categoryKey = (field) => WORDS.fields[String(field).split("/").pop()] || "contract";
export const categoryName = (key) => WORDS.categories[key] || readable(key);
export const categoriesOf = (fields) => [...new Set(fields.map(categoryKey))]
  .sort((a, b) => Object.keys(WORDS.categories).indexOf(a) - Object.keys(WORDS.categories).indexOf(b));
export const fieldsIn = (category) => Object.entries(WORDS.fields).filter(([, c]) => c === category).map(([f]) => f);
export const allCategories = () => Object.entries(WORDS.categories);

// One date format everywhere: "30 Nov 2026"; with the time, "30 Nov 2026, 14:05 CET" in the reader's zone.
export function day(value) {
  if (!value) return null;
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T12:00:00`) : new Date(value);
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
}
export function moment(value) {
  if (!value) return null;
  const d = new Date(value);
  return `${day(value)}, ${d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZoneName: "short" })}`;
}

// The page's one status line (role=status): short messages for screen readers and sighted users alike.
export function announce(text) {
  const line = document.getElementById("status");
  if (line) line.textContent = text;
}

// The bar at the top of every page: navigation, who you are, and (folded away once chosen) how to change it.
// Choosing in a list never applies by itself: a keyboard user moves through the options with the arrow keys,
// and only the button applies the choice.
export async function identityBar(root, { staffLinks = true } = {}) {
  const here = location.pathname;
  const links = staffLinks ? [["/", "Customer 360"], ["/self-service", "Self-service"], ["/compliance", "Compliance"]] : [];
  const nav = links.length ? h("nav", { "aria-label": "Pages" }, ...links.map(([href, text]) =>
    h("a", { href, "aria-current": href === here ? "page" : null }, text))) : null;
  const current = h("span", { class: "who", id: "who" });
  const panel = h("details", { class: "identity", id: "identity-panel" });
  const demo = h("select", { id: "demo-identity" });
  const useDemo = h("button", { type: "submit", id: "use-demo" }, "Use identity");
  const purpose = h("select", { id: "purpose" });
  const usePurpose = h("button", { type: "submit", id: "use-purpose", class: "secondary" }, "Use purpose");
  const pasted = h("input", { id: "token", type: "password", autocomplete: "off" });
  const pastedPurpose = h("input", { id: "token-purpose", size: 12 });
  const problem = h("p", { class: "identity-error", id: "identity-error", role: "alert" });
  let identities = [];

  function render() {
    const who = identity();
    current.textContent = who ? `${who.label} · ${purposeTitle(who.purpose)}` : "No identity chosen";
    current.dataset.purpose = who ? who.purpose : "";
    purpose.replaceChildren(...(who ? who.purposes : []).map((p) => h("option", { value: p, selected: p === who.purpose }, purposeTitle(p))));
    purpose.disabled = usePurpose.disabled = !who || who.purposes.length < 2;
  }

  try {
    const response = await fetch("/demo/identities");
    if (response.ok) identities = await response.json();
  } catch {
    identities = [];
  }
  demo.append(h("option", { value: "" }, identities.length ? "Choose…" : "No demo identities"));
  identities.forEach((id, index) => demo.append(h("option", { value: String(index) }, id.label)));
  demo.disabled = useDemo.disabled = identities.length === 0;
  const demoForm = h("form", { id: "demo-form" }, h("label", {}, "Demo identity", demo), useDemo);
  demoForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = identities[Number(demo.value)];
    if (!demo.value || !chosen) { problem.textContent = "Choose an identity in the list first."; return; }
    problem.textContent = "";
    setIdentity({ label: chosen.label, role: chosen.role, token: chosen.token, purposes: chosen.purposes, purpose: chosen.purposes[0] });
    demo.value = "";
    announce(`Now using ${chosen.label}, purpose ${purposeTitle(chosen.purposes[0])}.`);
  });
  const purposeForm = h("form", { id: "purpose-form" }, h("label", {}, "Purpose", purpose), usePurpose);
  purposeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    setIdentity({ ...identity(), purpose: purpose.value });
    announce(`Purpose changed to ${purposeTitle(purpose.value)}.`);
  });
  const tokenForm = h("form", { id: "token-form" },
    h("label", {}, "Access token", pasted), h("label", {}, "Purpose (optional)", pastedPurpose),
    h("button", { type: "submit", id: "use-token", class: "secondary" }, "Use token"));
  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = pasted.value.trim();
    if (!looksLikeJwt(token)) {
      problem.textContent = "That is not a token: expected three dot-separated parts (a JWT).";
      pasted.focus();
      return;
    }
    const c = claims(token);
    const purposes = Array.isArray(c.purposes) && c.purposes.length ? c.purposes : [pastedPurpose.value.trim() || "advisory"];
    const chosen = pastedPurpose.value.trim() || purposes[0];
    problem.textContent = "";
    pasted.value = "";
    setIdentity({ label: `${c.role || "token"} ${c.sub || ""}`.trim(), role: c.role || "unknown", token,
                  purposes: purposes.includes(chosen) ? purposes : [chosen, ...purposes], purpose: chosen });
    announce("Now using the pasted token.");
  });
  window.addEventListener("vcv-identity", render);
  // Open until someone is chosen; then folded by the person, not under their focus.
  panel.open = !identity();
  panel.append(h("summary", {}, "Signed in as ", current, h("span", { class: "subtle" }, " — change")),
    demoForm, purposeForm,
    h("details", { class: "token", id: "token-panel" }, h("summary", {}, "Use an access token instead"), tokenForm), problem);
  render();
  root.replaceChildren(h("div", { class: nav ? "bar" : "bar no-nav" }, h("strong", { class: "brand" }, "Virtual Customer View"), nav), panel);
}

// Fields the policy withheld or changed, by response path ("customer.contracts.3.iban").
export function redactionIndex(redactions) {
  const index = new Map();
  for (const r of redactions) index.set(Array.isArray(r.path) ? r.path.join(".") : r.path, r);
  return index;
}

let disclosures = 0;

// A disclosure anyone can reach: a button named after its field ("Health class: hidden — why?") that opens
// the explanation below it, by click, tap, Enter or Space. Returns [button, explanation] to place together.
export function disclosure(label, fieldName, kind, explanation) {
  const id = `why-${++disclosures}`;
  const text = h("span", { class: "why", id, hidden: true }, ...explanation);
  const button = h("button", { type: "button", class: `badge ${kind}`, "aria-expanded": "false", "aria-controls": id },
    h("span", { class: "sr-only" }, `${fieldName}: `), label, h("span", { class: "sr-only" }, " — why?"));
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    text.hidden = !open;
  });
  return [button, text];
}

export function treatmentWord(treatment) {
  const kind = treatment.split(" ")[0];
  return { redact: "hidden", mask: "partly hidden", generalize: "rounded", pseudonymize: "pseudonym" }[kind] || kind;
}

// Why an agreement withheld or changed a field, in the agreement's own words.
export function badge(redaction, fieldName) {
  const kind = redaction.treatment.split(" ")[0];
  const owner = orgName(redaction.owner);
  const reason = ruleText(redaction.rule);
  const [button, text] = disclosure(treatmentWord(redaction.treatment), fieldName, kind, [
    `${owner}'s data-sharing agreement ${kind === "redact" ? "does not share" : "changes"} this field with you for this purpose`,
    reason ? `: ${reason}` : ".", " ", h("span", { class: "subtle" }, `(rule ${redaction.rule})`)]);
  button.dataset.rule = redaction.rule;
  return [button, text];
}

export function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
