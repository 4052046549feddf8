"""The record of processing activities (GDPR Art. 30) derived from the agreements: per data owner, who
receives which categories of customer data for which purposes, on which rule, and under which consent.

Derived, never hand-written, and computed through the same decisions the gateway makes, so the record
cannot drift from what is enforced.
"""

from __future__ import annotations

from typing import Any

from privacy.categories import category_of, sort_key
from privacy.policy import PolicySet
from privacy.rules import Rule
from privacy.vocabulary import ROLES

TITLE = "Record of processing activities (GDPR Art. 30)"
DATA_SUBJECTS = "customers of the alliance (natural persons)"


def build_records(policy: PolicySet) -> dict[str, Any]:
    owners: dict[str, Any] = {}
    for owner in policy.owners():
        kinds = policy.catalogue[owner]
        agreement = policy.agreements.get(owner)
        rules = agreement.rules if agreement else ()
        disclosed = {r.id: _effective(policy, r) for r in rules}
        disclosing = [r for r in rules if disclosed[r.id]]
        revealed = {f for r in disclosing for f in disclosed[r.id]}
        owners[owner] = {
            "agreement": str(agreement.source) if agreement else None,
            "version": agreement.version if agreement else None,
            "description": agreement.description if agreement else "no agreement: nothing is shared",
            "recipients": sorted({c for r in disclosing for c in r.consumers}),
            "purposes": sorted({p for r in disclosing for p in r.purposes}),
            "data_categories": _by_category({f: f for f in kinds}, kinds, as_list=True),
            "consent_requirements": [
                {"rule": r.qualified_id, "consent": r.consent, "recipients": list(r.consumers),
                 "purposes": list(r.purposes)} for r in disclosing if r.consent],
            "activities": [
                {"rule": r.qualified_id, "description": r.description, "recipients": list(r.consumers),
                 "purposes": list(r.purposes), "consent": r.consent, "where": r.where,
                 "disclosed": _by_category(disclosed[r.id], kinds)} for r in disclosing],
            "restrictions": [
                {"rule": r.qualified_id, "description": r.description, "recipients": list(r.consumers),
                 "purposes": list(r.purposes), "where": r.where,
                 "withheld": sorted(f for f, t in r.fields.items() if t.kind == "redact")}
                for r in rules if any(t.kind == "redact" for t in r.fields.values())],
            "never_disclosed": [f for f in kinds if f not in revealed],
        }
    return {"title": TITLE, "data_subjects": DATA_SUBJECTS, "owners": owners}


def render_markdown(records: dict[str, Any]) -> str:
    lines = [f"# {records['title']}", "", f"Data subjects: {records['data_subjects']}.",
             "Derived from the data-sharing agreements; anything not listed here is not shared (default deny).",
             ""]
    for owner, record in records["owners"].items():
        heading = f"## {owner}"
        if record["agreement"]:
            heading += f" — {record['description']} (version {record['version']}, `{record['agreement']}`)"
        lines += [heading, ""]
        if not record["agreement"]:
            lines += ["No agreement file: none of this owner's data is shared with anyone.", ""]
        lines += [f"- **Recipients:** {_join(record['recipients'])}",
                  f"- **Purposes:** {_join(record['purposes'])}",
                  "- **Categories of personal data held:** "
                  + "; ".join(f"{cat} ({', '.join(fields)})" for cat, fields in record["data_categories"].items())]
        consent = "; ".join(f"{c['consent']} for {_join(c['recipients'])} ({c['rule']})"
                            for c in record["consent_requirements"])
        lines += [f"- **Consent required:** {consent or 'none'}",
                  f"- **Never disclosed:** {_join(record['never_disclosed'])}", ""]
        if record["activities"]:
            lines += ["| rule | recipients | purposes | consent | data disclosed (treatment) |",
                      "|---|---|---|---|---|"]
            for a in record["activities"]:
                disclosed = "<br>".join(f"{cat}: " + ", ".join(f"{f} ({t})" for f, t in fields.items())
                                        for cat, fields in a["disclosed"].items())
                lines.append(f"| {a['rule']} | {_join(a['recipients'])} | {_join(a['purposes'])} | "
                             f"{a['consent'] or '—'} | {disclosed} |")
            lines.append("")
        if record["restrictions"]:
            lines += ["Restrictions (these fields are withheld whatever other rules allow):", ""]
            lines += [f"- {r['rule']}: {', '.join(r['withheld'])} withheld from {_join(r['recipients'])} "
                      f"for {_join(r['purposes'])}" for r in record["restrictions"]]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _effective(policy: PolicySet, rule: Rule) -> dict[str, str]:
    """The fields this rule actually discloses: those where it is the deciding rule for at least one of its
    consumers and purposes. A field it allows but a stricter rule withholds (health data under a
    wildcard) is not claimed as disclosed, so the record never overstates what leaves the owner."""
    consents = frozenset({rule.consent}) if rule.consent else frozenset()
    shown: dict[str, str] = {}
    for field in rule.fields:
        for consumer in rule.consumers:
            role = consumer if consumer in ROLES else "partner"
            for purpose in rule.purposes:
                decision = policy.decide(rule.owner, field, consumer, role, purpose, consents)
                if decision.rule == rule.qualified_id and not decision.redacted:
                    shown[field] = str(decision.treatment)
    return shown


def _by_category(fields: dict[str, str], kinds: dict[str, str] | Any, *, as_list: bool = False) -> dict[str, Any]:
    grouped: dict[str, dict[str, str]] = {}
    for field, value in fields.items():
        grouped.setdefault(category_of(field, kinds[field]), {})[field] = value
    ordered = {cat: grouped[cat] for cat in sorted(grouped, key=sort_key)}
    return {cat: list(values) for cat, values in ordered.items()} if as_list else ordered


def _join(items: list[str]) -> str:
    return ", ".join(items) if items else "—"
