// Compliance: is the audit chain intact, and "who saw customer X's health data last month, and why" in one
// search — by customer, caller, data category or field, purpose and period. Each event's details (partners
// called, fields shown and withheld with their rules) open right below its row; what was found exports as
// JSONL or CSV, the fields shown included.
import {
  allCategories, announce, categoriesOf, categoryName, download, explain, fieldsIn, gql, h, identity, identityBar,
  loadWords, message, moment, orgName, purposeTitle, ruleText,
} from "./common.js";

const CHAIN = `query Chain { auditChain { intact events checkpoints brokenAt reason summary } }`;
const SEARCH = `query Events($filter: AuditFilter, $after: String) { auditEvents(filter: $filter, first: 50, after: $after) {
  events { seq time requestId caller { subject role organisation } purpose operationName operationHash customers
           partners { partner contracts outcome latencyMs } fieldsShown
           fieldsWithheld { path field owner treatment rule } errors outcome }
  endCursor hasNextPage } }`;
const PURPOSES = ["advisory", "service", "complaint", "lead_management", "self_service", "audit"];

const page = () => document.getElementById("page");
let found = [];

async function chain(container) {
  container.replaceChildren(h("p", { class: "state" }, "Verifying the audit chain…"));
  try {
    const { data } = await gql(CHAIN);
    const c = data.auditChain;
    // Not intact and not broken: the gateway holds no key to check signatures with, so nothing is proven.
    const verdict = c.intact ? "intact" : c.brokenAt === null ? "UNSIGNED" : "BROKEN";
    container.replaceChildren(h("div", { class: `banner ${c.intact ? "ok" : "bad"}`, id: "chain-status" },
      h("strong", {}, `Audit chain ${verdict}`), ` — ${c.summary}`));
    announce(`Audit chain ${verdict.toLowerCase()}.`);
  } catch (error) {
    message(container, explain(error), "error");
  }
}

// A list search reads names from the customer master only, for many customers or without calling any
// partner: useful evidence, but noise when the question is who looked at one customer's data.
function isListSearch(event) {
  if (event.partners.length || !event.fieldsShown.length) return false;
  return event.customers.length > 1 || event.fieldsShown.every((f) => /^[^/]+\/Customer\.(id|givenName|familyName|segment)$/.test(f));
}

// The period as the officer thinks of it, in their own time zone; sent to the API as exact instants.
function period(form) {
  const now = new Date();
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const choice = form.elements.period.value;
  if (choice === "today") return [midnight(now), null];
  if (choice === "7") return [new Date(midnight(now) - 6 * 864e5), null];
  if (choice === "30") return [new Date(midnight(now) - 29 * 864e5), null];
  if (choice === "last-month") return [new Date(now.getFullYear(), now.getMonth() - 1, 1), new Date(now.getFullYear(), now.getMonth(), 1)];
  if (choice === "this-month") return [new Date(now.getFullYear(), now.getMonth(), 1), null];
  if (choice === "dates") {
    const from = parseDay(form.elements.since), end = parseDay(form.elements.until);
    if (end) end.setDate(end.getDate() + 1);  // "until 5 Nov 2026" includes the whole of 5 Nov
    return [from, end];
  }
  return [null, null];
}

class DateProblem extends Error {
  constructor(input) {
    super(`“${input.value}” is not a date: write it as 5 Nov 2026 (or 2026-11-05).`);
    this.input = input;
  }
}

// Dates are typed the way the pages write them ("5 Nov 2026"); ISO is accepted too. Midnight, local time.
function parseDay(input) {
  const text = input.value.trim();
  if (!text) return null;
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text);
  const words = /^(\d{1,2})\.? ([A-Za-z]{3,9})\.? (\d{4})$/.exec(text);
  const months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
  const [y, m, d] = iso ? [+iso[1], +iso[2] - 1, +iso[3]]
    : words ? [+words[3], months.indexOf(words[2].slice(0, 3).toLowerCase()), +words[1]] : [0, -1, 0];
  const date = new Date(y, m, d);
  if (m < 0 || date.getMonth() !== m || date.getDate() !== d) throw new DateProblem(input);
  return date;
}

