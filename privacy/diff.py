"""What changes for whom when an agreement changes: per owner, consumer, role and purpose, the fields that
gain or lose visibility and those whose treatment changes, with and without each consent that matters.

Computed through the same decisions the gateway makes (`PolicySet.decide`), never by comparing YAML text,
so a reordered file, a renamed rule or a wildcard that now covers one more field shows exactly what a
caller will see differently."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from privacy.policy import Decision, PolicySet
from privacy.vocabulary import PURPOSES, ROLES

Change = Literal["gains", "loses", "changes"]
_MARK = {"gains": "+", "loses": "-", "changes": "~"}


@dataclass(frozen=True, slots=True)
class FieldChange:
    owner: str
    consumer: str
    role: str
    purpose: str
    consent: str | None  # None: for a customer without consents; else with this consent active
    field: str
    before: Decision
    after: Decision

    @property
    def change(self) -> Change:
        if self.before.redacted:
            return "gains"
        return "loses" if self.after.redacted else "changes"

    def line(self) -> str:
        when = f"  [with consent {self.consent}]" if self.consent else ""
        return (f"  {_MARK[self.change]} {self.field}: {self.before.treatment} ({self.before.rule}) -> "
                f"{self.after.treatment} ({self.after.rule}){when}")


def callers(partner_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(consumer, role) for every kind of caller: each role by its name, each partner by its ID."""
    return [(role, role) for role in ROLES if role != "partner"] + [(p, "partner") for p in sorted(partner_ids)]


def _consents(policy: PolicySet, owner: str) -> set[str]:
    agreement = policy.agreements.get(owner)
    return {r.consent for r in agreement.rules if r.consent} if agreement else set()


def policy_diff(old: PolicySet, new: PolicySet, partner_ids: Iterable[str],
                purposes: Iterable[str] = PURPOSES) -> list[FieldChange]:
    """Every (owner, consumer, role, purpose, consent scenario, field) whose decision differs. Only the
    treatment and the deciding rule count; an owner present on one side only is compared with default deny
    on the other (its fields are then all gained or all lost)."""
    changes: list[FieldChange] = []
    owners = sorted(set(old.owners()) | set(new.owners()))
    everyone = callers(partner_ids)
    for owner in owners:
        fields = sorted(set(old.catalogue.get(owner, {})) & set(new.catalogue.get(owner, {})))
        scenarios: list[str | None] = [None, *sorted(_consents(old, owner) | _consents(new, owner))]
        for consumer, role in everyone:
            for purpose in purposes:
                for consent in scenarios:
                    active = frozenset({consent}) if consent else frozenset()
                    for field in fields:
                        before = old.decide(owner, field, consumer, role, purpose, active)
                        after = new.decide(owner, field, consumer, role, purpose, active)
                        if str(before.treatment) == str(after.treatment):
                            continue  # a rule renamed or moved without effect is not a change for anyone
                        if consent and _same_as_without(changes, owner, consumer, purpose, field, before, after):
                            continue  # the consent does not matter to this change: listed once, without it
                        changes.append(FieldChange(owner, consumer, role, purpose, consent, field, before, after))
    return changes


def _same_as_without(changes: list[FieldChange], owner: str, consumer: str, purpose: str, field: str,
                     before: Decision, after: Decision) -> bool:
    return any(c.owner == owner and c.consumer == consumer and c.purpose == purpose and c.field == field
               and c.consent is None and str(c.before.treatment) == str(before.treatment)
               and str(c.after.treatment) == str(after.treatment) for c in reversed(changes))


def render(changes: list[FieldChange]) -> str:
    """Grouped per owner, consumer, role and purpose; one line per field: + gains, - loses, ~ changes."""
    if not changes:
        return "no change: every consumer sees exactly what it saw before\n"
    lines: list[str] = []
    group: tuple[str, str, str, str] | None = None
    for c in changes:
        key = (c.owner, c.consumer, c.role, c.purpose)
        if key != group:
            if lines:
                lines.append("")
            lines.append(f"{c.owner} -> {c.consumer} (role {c.role}) for {c.purpose}:")
            group = key
        lines.append(c.line())
    counts = {kind: sum(1 for c in changes if c.change == kind) for kind in ("gains", "loses", "changes")}
    lines += ["", f"{counts['gains']} field(s) gain visibility, {counts['loses']} lose it, "
                  f"{counts['changes']} change treatment"]
    return "\n".join(lines) + "\n"
