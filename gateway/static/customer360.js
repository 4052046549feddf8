// Customer 360: search the customers your identity may see, open one, and answer a consultant's first
// questions at a glance — who is this, what do they hold (active contracts first, terminated ones folded
// away, counts by partner and product, a picture of the portfolio), and what is hidden or missing and why.
import {
  ApiError, announce, badge, day, disclosure, explain, gql, h, identity, identityBar, loadWords, message, money,
  orgName, productName, readable, redactionIndex,
} from "./common.js";
import { portfolioChart } from "./chart.js";

const LIST = `query Customers($search: String) { customers(search: $search, first: 20) {
  edges { node { id givenName familyName segment } } } }`;

const VIEW = `query Customer360($id: ID!) { customer(id: $id) {
  id givenName familyName birthDate email phone segment
  address { street postalCode city country } consultant { id name }
  contracts { __typename contractId productType status startDate endDate partner { id name }
    ... on BankAccount { iban balance { amount currency } overdraftLimit { amount currency } interestRate
                         recentTransactions { bookingDate amount { amount currency } counterparty } }
    ... on Loan { principal { amount currency } outstanding { amount currency } interestRate maturityDate }
    ... on LifePolicy { sumInsured { amount currency } premium { amount currency } paymentFrequency beneficiaries
                        surrenderValue { amount currency } healthClass }
    ... on PropertyPolicy { kind premium { amount currency } deductible { amount currency } insuredObject
                            claims { claimId reportedOn amount { amount currency } status } }
    ... on Depot { marketValue { amount currency } riskProfile positions { isin name quantity value { amount currency } } }
  }
  portfolio { assets { amount currency } liabilities { amount currency } complete missingContracts } } }`;

const list = (items, show) => (items && items.length ? items.map(show).join("; ") : items ? "none" : null);
const rate = (r) => `${r} %`;
const FIELDS = {
  BankAccount: [["IBAN", "iban"], ["Balance", "balance", money], ["Overdraft limit", "overdraftLimit", money],
    ["Interest rate", "interestRate", rate],
    ["Recent transactions", "recentTransactions", (t) => list(t, (x) => `${day(x.bookingDate)} ${money(x.amount)} ${x.counterparty}`)]],
  Loan: [["Principal", "principal", money], ["Outstanding", "outstanding", money], ["Interest rate", "interestRate", rate],
    ["Maturity", "maturityDate", day]],
  LifePolicy: [["Sum insured", "sumInsured", money], ["Premium", "premium", money], ["Payment", "paymentFrequency"],
    ["Beneficiaries", "beneficiaries", (b) => list(b, (x) => x)], ["Surrender value", "surrenderValue", money],
    ["Health class", "healthClass"]],
  PropertyPolicy: [["Kind", "kind", readable], ["Premium", "premium", money], ["Deductible", "deductible", money],
    ["Insured object", "insuredObject"], ["Claims", "claims", (c) => list(c, (x) => `${day(x.reportedOn)} ${money(x.amount)} ${x.status}`)]],
  Depot: [["Market value", "marketValue", money], ["Risk profile", "riskProfile"],
    ["Positions", "positions", (p) => list(p, (x) => `${x.name} ×${x.quantity}: ${money(x.value)}`)]],
};
const MASTER = { id: "Customer ID", givenName: "First name", familyName: "Last name", birthDate: "Birth date",
  email: "Email", phone: "Phone", address: "Address", segment: "Segment", consultant: "Consultant" };
// A field as a person calls it: "Health class", from the `Type.field` the API reports.
function fieldLabel(field) {
  const [type, name] = field.split(".");
  if (type === "Customer") return MASTER[name] || readable(name);
  const known = (FIELDS[type] || []).find(([, key]) => key === name);
  return known ? known[0] : name === "contractId" ? "Contract number" : readable(name.replace(/([A-Z])/g, " $1"));
}

