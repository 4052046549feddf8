// Self-service: a customer's own contracts, who accessed their data and why, and their consents — each a
// switch that calls setConsent, effective for partners from their very next request.
import { explain, gql, h, identity, identityBar, message } from "./common.js";

const ME = `query Me { me { id givenName familyName
  consents { purpose grantedAt withdrawnAt active }
  contracts { contractId productType status startDate partner { name } } } }`;
const ACCESS = `query Access($id: ID!) { accessLog(customerId: $id, first: 100) { events { time organisation purpose dataShown } } }`;
const SET = `mutation SetConsent($purpose: String!, $granted: Boolean!) { setConsent(purpose: $purpose, granted: $granted) { purpose active } }`;

const PURPOSES = {
  advisory: "Your relationship manager may use the alliance's data about you to advise you.",
  lead_management: "Alliance partners may see a summary of your contracts (rounded, without account numbers) to offer you products.",
  self_service: "You can see your own data here.",
};

const page = () => document.getElementById("page");
const when = (t) => (t ? new Date(t).toLocaleString("en-GB") : "—");

function consentSwitch(purpose, consent, onChange) {
  const input = h("input", { type: "checkbox", id: `consent-${purpose}`, checked: consent && consent.active ? true : null,
    role: "switch", "aria-checked": consent && consent.active ? "true" : "false" });
  input.addEventListener("change", () => onChange(purpose, input.checked, input));
  return h("div", { class: "switch" }, input,
    h("label", { for: `consent-${purpose}` }, h("strong", {}, purpose), h("div", { class: "subtle" }, PURPOSES[purpose] || "")),
    h("span", { class: "subtle", id: `consent-state-${purpose}` },
      consent ? (consent.active ? `granted ${when(consent.grantedAt)}` : `withdrawn ${when(consent.withdrawnAt)}`) : "never given"));
}

async function load() {
  const who = identity();
  if (!who) return message(page(), "Choose your (customer) identity or paste your token above.");
  if (who.role !== "customer") return message(page(), "Self-service is for customers: choose a customer identity above.");
  message(page(), "Loading your data…");
  try {
    const { data } = await gql(ME);
    const me = data.me;
    if (!me) return message(page(), "No customer record belongs to this token.", "error");
    const access = await gql(ACCESS, { id: me.id });
    render(me, access.data.accessLog.events);
  } catch (error) {
    message(page(), explain(error), "error");
  }
}

function render(me, events) {
  const notice = h("div", { id: "consent-notice" });
  async function change(purpose, granted, input) {
    input.disabled = true;
    try {
      await gql(SET, { purpose, granted });
      await load();  // shows the consent as the master now records it
      document.getElementById("consent-notice").replaceChildren(h("div", { class: "banner ok", role: "status" }, granted
        ? `Consent for ${purpose} granted.` : `Consent for ${purpose} withdrawn: partners no longer see what it allowed, from their next request.`));
    } catch (error) {
      input.checked = !granted;
      input.disabled = false;
      notice.replaceChildren(h("div", { class: "banner bad", role: "alert" }, explain(error)));
    }
  }
  // The master keeps every consent ever given; one switch per purpose shows the one in force, else the latest.
  const consents = new Map();
  for (const c of me.consents || []) {
    const seen = consents.get(c.purpose);
    if (!seen || (c.active && !seen.active) || (c.active === seen.active && c.grantedAt > seen.grantedAt)) consents.set(c.purpose, c);
  }
  const purposes = [...new Set([...Object.keys(PURPOSES), ...consents.keys()])];
  page().replaceChildren(
    h("section", {}, h("h1", {}, `Hello ${[me.givenName, me.familyName].filter(Boolean).join(" ")}`),
      h("p", { class: "subtle" }, `Customer ${me.id}`)),
    h("section", { id: "consents" }, h("h2", {}, "My consents"), notice,
      ...purposes.map((p) => consentSwitch(p, consents.get(p), change))),
    h("section", { id: "contracts" }, h("h2", {}, "My contracts"),
      me.contracts.length ? h("table", {}, h("thead", {}, h("tr", {}, ...["Contract", "Product", "Partner", "Status", "Since"].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...me.contracts.map((c) => h("tr", {}, h("td", {}, c.contractId), h("td", {}, c.productType),
          h("td", {}, c.partner.name), h("td", {}, c.status || "—"), h("td", {}, c.startDate || "—")))))
        : h("p", { class: "state" }, "You have no contracts with the alliance.")),
    h("section", { id: "access" }, h("h2", {}, "Who accessed my data, and why"),
      events.length ? h("table", {}, h("thead", {}, h("tr", {}, ...["When", "Who", "Purpose", "Data shown"].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...events.slice().reverse().map((e) => h("tr", {}, h("td", {}, when(e.time)), h("td", {}, e.organisation),
          h("td", {}, e.purpose), h("td", {}, e.dataShown.join(", ") || "—")))))
        : h("p", { class: "state" }, "Nobody else has accessed your data yet.")));
}

window.addEventListener("vcv-identity", load);
identityBar(document.getElementById("identity")).then(load);