function filterOf(form) {
  const value = (name) => form.elements[name].value.trim() || null;
  const [since, until] = period(form);
  const data = value("data");
  let fields = null;
  if (data && data.startsWith("category:")) fields = fieldsIn(data.slice(9));
  else if (data && data.startsWith("field:")) fields = [data.slice(6)];
  return { customerId: value("customerId"), subject: value("subject"), purpose: value("purpose"),
    since: since && since.toISOString(), until: until && until.toISOString(), fieldsShown: fields };
}

function table(headers, rows) {
  return h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": headers.label },
    h("table", {}, h("thead", {}, h("tr", {}, ...headers.names.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, ...rows)));
}

function details(event) {
  const heading = h("h3", { tabindex: "-1" }, `Event ${event.seq}: ${event.outcome}`);
  return [heading, h("div", { class: "event-details", id: "event-details" },
    h("dl", { class: "fields" },
      h("dt", {}, "Request"), h("dd", { class: "id" }, event.requestId),
      h("dt", {}, "When"), h("dd", {}, moment(event.time)),
      h("dt", {}, "Caller"), h("dd", {}, `${event.caller.subject || "—"} (${event.caller.role || "—"}, ${event.caller.organisation || "—"})`),
      h("dt", {}, "Purpose"), h("dd", {}, event.purpose ? `${purposeTitle(event.purpose)} (${event.purpose})` : "—"),
      h("dt", {}, "Operation"), h("dd", {}, event.operationName || "(unnamed)", " ", h("code", {}, (event.operationHash || "").slice(0, 16))),
      h("dt", {}, "Customers"), h("dd", { class: "id" }, event.customers.join(", ") || "—"),
      h("dt", {}, "Errors"), h("dd", {}, event.errors.join(", ") || "none")),
    h("h4", {}, "Partners called"),
    event.partners.length ? table({ label: `Partners called for event ${event.seq}`, names: ["Partner", "Contracts", "Outcome", "Latency"] },
      event.partners.map((p) => h("tr", {}, h("td", {}, `${orgName(p.partner)} (${p.partner})`), h("td", {}, p.contracts),
        h("td", {}, p.outcome), h("td", {}, `${Math.round(p.latencyMs)} ms`))))
      : h("p", { class: "state" }, "No partner was called."),
    h("h4", {}, `Fields shown (${event.fieldsShown.length})`),
    event.fieldsShown.length ? h("ul", { class: "plain" }, ...categoriesOf(event.fieldsShown).map((c) => h("li", {},
      h("strong", {}, categoryName(c)), ": ",
      event.fieldsShown.filter((f) => categoriesOf([f])[0] === c).join(", ")))) : h("p", { class: "state" }, "None."),
    h("h4", {}, `Fields withheld or changed (${event.fieldsWithheld.length})`),
    event.fieldsWithheld.length ? table({ label: `Fields withheld for event ${event.seq}`, names: ["Path", "Field", "Treatment", "Rule", "Why"] },
      event.fieldsWithheld.map((w) => h("tr", {}, h("td", { class: "id" }, w.path), h("td", {}, w.field), h("td", {}, w.treatment),
        h("td", {}, w.rule), h("td", {}, ruleText(w.rule) || "—"))))
      : h("p", { class: "state" }, "Nothing was withheld."))];
}

function csv(events) {
  // A cell a spreadsheet would run as a formula (=, +, -, @) is kept as text: audit data must not execute.
  const quote = (v) => {
    const text = String(v ?? "");
    return `"${(/^[=+\-@\t\r]/.test(text) ? `'${text}` : text).replace(/"/g, '""')}"`;
  };
  const header = ["seq", "time", "request_id", "subject", "role", "organisation", "purpose", "outcome", "customers", "partners",
    "errors", "data_categories", "fields_shown", "withheld"];
  const rows = events.map((e) => [e.seq, e.time, e.requestId, e.caller.subject, e.caller.role, e.caller.organisation, e.purpose,
    e.outcome, e.customers.join(" "), e.partners.map((p) => `${p.partner}:${p.outcome}`).join(" "), e.errors.join(" "),
    categoriesOf(e.fieldsShown).join("; "), e.fieldsShown.join(" "),
    e.fieldsWithheld.map((w) => `${w.field}:${w.rule}`).join(" ")].map(quote).join(","));
  return [header.join(","), ...rows].join("\r\n") + "\r\n";
}

