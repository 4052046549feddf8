// Self-service, in the customer's words: what the alliance holds about me, who looked at it and why, and my
// consents — each a switch that calls setConsent, effective for partners from their very next request.
// No internal keys, no schema paths, no staff controls: purposes, products, organisations and data are named
// as a customer would name them (/vocabulary.json), and dates are in one format with the time zone.
import {
  announce, categoriesOf, download, categoryName, day, explain, gql, h, identity, identityBar, loadWords, message, moment,
  orgName, productName, purposeText, purposeTitle, readable,
} from "./common.js";

const ME = `query Me { me { id givenName familyName birthDate email phone address { street postalCode city country }
  consents { purpose grantedAt withdrawnAt active }
  contracts { contractId productType status startDate endDate partner { id name } } } }`;
const CONSENTS = `query Consents { me { consents { purpose grantedAt withdrawnAt active } } }`;
const ACCESS = `query Access($id: ID!) { accessLog(customerId: $id, first: 100) { events { time organisation purpose dataShown consentChanges { purpose after } } hasNextPage } }`;
const EXPORT = `query Export { dataExport { fileName complete document } }`;
const SET = `mutation SetConsent($purpose: String!, $granted: Boolean!) { setConsent(purpose: $purpose, granted: $granted) { purpose active } }`;

// Purposes a customer decides on. Their own view (self_service) is how they are reading this page, and
// audits are a legal duty, not a choice: neither is offered as a switch.
const CONSENTABLE = ["advisory", "lead_management"];
const NOT_A_CHOICE = new Set(["self_service", "audit"]);

const page = () => document.getElementById("page");

// A consent recorded at midnight carries a date, not a moment: "00:00:00" is noise to a customer.
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0 ? day(t) : moment(t);
}

function inForce(consents) {
  // The master keeps every consent ever given; one switch per purpose shows the one in force, else the latest.
  const byPurpose = new Map();
  for (const c of consents || []) {
    const seen = byPurpose.get(c.purpose);
    if (!seen || (c.active && !seen.active) || (c.active === seen.active && c.grantedAt > seen.grantedAt)) byPurpose.set(c.purpose, c);
  }
  return byPurpose;
}

const stateText = (consent) => (consent ? (consent.active ? `Given on ${when(consent.grantedAt)}` : `Withdrawn on ${when(consent.withdrawnAt)}`) : "Not given");

function consentSwitch(purpose, consent, onChange) {
  const input = h("input", { type: "checkbox", id: `consent-${purpose}`, checked: consent && consent.active ? true : null,
    "aria-describedby": `consent-text-${purpose} consent-state-${purpose}` });
  input.addEventListener("change", () => onChange(purpose, input.checked, input));
  return h("div", { class: "switch" }, input,
    h("label", { for: `consent-${purpose}` }, h("strong", {}, purposeTitle(purpose)),
      h("span", { class: "subtle", id: `consent-text-${purpose}` }, " — ", purposeText(purpose))),
    h("span", { class: "subtle", id: `consent-state-${purpose}` }, stateText(consent)));
}

async function load() {
  const who = identity();
  if (!who) return message(page(), "Choose your identity above to see your data.");
  if (who.role !== "customer") return message(page(), "This page is for customers: choose a customer identity above.");
  message(page(), "Loading your data…");
  announce("Loading your data…");
  try {
    const { data } = await gql(ME);
    const me = data.me;
    if (!me) return message(page(), "No customer record belongs to this sign-in.", "error");
    const access = await gql(ACCESS, { id: me.id });
    render(me, access.data.accessLog);
    announce("Your data is shown.");
  } catch (error) {
    message(page(), explain(error), "error");
    announce("Your data could not be loaded.");
  }
}

function holdingsSection(me) {
  const active = me.contracts.filter((c) => (c.status || "").toLowerCase() !== "terminated");
  const ended = me.contracts.filter((c) => (c.status || "").toLowerCase() === "terminated");
  const partners = new Set(active.map((c) => c.partner.id));
  const address = me.address && [me.address.street, me.address.postalCode, me.address.city, me.address.country].filter(Boolean).join(", ");
  const card = (c) => h("li", { "data-contract": c.contractId },
    h("strong", {}, productName(c.productType)), h("div", {}, c.partner.name),
    h("div", { class: "subtle" }, `${readable(c.status || "status unknown")} · since ${day(c.startDate) || "—"}`,
      c.endDate ? ` · ended ${day(c.endDate)}` : ""),
    h("div", { class: "subtle id" }, `Contract number ${c.contractId}`));
  return h("section", { id: "contracts", "aria-labelledby": "contracts-title" },
    h("h2", { id: "contracts-title" }, "What the alliance holds about you"),
    h("p", {}, active.length
      ? `${active.length} current contract${active.length === 1 ? "" : "s"} with ${partners.size} partner${partners.size === 1 ? "" : "s"}, and your personal details with your relationship manager.`
      : "No current contracts; your personal details are kept by your relationship manager."),
    h("h3", {}, "Your personal details"),
    h("dl", { class: "fields" },
      h("dt", {}, "Name"), h("dd", {}, [me.givenName, me.familyName].filter(Boolean).join(" ") || "—"),
      h("dt", {}, "Date of birth"), h("dd", {}, day(me.birthDate) || "—"),
      h("dt", {}, "Email"), h("dd", {}, me.email || "—"),
      h("dt", {}, "Phone"), h("dd", {}, me.phone || "—"),
      h("dt", {}, "Address"), h("dd", {}, address || "—")),
    h("h3", {}, "Your contracts"),
    active.length ? h("ul", { class: "cards" }, ...active.map(card)) : h("p", { class: "state" }, "You have no current contracts with the alliance."),
    ended.length ? h("details", { class: "folded" }, h("summary", {}, `Ended contracts (${ended.length})`), h("ul", { class: "cards" }, ...ended.map(card))) : null,
    h("p", {}, h("button", { type: "button", id: "download-my-data", class: "secondary", onclick: downloadMyData }, "Download my data"),
      h("span", { class: "subtle" }, " — everything above, your consents and who looked at your data, as one file (JSON).")));
}