const FAILURE = {
  PARTNER_TIMEOUT: "did not answer in time",
  PARTNER_UNAVAILABLE: "could not be reached",
  PARTNER_CIRCUIT_OPEN: "has been failing, so it was not asked this time",
  PARTNER_BAD_RESPONSE: "sent an answer that could not be read",
};
const failure = (code) => FAILURE[code] || "did not answer";

const results = () => document.getElementById("results");
const panel = () => document.getElementById("customer");

// Only the latest search and the latest opened customer may paint: an older answer arriving late is dropped.
let searches = 0;
let opens = 0;

async function search(text) {
  const mine = ++searches;
  announce("Searching…");
  try {
    const { data } = await gql(LIST, { search: text || null });
    if (mine !== searches) return;
    const edges = data.customers.edges;
    if (!edges.length) {
      const none = text ? `No customer you may see matches “${text}”.` : "You may not see any customer.";
      message(results(), none);
      announce(none);
      return;
    }
    results().replaceChildren(h("ul", { class: "results", "aria-label": "Customers found" }, ...edges.map(({ node }) => h("li", {},
      h("button", { type: "button", "data-id": node.id, onclick: () => open(node.id) },
        h("strong", {}, [node.givenName, node.familyName].filter(Boolean).join(" ") || "(name hidden)"),
        h("span", { class: "subtle id" }, ` · ${node.id}${node.segment ? ` · ${readable(node.segment)}` : ""}`))))));
    markOpen(currentId);
    announce(`${edges.length} customer${edges.length === 1 ? "" : "s"} found.`);
  } catch (error) {
    if (mine === searches) { message(results(), explain(error), "error"); announce("The search failed."); }
  }
}

let currentId = null;
function markOpen(id) {
  document.querySelectorAll("ul.results button").forEach((b) => {
    if (b.dataset.id === id) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  });
}

function fieldRow(label, value, path, redactions, failed) {
  const redaction = redactions.get(path);
  const missing = value === null || value === undefined;
  const extra = redaction ? badge(redaction, label)
    : failed && missing ? disclosure("not answered", label, "unavailable",
      [`${orgName(failed.partner)} ${failure(failed.code)}, so this value is missing. Try again later.`]) : [];
  return [h("dt", {}, label), h("dd", { "data-path": path }, missing ? "—" : value, ...extra)];
}

function banners(errors) {
  const byPartner = new Map();
  for (const e of errors) {
    const ext = e.extensions || {};
    if (ext.partner && !byPartner.has(ext.partner)) byPartner.set(ext.partner, ext.code);
  }
  return [...byPartner].map(([partner, code]) => h("div", { class: "banner", "data-partner": partner, "data-code": code },
    h("strong", {}, `${orgName(partner)} ${failure(code)}.`),
    " Its contracts are listed from the customer master without their details; everything else is complete.",
    h("span", { class: "subtle" }, ` (code ${code})`)));
}

// "What is hidden here, and why": one line per field and rule, and one per partner that did not answer.
function hiddenSummary(redactions, failedPartners) {
  const byRule = new Map();
  for (const r of redactions) {
    const key = `${r.field}|${r.rule}`;
    if (!byRule.has(key)) byRule.set(key, { r, count: 0 });
    byRule.get(key).count += 1;
  }
  const items = [...byRule.values()].map(({ r, count }) => {
    const [button, why] = badge(r, fieldLabel(r.field));
    return h("li", { "data-field": r.field }, h("strong", {}, fieldLabel(r.field)),
      count > 1 ? ` (${count} times)` : "", button, why);
  });
  const failed = [...failedPartners].map(([partner, { code, contracts }]) => h("li", { "data-partner": partner },
    h("strong", {}, orgName(partner)), ` ${failure(code)}: ${contracts} contract${contracts === 1 ? "" : "s"} without details.`));
  if (!items.length && !failed.length) {
    return h("div", { class: "summary-box", id: "hidden-summary" }, h("h3", {}, "Nothing hidden"),
      h("p", { class: "subtle" }, "Every field was shown in full and every partner answered."));
  }
  return h("div", { class: "summary-box", id: "hidden-summary" },
    h("h3", {}, `Hidden or missing here: ${items.length} field${items.length === 1 ? "" : "s"}`,
      failed.length ? `, ${failed.length} partner${failed.length === 1 ? "" : "s"} not answering` : ""),
    h("ul", {}, ...failed, ...items));
}