const COLUMNS = ["Event", "Time", "Caller", "Purpose", "Customers", "Data shown", "Partners", "Outcome"];

function eventRow(e, close) {
  const button = h("button", { type: "button", class: "open-event", "aria-expanded": "false" },
    h("span", { class: "sr-only" }, "Details of event "), String(e.seq));
  const data = categoriesOf(e.fieldsShown).map(categoryName);
  const customers = e.customers.length > 3 ? `${e.customers.slice(0, 2).join(", ")} and ${e.customers.length - 2} more`
    : e.customers.join(", ");
  const cells = [button, moment(e.time), e.caller.subject || e.caller.role || "—", e.purpose ? purposeTitle(e.purpose) : "—",
    customers || "—", data.join(", ") || "—", e.partners.map((p) => `${p.partner} ${p.outcome}`).join(", ") || "—", e.outcome];
  // data-label: on a phone each row becomes a card whose cells say what they are (see app.css).
  const row = h("tr", { class: "event", "data-request": e.requestId, "data-seq": e.seq, role: "row" },
    ...cells.map((cell, i) => h("td", { "data-label": COLUMNS[i], role: "cell", class: i === 5 ? "data-shown" : null }, cell)));
  let opened = null;
  function toggle() {
    if (opened) { close(); return; }
    close();
    const [heading, body] = details(e);
    opened = h("tr", { class: "event-details", role: "row" }, h("td", { colspan: COLUMNS.length, role: "cell" }, heading, body));
    row.after(opened);
    row.setAttribute("aria-current", "true");
    button.setAttribute("aria-expanded", "true");
    heading.focus();  // the details are right here, and a keyboard user continues in them
  }
  function shut() {
    if (!opened) return;
    opened.remove();
    opened = null;
    row.removeAttribute("aria-current");
    button.setAttribute("aria-expanded", "false");
  }
  button.addEventListener("click", (event) => { event.stopPropagation(); toggle(); });
  row.addEventListener("click", (event) => { if (!event.target.closest("button")) toggle(); });
  return { row, shut };
}

async function search(form, list, more, after = null) {
  let filter;
  const problem = form.querySelector("#date-problem");
  problem.textContent = "";
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  try {
    filter = filterOf(form);
  } catch (error) {
    if (!(error instanceof DateProblem)) throw error;
    problem.textContent = error.message;  // what was typed stays, to be corrected
    error.input.setAttribute("aria-invalid", "true");
    error.input.focus();
    return;
  }
  if (!after) { found = []; list.replaceChildren(); }
  announce("Searching the audit log…");
  try {
    const { data } = await gql(SEARCH, { filter, after });
    const result = data.auditEvents;
    found = found.concat(result.events);
    more.hidden = !result.hasNextPage;
    more.onclick = () => search(form, list, more, result.endCursor);
    showFound(form, list);
  } catch (error) {
    message(list, explain(error), "error");
    announce("The search failed.");
  }
}

function showFound(form, list) {
  const hide = form.elements.hideLists.checked;
  const shown = found.filter((e) => !(hide && isListSearch(e)));
  const hidden = found.length - shown.length;
  const count = `${shown.length} event${shown.length === 1 ? "" : "s"} found${hidden ? ` (${hidden} list search${hidden === 1 ? "" : "es"} hidden)` : ""}.`;
  announce(count);
  if (!shown.length) return message(list, hidden ? `No audit event matches besides ${hidden} hidden list search${hidden === 1 ? "" : "es"}.` : "No audit event matches.");
  const rows = [];
  const close = () => rows.forEach((r) => r.shut());
  for (const e of shown.slice().reverse()) rows.push(eventRow(e, close));
  list.replaceChildren(h("p", { class: "subtle", id: "found-count" }, count),
    h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": "Audit events found" },
      h("table", { id: "events", role: "table" }, h("thead", { role: "rowgroup" }, h("tr", { role: "row" },
        ...COLUMNS.map((t) => h("th", { scope: "col", role: "columnheader" }, t)))),
        h("tbody", { role: "rowgroup" }, ...rows.map((r) => r.row)))));
}

