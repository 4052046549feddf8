// Compliance: is the audit chain intact; search events by customer, caller and time; an event's details
// (partners called, fields shown and withheld with their rules); export what was found.
import { download, explain, gql, h, identity, identityBar, message } from "./common.js";

const CHAIN = `query Chain { auditChain { intact events checkpoints brokenAt reason summary } }`;
const SEARCH = `query Events($filter: AuditFilter, $after: String) { auditEvents(filter: $filter, first: 50, after: $after) {
  events { seq time requestId caller { subject role organisation } purpose operationName operationHash customers
           partners { partner contracts outcome latencyMs } fieldsShown
           fieldsWithheld { path field owner treatment rule } errors outcome }
  endCursor hasNextPage } }`;

const page = () => document.getElementById("page");
const when = (t) => new Date(t).toLocaleString("en-GB");
let found = [];

async function chain(container) {
  message(container, "Verifying the audit chain…");
  try {
    const { data } = await gql(CHAIN);
    const c = data.auditChain;
    container.replaceChildren(h("div", { class: `banner ${c.intact ? "ok" : "bad"}`, role: "status", id: "chain-status" },
      // Not intact and not broken: the gateway holds no key to check signatures with, so nothing is proven.
      h("strong", {}, c.intact ? "Audit chain intact" : c.brokenAt === null ? "Audit chain UNSIGNED" : "Audit chain BROKEN"),
      ` — ${c.summary}`));
  } catch (error) {
    message(container, explain(error), "error");
  }
}

function localToIso(value) {
  return value ? new Date(value).toISOString() : null;
}