// GDPR Art. 15/20: the whole record as one machine-readable file; focus stays on the button.
async function downloadMyData() {
  announce("Preparing your data…");
  try {
    const { data } = await gql(EXPORT);
    const e = data.dataExport;
    download(e.fileName, "application/json", JSON.stringify(e.document, null, 2));
    announce(e.complete ? "Your data was downloaded." : "Your data was downloaded; a partner did not answer, and the file says which.");
  } catch (error) {
    announce(explain(error));
  }
}

function accessSection(log) {
  const events = log.events.slice().reverse();
  const byOrg = new Map();
  for (const e of events) byOrg.set(e.organisation, (byOrg.get(e.organisation) || 0) + 1);
  return h("section", { id: "access", "aria-labelledby": "access-title" },
    h("h2", { id: "access-title" }, "Who looked at your data, and why"),
    events.length ? [
      h("p", {}, [...byOrg].map(([org, n]) => `${orgName(org)}: ${n} time${n === 1 ? "" : "s"}`).join(" · "),
        log.hasNextPage ? " (the latest 100 are listed)" : ""),
      h("ul", { class: "plain", id: "access-list" }, ...events.map((e) => {
        const data = categoriesOf(e.dataShown).map(categoryName);
        return h("li", {}, h("strong", {}, orgName(e.organisation)), ` — for ${purposeTitle(e.purpose).toLowerCase()}`,
          h("div", { class: "subtle" }, moment(e.time)),
          h("div", {}, data.length ? `Saw: ${data.join(", ")}` : "Saw no personal data"),
          ...(e.consentChanges || []).map((c) => h("div", { class: "consent-change" },
            `Changed your consent “${purposeTitle(c.purpose)}”: now ${c.after === "granted" ? "given" : "not given"}`)));
      }))]
      : h("p", { class: "state" }, "Nobody else has looked at your data yet."));
}

function render(me, log) {
  const notice = h("div", { id: "consent-notice", role: "status" });
  let consents = inForce(me.consents);
  async function change(purpose, granted, input) {
    input.disabled = true;
    notice.replaceChildren();
    try {
      await gql(SET, { purpose, granted });
      const { data } = await gql(CONSENTS);  // the consent as the master now records it
      consents = inForce(data.me.consents);
      for (const [p, c] of consents) {
        const state = document.getElementById(`consent-state-${p}`);
        if (state) state.textContent = stateText(c);
        const box = document.getElementById(`consent-${p}`);
        if (box) box.checked = Boolean(c.active);
      }
      notice.replaceChildren(h("div", { class: "banner ok" }, granted
        ? `Consent for “${purposeTitle(purpose)}” given.`
        : `Consent for “${purposeTitle(purpose)}” withdrawn: partners no longer see what it allowed, from their next request.`));
    } catch (error) {
      input.checked = !granted;
      notice.replaceChildren(h("div", { class: "banner bad" }, explain(error)));
    } finally {
      input.disabled = false;
      input.focus();  // disabling moved focus away: the person continues where they were
    }
  }
  const purposes = [...new Set([...CONSENTABLE, ...consents.keys()])].filter((p) => !NOT_A_CHOICE.has(p));
  page().replaceChildren(
    h("section", {}, h("h1", {}, `Hello ${[me.givenName, me.familyName].filter(Boolean).join(" ")}`),
      h("p", { class: "subtle id" }, `Customer number ${me.id}`)),
    holdingsSection(me),
    accessSection(log),
    h("section", { id: "consents", "aria-labelledby": "consents-title" }, h("h2", { id: "consents-title" }, "Your consents"),
      h("p", { class: "subtle" }, "Switch a consent on or off; the change applies from the next request anyone makes."),
      ...purposes.map((p) => consentSwitch(p, consents.get(p), change)), notice));
}

window.addEventListener("vcv-identity", load);
loadWords()
  .then(() => identityBar(document.getElementById("identity"), { staffLinks: false }))
  .then(load);
