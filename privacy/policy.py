"""The policy engine: for one field of one owner, what a consumer sees for a purpose, and by which rule.

A rule matches when the consumer (partner ID) or the caller's role is among its consumers, the purpose is
among its purposes and its consent, if it names one, is active. Of all matching rules the most
restrictive treatment wins (ties: the smaller rule id), so the outcome never depends on the order rules
are written in. No matching rule: redact, under the owner's `default-deny`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from privacy.catalogue import Catalogue
from privacy.rules import Agreement, Rule
from privacy.treatments import REDACT, Treatment
from privacy.vocabulary import ROLES

DEFAULT_DENY = "default-deny"


@dataclass(frozen=True, slots=True)
class Decision:
    treatment: Treatment
    rule: str  # "<owner>/<rule id>" or "<owner>/default-deny"
    consent: str | None = None  # the consent the deciding rule relied on

    @property
    def redacted(self) -> bool:
        return self.treatment.kind == "redact"


@dataclass(frozen=True, slots=True)
class Compiled:
    """One owner's decisions for one (consumer, role, purpose): per field, (consent needed, decision) in
    precedence order; the first whose consent is None or active decides, else `default`."""

    fields: Mapping[str, tuple[tuple[str | None, Decision], ...]]
    default: Decision


MAX_COMPILED = 4096


@dataclass(frozen=True, slots=True)
class ExplainRow:
    field: str
    treatment: Treatment
    rule: str
    consent: str | None = None  # the row holds only while the customer's consent for this purpose is active
    where: str = ""  # file:line of the deciding rule; empty for default deny

    @property
    def shown(self) -> str:
        """The treatment as a person reads it, e.g. `allow (with consent lead_management)`."""
        return f"{self.treatment} (with consent {self.consent})" if self.consent else str(self.treatment)


class PolicySet:
    """Every owner's agreement over one catalogue. Immutable; safe to share between requests."""

    def __init__(self, agreements: Mapping[str, Agreement], catalogue: Catalogue) -> None:
        unknown = sorted(set(agreements) - set(catalogue))
        if unknown:
            raise ValueError(f"agreements for owners outside the catalogue: {', '.join(unknown)}")
        self.agreements: Mapping[str, Agreement] = dict(agreements)
        self.catalogue: Catalogue = {owner: dict(fields) for owner, fields in catalogue.items()}
        # Per field, the rules that name it, most restrictive first: the first one that matches a request
        # is the decision, which is exactly "most restrictive wins" and independent of file order.
        self._candidates: dict[tuple[str, str], tuple[tuple[Rule, Treatment], ...]] = {}
        for owner, agreement in self.agreements.items():
            by_field: dict[str, list[tuple[Rule, Treatment]]] = {}
            for rule in agreement.rules:
                for field, treatment in rule.fields.items():
                    by_field.setdefault(field, []).append((rule, treatment))
            for field, entries in by_field.items():
                entries.sort(key=lambda entry: entry[0].id)
                entries.sort(key=lambda entry: entry[1].sort_key, reverse=True)  # stable: ties keep id order
                self._candidates[owner, field] = tuple(entries)
        # Compiled decisions, filled on first use: per (owner, consumer, role, purpose) and field, the
        # decisions of the rules that match that caller, in precedence order, each with the consent it needs.
        # The customer's consents are not part of the key: they are checked on every call (they change
        # between requests), so only the part that depends on the agreements alone is reused. A reload builds
        # a new PolicySet, so a changed agreement never meets an old compiled table.
        self._compiled: dict[tuple[str, str | None, str | None, str], Compiled] = {}

    def owners(self) -> tuple[str, ...]:
        return tuple(sorted(self.catalogue))

    def fields(self, owner: str) -> tuple[str, ...]:
        return tuple(self._owner_fields(owner))

    def kind(self, owner: str, field: str) -> str:
        fields = self._owner_fields(owner)
        if field not in fields:
            raise KeyError(f"{field} is not a field of {owner}")
        return fields[field]

    def decide(self, owner: str, field: str, consumer: str | None, role: str | None, purpose: str,
               consents: frozenset[str] = frozenset()) -> Decision:
        """How `field` of `owner` is treated for this caller. `consumer` is the partner ID (or the role for
        callers who are not partners, as gateway Caller.consumer gives it); `consents` are the purposes the
        customer has an active (granted, not withdrawn) consent for."""
        table = self.compiled(owner, consumer, role, purpose)
        entries = table.fields.get(field)
        if entries is None:
            self.kind(owner, field)  # an unknown field is a wiring bug, not something to deny silently
            entries = ()
        for consent, decision in entries:
            if consent is None or consent in consents:
                return decision
        return table.default

    def compiled(self, owner: str, consumer: str | None, role: str | None, purpose: str) -> Compiled:
        """The owner's agreement reduced to what concerns this caller and purpose, built once and reused."""
        key = (owner, consumer, role, purpose)
        table = self._compiled.get(key)
        if table is None:
            fields: dict[str, tuple[tuple[str | None, Decision], ...]] = {}
            for field in self._owner_fields(owner):
                matching: list[tuple[str | None, Decision]] = []
                for rule, treatment in self._candidates.get((owner, field), ()):
                    if rule.matches(consumer, role, purpose):
                        matching.append((rule.consent, Decision(treatment, rule.qualified_id, rule.consent)))
                        if rule.consent is None:
                            break  # always matches: nothing after it can decide
                fields[field] = tuple(matching)
            table = Compiled(fields, Decision(REDACT, f"{owner}/{DEFAULT_DENY}"))
            if len(self._compiled) >= MAX_COMPILED:  # bounded: callers choose consumer and purpose strings
                self._compiled.clear()
            self._compiled[key] = table
        return table

    def explain(self, owner: str, consumer: str, purpose: str, *, role: str | None = None,
                consents: Iterable[str] | None = None) -> list[ExplainRow]:
        """One row per field of the owner: what `consumer` (a role, or a partner ID, which implies role
        `partner`) sees for `purpose`. With `consents=None`, rows are for a customer without consents, and
        each field that a consent would change gets an extra row marked with that consent; with an explicit
        set of consents, the rows are exactly what that customer's data would look like."""
        if role is None:
            role = consumer if consumer in ROLES else "partner"
        rows: list[ExplainRow] = []
        given = None if consents is None else frozenset(consents)
        scenarios = self.consents_that_matter(owner, consumer, role, purpose) if given is None else []
        for field in self.fields(owner):
            base = self.decide(owner, field, consumer, role, purpose, given or frozenset())
            rows.append(self.explain_row(owner, field, base))
            for consent in scenarios:
                with_consent = self.decide(owner, field, consumer, role, purpose, frozenset({consent}))
                if with_consent != base:
                    rows.append(self.explain_row(owner, field, with_consent))
        return rows

    def pseudonymizing_owners(self) -> frozenset[str]:
        """Owners whose agreement pseudonymises something: they need a pseudonym key at start-up."""
        return frozenset(owner for owner, agreement in self.agreements.items()
                         if any(t.kind == "pseudonymize" for rule in agreement.rules for t in rule.fields.values()))

    def rule(self, qualified_id: str) -> Rule | None:
        owner, _, rule_id = qualified_id.partition("/")
        agreement = self.agreements.get(owner)
        return next((r for r in agreement.rules if r.id == rule_id), None) if agreement else None

    def _owner_fields(self, owner: str) -> Mapping[str, str]:
        if owner not in self.catalogue:
            raise KeyError(f"unknown data owner {owner!r}")
        return self.catalogue[owner]

    def consents_that_matter(self, owner: str, consumer: str, role: str, purpose: str) -> list[str]:
        """The consents named by rules that match this caller and purpose: those that can change what it sees."""
        agreement = self.agreements.get(owner)
        rules = agreement.rules if agreement else ()
        return sorted({r.consent for r in rules if r.consent and r.matches(consumer, role, purpose)})

    def explain_row(self, owner: str, field: str, decision: Decision) -> ExplainRow:
        rule = self.rule(decision.rule)
        where = ""
        if rule is not None:
            where = f"{rule.source.name}:{rule.field_lines.get(field, rule.line)}"
        return ExplainRow(field, decision.treatment, decision.rule, decision.consent, where)