function searchForm() {
  const dates = h("div", { class: "row", id: "dates", hidden: true },
    h("label", {}, "From", h("input", { name: "since", placeholder: "1 Nov 2026", autocomplete: "off", "aria-describedby": "date-problem" })),
    h("label", {}, "Until (included)", h("input", { name: "until", placeholder: "30 Nov 2026", autocomplete: "off", "aria-describedby": "date-problem" })),
    h("p", { class: "identity-error hint", id: "date-problem", role: "alert" }));
  const periodSelect = h("select", { name: "period" },
    ...[["", "Any time"], ["today", "Today"], ["7", "Last 7 days"], ["30", "Last 30 days"], ["this-month", "This month"],
      ["last-month", "Last month"], ["dates", "Between dates…"]].map(([v, t]) => h("option", { value: v }, t)));
  periodSelect.addEventListener("change", () => { dates.hidden = periodSelect.value !== "dates"; });
  const categories = allCategories();
  const fields = categories.flatMap(([c]) => fieldsIn(c).sort());
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const form = h("form", { id: "audit-search" },
    h("div", { class: "row" },
      h("label", {}, "Customer ID", h("input", { name: "customerId", placeholder: "C-000001", autocomplete: "off" })),
      h("label", {}, "Caller (subject)", h("input", { name: "subject", placeholder: "consultant:K-001", autocomplete: "off" })),
      h("label", {}, "Data shown", h("select", { name: "data" }, h("option", { value: "" }, "Any data"),
        h("optgroup", { label: "Data categories" }, ...categories.map(([key, name]) => h("option", { value: `category:${key}` }, `${name} (${key})`))),
        h("optgroup", { label: "Single fields" }, ...fields.map((f) => h("option", { value: `field:${f}` }, f))))),
      h("label", {}, "Purpose", h("select", { name: "purpose" }, h("option", { value: "" }, "Any purpose"),
        ...PURPOSES.map((p) => h("option", { value: p }, purposeTitle(p))))),
      h("label", {}, "Period", periodSelect)),
    dates,
    h("div", { class: "row" },
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "hideLists" }), "Hide customer-list searches"),
      h("button", { type: "submit" }, "Search"),
      h("span", { class: "subtle hint" }, `Empty fields match everything. Times are shown in your time zone (${zone}).`)));
  return form;
}

function render() {
  const who = identity();
  if (!who) return message(page(), "Choose a compliance identity or paste a compliance token above.");
  if (who.role !== "compliance") return message(page(), "The audit log is for compliance officers: choose the compliance identity above.");
  const status = h("div", {});
  const list = h("div", { id: "found" }, h("p", { class: "state" }, "Search by customer, caller, data, purpose or period."));
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  const form = searchForm();
  form.addEventListener("submit", (event) => { event.preventDefault(); search(form, list, more); });
  form.elements.hideLists.addEventListener("change", () => { if (found.length) showFound(form, list); });
  const exports = h("div", { class: "row" },
    h("button", { type: "button", class: "secondary", id: "export-jsonl",
      onclick: () => download("audit-events.jsonl", "application/x-ndjson", found.map((e) => JSON.stringify(e)).join("\n") + "\n") }, "Export JSONL"),
    h("button", { type: "button", class: "secondary", id: "export-csv", onclick: () => download("audit-events.csv", "text/csv", csv(found)) }, "Export CSV"),
    h("span", { class: "subtle" }, "Exports every event found, with every detail. The signed, verifiable export is ", h("code", {}, "vcv audit export"), "."));
  page().replaceChildren(
    h("section", {}, h("h1", {}, "Audit log"), status, h("button", { type: "button", class: "secondary", onclick: () => chain(status) }, "Verify again")),
    h("section", { "aria-labelledby": "search-title" }, h("h2", { id: "search-title" }, "Search"), form, exports, list, more));
  chain(status);
}

window.addEventListener("vcv-identity", render);
loadWords()
  .then(() => identityBar(document.getElementById("identity")))
  .then(render);