const isTerminated = (c) => (c.status || "").toLowerCase() === "terminated";

function holdings(active, terminated) {
  const byPartner = new Map();
  for (const c of active) {
    const p = byPartner.get(c.partner.name) || new Map();
    p.set(c.productType, (p.get(c.productType) || 0) + 1);
    byPartner.set(c.partner.name, p);
  }
  return h("div", { id: "holdings" },
    h("h3", {}, `Holds ${active.length} current contract${active.length === 1 ? "" : "s"}`,
      terminated.length ? h("span", { class: "subtle" }, ` and ${terminated.length} terminated`) : ""),
    active.length ? h("ul", { class: "plain" }, ...[...byPartner].map(([partner, products]) => h("li", {},
      h("strong", {}, partner), ": ",
      [...products].map(([type, n]) => `${n} × ${productName(type)}`).join(", ")))) : h("p", { class: "state" }, "No current contracts you may see."));
}

function contractBlock(c, i, p, r, failedAt) {
  return h("div", { class: "contract", "data-contract": c.contractId, "data-status": c.status || "" },
    h("h5", {}, productName(c.productType), " ", h("span", { class: "subtle id" }, c.contractId)),
    h("p", { class: "subtle" }, `${readable(c.status || "status unknown")} · since ${day(c.startDate) || "—"}`,
      c.endDate ? ` · ended ${day(c.endDate)}` : ""),
    h("dl", { class: "fields" }, ...(FIELDS[c.__typename] || []).flatMap(([label, key, format]) => {
      const path = p("contracts", i, key);
      const raw = c[key];
      return fieldRow(label, raw === null || raw === undefined ? null : format ? format(raw) : raw, path, r, failedAt.get(path));
    })));
}