function details(event) {
  return h("div", { id: "event-details" },
    h("h2", {}, `Event ${event.seq} · ${event.outcome}`),
    h("dl", { class: "fields" },
      h("dt", {}, "Request"), h("dd", {}, event.requestId),
      h("dt", {}, "Caller"), h("dd", {}, `${event.caller.subject || "—"} (${event.caller.role || "—"}, ${event.caller.organisation || "—"})`),
      h("dt", {}, "Purpose"), h("dd", {}, event.purpose || "—"),
      h("dt", {}, "Operation"), h("dd", {}, event.operationName || "(unnamed)", " ", h("code", {}, (event.operationHash || "").slice(0, 16))),
      h("dt", {}, "Customers"), h("dd", {}, event.customers.join(", ") || "—"),
      h("dt", {}, "Errors"), h("dd", {}, event.errors.join(", ") || "none")),
    h("h3", {}, "Partners called"),
    event.partners.length ? h("table", {}, h("thead", {}, h("tr", {}, ...["Partner", "Contracts", "Outcome", "Latency"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...event.partners.map((p) => h("tr", {}, h("td", {}, p.partner), h("td", {}, p.contracts), h("td", {}, p.outcome), h("td", {}, `${p.latencyMs} ms`)))))
      : h("p", { class: "state" }, "No partner was called."),
    h("h3", {}, `Fields withheld or changed (${event.fieldsWithheld.length})`),
    event.fieldsWithheld.length ? h("table", {}, h("thead", {}, h("tr", {}, ...["Path", "Field", "Treatment", "Rule"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...event.fieldsWithheld.map((w) => h("tr", {}, h("td", {}, w.path), h("td", {}, w.field), h("td", {}, w.treatment), h("td", {}, w.rule)))))
      : h("p", { class: "state" }, "Nothing was withheld."),
    h("h3", {}, `Fields shown (${event.fieldsShown.length})`),
    h("p", { class: "subtle" }, event.fieldsShown.join(", ") || "none"));
}

function csv(events) {
  // A cell a spreadsheet would run as a formula (=, +, -, @) is kept as text: audit data must not execute.
  const quote = (v) => {
    const text = String(v ?? "");
    return `"${(/^[=+\-@\t\r]/.test(text) ? `'${text}` : text).replace(/"/g, '""')}"`;
  };
  const header = ["seq", "time", "request_id", "subject", "role", "organisation", "purpose", "outcome", "customers", "partners", "errors", "withheld"];
  const rows = events.map((e) => [e.seq, e.time, e.requestId, e.caller.subject, e.caller.role, e.caller.organisation, e.purpose,
    e.outcome, e.customers.join(" "), e.partners.map((p) => `${p.partner}:${p.outcome}`).join(" "), e.errors.join(" "),
    e.fieldsWithheld.map((w) => `${w.field}:${w.rule}`).join(" ")].map(quote).join(","));
  return [header.join(","), ...rows].join("\r\n") + "\r\n";
}

async function search(form, list, detail, more, after = null) {
  const value = (name) => form.elements[name].value.trim() || null;
  const filter = { customerId: value("customerId"), subject: value("subject"),
    since: localToIso(value("since")), until: localToIso(value("until")) };
  if (!after) { found = []; message(list, "Searching the audit log…"); detail.replaceChildren(); }
  try {
    const { data } = await gql(SEARCH, { filter, after });
    const page = data.auditEvents;
    found = found.concat(page.events);
    more.hidden = !page.hasNextPage;
    more.onclick = () => search(form, list, detail, more, page.endCursor);
    if (!found.length) return message(list, "No audit event matches.");
    list.replaceChildren(h("p", { class: "subtle", id: "found-count" }, `${found.length} event${found.length === 1 ? "" : "s"} found`),
      h("table", { id: "events" }, h("thead", {}, h("tr", {}, ...["#", "Time", "Caller", "Purpose", "Customers", "Partners", "Outcome"].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...found.slice().reverse().map((e) => {
          const row = h("tr", { class: "clickable", "data-request": e.requestId, tabindex: 0 },
            h("td", {}, e.seq), h("td", {}, when(e.time)), h("td", {}, e.caller.subject || e.caller.role || "—"), h("td", {}, e.purpose || "—"),
            h("td", {}, e.customers.join(", ") || "—"), h("td", {}, e.partners.map((p) => `${p.partner} ${p.outcome}`).join(", ") || "—"), h("td", {}, e.outcome));
          const show = () => { list.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected")); row.classList.add("selected"); detail.replaceChildren(details(e)); };
          row.addEventListener("click", show);
          row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") show(); });
          return row;
        }))));
  } catch (error) {
    message(list, explain(error), "error");
  }
}

function render() {
  const who = identity();
  if (!who) return message(page(), "Choose a compliance identity or paste a compliance token above.");
  if (who.role !== "compliance") return message(page(), "The audit log is for compliance officers: choose the compliance identity above.");
  const status = h("div", {});
  const list = h("div", {}, h("p", { class: "state" }, "Search by customer, caller or time; empty fields match everything."));
  const detail = h("div", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  const form = h("form", { class: "row", id: "audit-search" },
    h("label", {}, "Customer ID", h("input", { name: "customerId", placeholder: "C-000001" })),
    h("label", {}, "Caller (subject)", h("input", { name: "subject", placeholder: "consultant:K-001" })),
    h("label", {}, "Since", h("input", { name: "since", type: "datetime-local" })),
    h("label", {}, "Until", h("input", { name: "until", type: "datetime-local" })),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => { event.preventDefault(); search(form, list, detail, more); });
  const exports = h("div", { class: "row" },
    h("button", { type: "button", class: "secondary", id: "export-jsonl",
      onclick: () => download("audit-events.jsonl", "application/x-ndjson", found.map((e) => JSON.stringify(e)).join("\n") + "\n") }, "Export JSONL"),
    h("button", { type: "button", class: "secondary", id: "export-csv", onclick: () => download("audit-events.csv", "text/csv", csv(found)) }, "Export CSV"),
    h("span", { class: "subtle" }, "Exports the events found, with every detail. The signed, verifiable export is `vcv audit export`."));
  page().replaceChildren(
    h("section", {}, h("h1", {}, "Audit log"), status, h("button", { type: "button", class: "secondary", onclick: () => chain(status) }, "Verify again")),
    h("section", {}, h("h2", {}, "Search"), form, exports, list, more),
    h("section", {}, detail));
  chain(status);
}

window.addEventListener("vcv-identity", render);
identityBar(document.getElementById("identity")).then(render);
