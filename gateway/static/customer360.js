// Customer 360: search the customers your identity may see, open one, and see master data, contracts by
// partner and portfolio totals — with a badge on every field an agreement hid or changed, and a banner for
// every partner that did not answer.
import { ApiError, badge, explain, gql, h, identity, identityBar, message, money, redactionIndex } from "./common.js";

const LIST = `query Customers($search: String) { customers(search: $search, first: 20) {
  edges { node { id givenName familyName segment } } } }`;

const VIEW = `query Customer360($id: ID!) { customer(id: $id) {
  id givenName familyName birthDate email phone segment
  address { street postalCode city country } consultant { id name }
  contracts { __typename contractId productType status startDate partner { id name }
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
const FIELDS = {
  BankAccount: [["IBAN", "iban"], ["Balance", "balance", money], ["Overdraft limit", "overdraftLimit", money],
    ["Interest rate", "interestRate", (r) => `${r} %`],
    ["Recent transactions", "recentTransactions", (t) => list(t, (x) => `${x.bookingDate} ${money(x.amount)} ${x.counterparty}`)]],
  Loan: [["Principal", "principal", money], ["Outstanding", "outstanding", money], ["Interest rate", "interestRate", (r) => `${r} %`],
    ["Maturity", "maturityDate"]],
  LifePolicy: [["Sum insured", "sumInsured", money], ["Premium", "premium", money], ["Payment", "paymentFrequency"],
    ["Beneficiaries", "beneficiaries", (b) => list(b, (x) => x)], ["Surrender value", "surrenderValue", money],
    ["Health class", "healthClass"]],
  PropertyPolicy: [["Kind", "kind"], ["Premium", "premium", money], ["Deductible", "deductible", money],
    ["Insured object", "insuredObject"], ["Claims", "claims", (c) => list(c, (x) => `${x.reportedOn} ${money(x.amount)} ${x.status}`)]],
  Depot: [["Market value", "marketValue", money], ["Risk profile", "riskProfile"],
    ["Positions", "positions", (p) => list(p, (x) => `${x.name} ×${x.quantity}: ${money(x.value)}`)]],
};

const results = () => document.getElementById("results");
const panel = () => document.getElementById("customer");

// Only the latest search and the latest opened customer may paint: an older answer arriving late is dropped.
let searches = 0;
let opens = 0;

async function search(text) {
  const mine = ++searches;
  message(results(), "Searching…");
  try {
    const { data } = await gql(LIST, { search: text || null });
    if (mine !== searches) return;
    const edges = data.customers.edges;
    if (!edges.length) {
      message(results(), text ? `No customer you may see matches “${text}”.` : "You may not see any customer.");
      return;
    }
    results().replaceChildren(h("ul", { class: "results" }, ...edges.map(({ node }) => h("li", {},
      h("button", { type: "button", "data-id": node.id, onclick: () => open(node.id) },
        h("strong", {}, [node.givenName, node.familyName].filter(Boolean).join(" ") || "(name hidden)"),
        h("div", { class: "subtle" }, `${node.id}${node.segment ? ` · ${node.segment}` : ""}`))))));
  } catch (error) {
    if (mine === searches) message(results(), explain(error), "error");
  }
}

function fieldRow(label, value, path, redactions, failed) {
  const redaction = redactions.get(path);
  const shown = value === null || value === undefined ? (redaction ? "—" : failed ? "unavailable" : "—") : value;
  return [h("dt", {}, label), h("dd", { "data-path": path }, shown, redaction ? badge(redaction) : null,
    !redaction && failed && (value === null || value === undefined) ? h("span", { class: "badge unavailable", title: failed }, "not answered") : null)];
}

function banners(errors) {
  const byPartner = new Map();
  for (const e of errors) {
    const ext = e.extensions || {};
    if (ext.partner && !byPartner.has(ext.partner)) byPartner.set(ext.partner, ext.code);
  }
  return [...byPartner].map(([partner, code]) => h("div", { class: "banner", role: "alert", "data-partner": partner },
    h("strong", {}, `${partner}: ${code}`), ` — this partner did not answer in full; its contracts are listed `,
    "from the customer master and their details are missing below. Everything else is complete."));
}

function render(customer, errors, redactions) {
  const r = redactionIndex(redactions);
  const failedAt = new Map(errors.filter((e) => e.path).map((e) => [e.path.join("."), (e.extensions || {}).code]));
  const other = errors.filter((e) => !(e.extensions || {}).partner);
  const p = (...parts) => ["customer", ...parts].join(".");
  const address = customer.address && [customer.address.street, customer.address.postalCode, customer.address.city, customer.address.country].filter(Boolean).join(", ");
  const master = h("dl", { class: "fields" },
    ...fieldRow("Customer ID", customer.id, p("id"), r),
    ...fieldRow("Birth date", customer.birthDate, p("birthDate"), r),
    ...fieldRow("Email", customer.email, p("email"), r),
    ...fieldRow("Phone", customer.phone, p("phone"), r),
    ...fieldRow("Address", address || null, p("address"), r),
    ...fieldRow("Segment", customer.segment, p("segment"), r),
    ...fieldRow("Consultant", customer.consultant && `${customer.consultant.name || ""} (${customer.consultant.id})`, p("consultant"), r));

  const groups = new Map();
  customer.contracts.forEach((contract, index) => {
    const key = contract.partner.name;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push([contract, index]);
  });
  const contracts = [...groups].map(([partner, items]) => h("div", { class: "partner", "data-partner-name": partner },
    h("h3", {}, `${partner} · ${items.length} contract${items.length === 1 ? "" : "s"}`),
    ...items.map(([c, i]) => h("div", { class: "contract", "data-contract": c.contractId },
      h("strong", {}, `${c.contractId} · ${c.productType}`), h("span", { class: "subtle" }, ` ${c.status || ""} since ${c.startDate || "—"}`),
      h("dl", { class: "fields" }, ...(FIELDS[c.__typename] || []).flatMap(([label, key, format]) => {
        const path = p("contracts", i, key);
        const raw = c[key];
        return fieldRow(label, raw === null || raw === undefined ? null : format ? format(raw) : raw, path, r, failedAt.get(path));
      }))))));

  const portfolio = customer.portfolio;
  const totals = portfolio && h("div", {},
    h("h2", {}, "Portfolio", portfolio.complete ? null : h("span", { class: "badge incomplete", title: "Some contracts could not be valued" }, "incomplete")),
    h("div", { class: "totals" },
      h("div", {}, h("div", { class: "subtle" }, "Assets"), h("strong", {}, portfolio.assets.map(money).join(" + ") || "0")),
      h("div", {}, h("div", { class: "subtle" }, "Liabilities"), h("strong", {}, portfolio.liabilities.map(money).join(" + ") || "0"))),
    portfolio.complete ? null : h("p", { class: "subtle" }, `Not included: ${portfolio.missingContracts.join(", ")}`));

  panel().replaceChildren(
    h("h1", {}, [customer.givenName, customer.familyName].filter(Boolean).join(" ") || "(name hidden)",
      r.get(p("givenName")) ? badge(r.get(p("givenName"))) : null),
    ...banners(errors),
    ...other.map((e) => h("div", { class: "banner bad", role: "alert" }, `${(e.extensions || {}).code}: ${e.message}`)),
    master,
    totals,
    h("h2", {}, "Contracts"),
    ...(contracts.length ? contracts : [h("p", { class: "state" }, "No contracts you may see.")]),
    h("p", { class: "subtle" }, `${redactions.length} field${redactions.length === 1 ? "" : "s"} withheld or changed by data-sharing agreements; hover a badge for the rule.`));
}

async function open(id) {
  document.querySelectorAll("ul.results button").forEach((b) => b.classList.toggle("open", b.dataset.id === id));
  const mine = ++opens;
  message(panel(), "Loading the customer from every partner…");
  try {
    const { data, errors, redactions } = await gql(VIEW, { id });
    if (mine !== opens) return;
    if (!data.customer) throw new ApiError(errors.length ? errors : [{ message: "not found", extensions: { code: "CUSTOMER_NOT_FOUND" } }], 200);
    render(data.customer, errors, redactions);
  } catch (error) {
    if (mine === opens) message(panel(), explain(error), "error");
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
  message(panel(), "No customer open.");
  if (identity()) search("");
});
identityBar(document.getElementById("identity")).then(() => { if (identity()) search(""); });