function render(customer, errors, redactions) {
  const r = redactionIndex(redactions);
  const failedAt = new Map(errors.filter((e) => e.path).map((e) => [e.path.join("."), e.extensions || {}]));
  const other = errors.filter((e) => !(e.extensions || {}).partner);
  const p = (...parts) => ["customer", ...parts].join(".");
  const address = customer.address && [customer.address.street, customer.address.postalCode, customer.address.city, customer.address.country].filter(Boolean).join(", ");
  const master = h("dl", { class: "fields" },
    ...fieldRow("Customer ID", customer.id, p("id"), r),
    ...fieldRow("Birth date", day(customer.birthDate), p("birthDate"), r),
    ...fieldRow("Email", customer.email, p("email"), r),
    ...fieldRow("Phone", customer.phone, p("phone"), r),
    ...fieldRow("Address", address || null, p("address"), r),
    ...fieldRow("Segment", customer.segment && readable(customer.segment), p("segment"), r),
    ...fieldRow("Consultant", customer.consultant && `${customer.consultant.name || ""} (${customer.consultant.id})`, p("consultant"), r));

  const indexed = customer.contracts.map((c, i) => [c, i]);
  const active = indexed.filter(([c]) => !isTerminated(c));
  const terminated = indexed.filter(([c]) => isTerminated(c));
  const failedPartners = new Map();
  for (const e of errors) {
    const ext = e.extensions || {};
    if (ext.partner && !failedPartners.has(ext.partner)) {
      failedPartners.set(ext.partner, { code: ext.code,
        contracts: customer.contracts.filter((c) => c.partner.id === ext.partner).length });
    }
  }

  const groups = new Map();
  for (const [c, i] of active) {
    if (!groups.has(c.partner.name)) groups.set(c.partner.name, []);
    groups.get(c.partner.name).push([c, i]);
  }
  const contracts = [...groups].map(([partner, items]) => h("div", { class: "partner", "data-partner-name": partner },
    h("h4", {}, `${partner} · ${items.length} contract${items.length === 1 ? "" : "s"}`),
    ...items.map(([c, i]) => contractBlock(c, i, p, r, failedAt))));
  const folded = terminated.length ? h("details", { class: "folded", id: "terminated" },
    h("summary", {}, `Terminated contracts (${terminated.length})`),
    ...terminated.map(([c, i]) => contractBlock(c, i, p, r, failedAt))) : null;

  const portfolio = customer.portfolio;
  let totals = null;
  if (portfolio) {
    const incomplete = portfolio.complete ? [] : disclosure("incomplete", "Portfolio totals", "incomplete",
      [`Not included, because their value is hidden from you or their partner did not answer: ${portfolio.missingContracts.join(", ")}.`]);
    totals = h("div", { id: "portfolio" },
      h("h3", {}, "Portfolio", ...incomplete.slice(0, 1)), ...incomplete.slice(1),
      h("div", { class: "totals" },
        h("div", {}, h("div", { class: "subtle" }, "Assets"), h("strong", {}, portfolio.assets.map(money).join(" + ") || "0")),
        h("div", {}, h("div", { class: "subtle" }, "Liabilities"), h("strong", {}, portfolio.liabilities.map(money).join(" + ") || "0"))),
      portfolioChart(active.map(([c, i]) => ({ contract: c, index: i })), r, failedAt, p));
  }

  const name = [customer.givenName, customer.familyName].filter(Boolean).join(" ") || "(name hidden)";
  const nameBadge = r.get(p("givenName")) ? badge(r.get(p("givenName")), "Name") : [];
  const heading = h("h2", { tabindex: "-1", id: "customer-name", class: "customer-name" }, name, ...nameBadge.slice(0, 1));
  panel().replaceChildren(
    heading, ...nameBadge.slice(1),
    h("p", { class: "subtle id" }, [customer.id, customer.segment && readable(customer.segment),
      customer.consultant && `consultant ${customer.consultant.name || customer.consultant.id}`].filter(Boolean).join(" · ")),
    ...banners(errors),
    ...other.map((e) => h("div", { class: "banner bad" }, explain(new ApiError([e], 200)))),
    hiddenSummary(redactions, failedPartners),
    holdings(active.map(([c]) => c), terminated.map(([c]) => c)),
    totals,
    h("h3", {}, "Personal details"),
    master,
    h("h3", {}, "Contracts"),
    ...(contracts.length ? contracts : [h("p", { class: "state" }, "No current contracts you may see.")]),
    folded);
  return heading;
}

async function open(id) {
  currentId = id;
  markOpen(id);
  const mine = ++opens;
  announce("Loading the customer from every partner…");
  try {
    const { data, errors, redactions } = await gql(VIEW, { id });
    if (mine !== opens) return;
    if (!data.customer) throw new ApiError(errors.length ? errors : [{ message: "not found", extensions: { code: "CUSTOMER_NOT_FOUND" } }], 200);
    const heading = render(data.customer, errors, redactions);
    announce(`Opened ${heading.firstChild.textContent}.`);
    heading.focus();  // the answer is here now: a keyboard or screen reader user continues from its top
  } catch (error) {
    if (mine === opens) {
      message(panel(), explain(error), "error");
      announce("The customer could not be opened.");
    }
  }
}

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("search-text").value.trim();
  // An ID as you are shown it (C-… for the alliance, PSN-… for partners) opens that customer directly.
  if (/^(C|PSN)-[A-Za-z0-9]+$/.test(text)) open(text);
  else search(text);
});
window.addEventListener("vcv-identity", () => {
  currentId = null;
  message(panel(), "No customer open.");
  if (identity()) search("");
});
loadWords()
  .then(() => identityBar(document.getElementById("identity")))
  .then(() => { if (identity()) search(""); });
