// The portfolio as a picture: assets and liabilities by partner and product type, one bar per group, drawn
// from the values the caller may see in full. Honest about gaps: a group whose partner did not answer, or
// whose values an agreement hides or rounds, says how many contracts are not drawn instead of drawing a
// smaller bar as if it were complete. The labels and amounts are text (readable at any width and by a
// screen reader); only the bars are SVG, and they carry no information the text does not.
import { h, money, orgName, productName } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
// The same fields the gateway's portfolio totals sum (gateway/customer.py): one value per contract type.
const ASSET = { BankAccount: "balance", Depot: "marketValue", LifePolicy: "surrenderValue" };
const LIABILITY = { Loan: "outstanding" };

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return el;
}

function bar(kind, share) {
  const picture = svg("svg", { class: "bar-svg", width: "100%", height: "14", "aria-hidden": "true", focusable: "false" });
  if (kind === "unknown") picture.append(svg("rect", { x: "0.5", y: "0.5", width: "3em", height: "13", class: "unknown", "stroke-dasharray": "3 2" }));
  else picture.append(svg("rect", { x: 0, y: 0, width: `${Math.max(share * 100, 0.5)}%`, height: 14, class: kind }));
  return picture;
}

export function portfolioChart(items, redactions, failedAt, path) {
  const groups = new Map();
  for (const { contract: c, index } of items) {
    const field = ASSET[c.__typename] || LIABILITY[c.__typename];
    if (!field) continue;  // insurance without a cash value is neither an asset nor a liability here
    const key = `${c.partner.id}|${c.productType}`;
    if (!groups.has(key)) groups.set(key, { partner: c.partner.id, product: c.productType, kind: ASSET[c.__typename] ? "asset" : "liability",
      amounts: new Map(), counted: 0, hidden: 0, unanswered: 0 });
    const g = groups.get(key);
    const at = path("contracts", index, field);
    const value = c[field];
    if (failedAt.get(at)) g.unanswered += 1;
    else if (redactions.get(at)) g.hidden += 1;  // hidden or rounded: not summed, as the totals do
    else if (!value) continue;  // the product has no such value (a disability policy has no surrender value)
    else {
      g.counted += 1;
      g.amounts.set(value.currency, (g.amounts.get(value.currency) || 0) + Number(value.amount));
    }
  }
  if (![...groups.values()].some((g) => g.counted || g.hidden || g.unanswered)) return h("p", { class: "state" }, "No account, loan, depot or policy with a value to draw.");
  const rows = [...groups.values()].filter((g) => g.counted || g.hidden || g.unanswered);
  const largest = Math.max(1, ...rows.flatMap((g) => [...g.amounts.values()].map(Math.abs)));
  const chartRows = rows.map((g) => {
    const [currency, amount] = [...g.amounts][0] || [null, 0];
    const gaps = [g.unanswered ? `${g.unanswered} not answered` : null, g.hidden ? `${g.hidden} hidden from you` : null].filter(Boolean);
    const drawn = g.counted > 0;
    return h("li", { class: `chart-row ${g.kind}`, "data-partner": g.partner, "data-product": g.product },
      h("div", {}, h("strong", {}, productName(g.product)), h("span", { class: "subtle" }, ` · ${orgName(g.partner)}`)),
      bar(drawn ? g.kind : "unknown", Math.abs(amount) / largest),
      h("div", { class: "subtle" },
        drawn ? `${g.kind === "asset" ? "Asset" : "Liability"}: ${[...g.amounts].map(([cur, a]) => money({ amount: a, currency: cur })).join(" + ")}`
          : `${g.kind === "asset" ? "Asset" : "Liability"}: value not known`,
        drawn && currency && g.amounts.size > 1 ? " (bar shows the first currency)" : "",
        gaps.length ? ` — ${gaps.join(", ")}, not drawn` : ""));
  });
  return h("figure", { class: "portfolio-chart", id: "portfolio-chart" },
    h("figcaption", {}, h("strong", {}, "Assets and liabilities by partner and product"),
      h("ul", { class: "legend", "aria-hidden": "true" },
        h("li", {}, h("span", { class: "key asset" }), "asset"), h("li", {}, h("span", { class: "key liability" }), "liability"),
        h("li", {}, h("span", { class: "key unknown" }), "value not known"))),
    h("ul", { class: "plain chart-rows" }, ...chartRows));
}
