"""Decisions: default deny, consent, most restrictive wins (independent of rule order), explain, and
whether an owner needs to be called at all."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from itertools import product
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.agreements import load_agreements
from privacy.guard import Guard
from privacy.policy import Decision, ExplainRow, PolicySet
from privacy.rules import Agreement, Rule
from privacy.treatments import ALLOW, PSEUDONYMIZE, REDACT, Treatment

CATALOGUE = {
    "bank": {"BankAccount.iban": "string", "BankAccount.balance": "money", "Loan.maturityDate": "date"},
    "rm": {"Customer.id": "id", "Customer.email": "string"},
}
CONSUMERS = {"consultant", "customer", "partner", "service_agent", "compliance", "bank", "life", "invest"}
NONE: frozenset[str] = frozenset()
LEADS = frozenset({"lead_management"})


def policy_from(tmp_path: Path, bank_yaml: str) -> PolicySet:
    (tmp_path / "bank.yaml").write_text(textwrap.dedent(bank_yaml).lstrip("\n"))
    return load_agreements(tmp_path, CATALOGUE, known_consumers=CONSUMERS)


BANK = """
owner: bank
version: 1
rules:
  - id: staff
    consumers: [bank]
    purposes: [service, lead_management]
    fields: {BankAccount.*: allow, Loan.*: allow}
  - id: partners-iban
    consumers: [partner]
    purposes: [service, lead_management]
    fields: {BankAccount.iban: {mask: last4}}
  - id: partners-leads
    consumers: [life, invest]
    purposes: [lead_management]
    consent: lead_management
    fields:
      BankAccount.iban: allow
      BankAccount.balance: {generalize: {step: 1000}}
  - id: consultant
    consumers: [consultant]
    purposes: [advisory]
    fields: {BankAccount.*: allow, Loan.maturityDate: {generalize: {to: year}}}
  - id: consultant-no-iban
    consumers: [consultant]
    purposes: [advisory]
    fields: {BankAccount.iban: redact}
"""


@pytest.fixture
def policy(tmp_path: Path) -> PolicySet:
    return policy_from(tmp_path, BANK)


def test_nothing_matches_means_default_deny(policy: PolicySet) -> None:
    assert policy.decide("bank", "BankAccount.balance", "compliance", "compliance", "audit", NONE) == \
        Decision(REDACT, "bank/default-deny", None)
    assert policy.decide("bank", "BankAccount.balance", "service_agent", "service_agent", "service", NONE).redacted
    # The right consumer with the wrong purpose is no better than the wrong consumer.
    assert policy.decide("bank", "BankAccount.balance", "bank", "partner", "advisory", NONE).rule == \
        "bank/default-deny"


def test_an_owner_without_an_agreement_denies_everything(policy: PolicySet) -> None:
    for field in policy.fields("rm"):
        assert policy.decide("rm", field, "consultant", "consultant", "advisory", NONE) == \
            Decision(REDACT, "rm/default-deny")


def test_a_consent_rule_applies_only_while_the_consent_is_active(policy: PolicySet) -> None:
    without = policy.decide("bank", "BankAccount.balance", "life", "partner", "lead_management", NONE)
    granted = policy.decide("bank", "BankAccount.balance", "life", "partner", "lead_management", LEADS)
    other = policy.decide("bank", "BankAccount.balance", "life", "partner", "lead_management",
                          frozenset({"advisory"}))
    assert without == other == Decision(REDACT, "bank/default-deny")
    assert granted == Decision(Treatment("generalize", Decimal(1000)), "bank/partners-leads", "lead_management")


def test_compiled_decisions_are_reused_and_consents_are_checked_on_every_call(policy: PolicySet) -> None:
    # The agreement is reduced once per (owner, consumer, role, purpose); the customer's consents are not
    # part of that: a withdrawal is effective on the very next decision, with the compiled table warm.
    table = policy.compiled("bank", "life", "partner", "lead_management")
    granted = policy.decide("bank", "BankAccount.balance", "life", "partner", "lead_management", LEADS)
    withdrawn = policy.decide("bank", "BankAccount.balance", "life", "partner", "lead_management", NONE)
    again = policy.decide("bank", "BankAccount.balance", "life", "partner", "lead_management", LEADS)
    assert policy.compiled("bank", "life", "partner", "lead_management") is table
    assert granted == again == Decision(Treatment("generalize", Decimal(1000)), "bank/partners-leads",
                                        "lead_management")
    assert withdrawn == Decision(REDACT, "bank/default-deny")
    # Another caller or purpose has a table of its own.
    assert policy.compiled("bank", "invest", "partner", "lead_management") is not table
    assert policy.compiled("bank", "life", "partner", "service") is not table


def test_a_reloaded_agreement_is_decided_afresh(policy: PolicySet, tmp_path: Path) -> None:
    # A reload (SIGHUP) builds a new PolicySet: nothing compiled from the old agreement is carried over,
    # and requests still running on the old one keep their old decisions.
    assert policy.decide("bank", "BankAccount.balance", "consultant", "consultant", "advisory", NONE).treatment == ALLOW
    reloaded = policy_from(tmp_path, BANK.replace("fields: {BankAccount.*: allow, Loan.maturityDate",
                                                  "fields: {BankAccount.balance: redact, Loan.maturityDate"))
    assert reloaded.decide("bank", "BankAccount.balance", "consultant", "consultant", "advisory", NONE) == \
        Decision(REDACT, "bank/consultant")
    assert policy.decide("bank", "BankAccount.balance", "consultant", "consultant", "advisory", NONE).treatment == ALLOW


def test_the_most_restrictive_matching_rule_wins(policy: PolicySet) -> None:
    # partners-leads allows the full IBAN with consent, partners-iban (role partner) masks it: mask wins.
    assert policy.decide("bank", "BankAccount.iban", "life", "partner", "lead_management", LEADS) == \
        Decision(Treatment("mask", "last4"), "bank/partners-iban")
    # An explicit redact rule beats a wildcard allow in another rule.
    assert policy.decide("bank", "BankAccount.iban", "consultant", "consultant", "advisory", NONE) == \
        Decision(REDACT, "bank/consultant-no-iban")
    assert policy.decide("bank", "BankAccount.balance", "consultant", "consultant", "advisory", NONE) == \
        Decision(ALLOW, "bank/consultant")


def test_rules_match_by_partner_id_or_by_role(policy: PolicySet) -> None:
    # `partner` in consumers covers every partner, even one the agreement never names.
    assert policy.decide("bank", "BankAccount.iban", "property", "partner", "service", NONE).rule == \
        "bank/partners-iban"
    # A partner ID only matches that partner.
    assert policy.decide("bank", "BankAccount.balance", "property", "partner", "lead_management", LEADS).redacted


def test_an_unknown_owner_or_field_is_a_wiring_error_not_a_silent_denial(policy: PolicySet) -> None:
    with pytest.raises(KeyError, match="unknown data owner 'bnk'"):
        policy.decide("bnk", "BankAccount.iban", "bank", "partner", "service", NONE)
    with pytest.raises(KeyError, match=r"BankAccount\.pin is not a field of bank"):
        policy.decide("bank", "BankAccount.pin", "bank", "partner", "service", NONE)


def test_the_guard_tells_which_fields_are_worth_asking_the_owner_for(policy: PolicySet) -> None:
    def visible(owner: str, consumer: str, role: str, purpose: str, fields: list[str] | None = None) -> frozenset:
        guard = Guard(policy, None, consumer=consumer, role=role, purpose=purpose)
        return guard.visible(owner, policy.fields(owner) if fields is None else fields, NONE)

    assert visible("bank", "compliance", "compliance", "audit") == frozenset()
    assert visible("rm", "consultant", "consultant", "advisory") == frozenset()
    assert visible("bank", "life", "partner", "service") == {"BankAccount.iban"}
    # Only the IBAN is visible to life for service: asking only for balances needs no call.
    assert visible("bank", "life", "partner", "service", ["BankAccount.balance"]) == frozenset()
    assert visible("bank", "consultant", "consultant", "advisory", ["BankAccount.iban"]) == frozenset()


def test_explain_shows_every_field_and_what_a_consent_would_change(policy: PolicySet) -> None:
    rows = policy.explain("bank", "life", "lead_management")
    assert rows == [
        ExplainRow("BankAccount.iban", Treatment("mask", "last4"), "bank/partners-iban", None, "bank.yaml:11"),
        ExplainRow("BankAccount.balance", REDACT, "bank/default-deny", None, ""),
        ExplainRow("BankAccount.balance", Treatment("generalize", Decimal(1000)), "bank/partners-leads",
                   "lead_management", "bank.yaml:18"),
        ExplainRow("Loan.maturityDate", REDACT, "bank/default-deny", None, ""),
    ]
    assert rows[2].shown == "generalize step 1000 (with consent lead_management)"
    assert rows[0].shown == "mask last4"


def test_explain_with_given_consents_shows_exactly_that_customer(policy: PolicySet) -> None:
    none = policy.explain("bank", "life", "lead_management", consents=[])
    assert [(r.field, r.shown) for r in none] == [
        ("BankAccount.iban", "mask last4"), ("BankAccount.balance", "redact"), ("Loan.maturityDate", "redact")]
    granted = policy.explain("bank", "life", "lead_management", consents=["lead_management"])
    assert [(r.field, r.shown) for r in granted][1] == (
        "BankAccount.balance", "generalize step 1000 (with consent lead_management)")


def test_explain_takes_a_role_or_a_partner_id(policy: PolicySet) -> None:
    consultant = {r.field: r.shown for r in policy.explain("bank", "consultant", "advisory")}
    assert consultant == {"BankAccount.iban": "redact", "BankAccount.balance": "allow",
                          "Loan.maturityDate": "generalize to year"}
    # A partner ID implies role partner, so role-wide rules show up for it.
    assert policy.explain("bank", "invest", "service")[0].rule == "bank/partners-iban"
    assert policy.explain("bank", "invest", "service", role="service_agent")[0].rule == "bank/default-deny"


def test_owners_that_pseudonymize_are_listed_for_key_loading(tmp_path: Path) -> None:
    (tmp_path / "rm.yaml").write_text("owner: rm\nversion: 1\nrules:\n  - id: p\n    consumers: [partner]\n"
                                      "    purposes: [service]\n    fields: {Customer.id: pseudonymize}\n")
    (tmp_path / "bank.yaml").write_text(textwrap.dedent(BANK))
    policy = load_agreements(tmp_path, CATALOGUE, known_consumers=CONSUMERS)
    assert policy.pseudonymizing_owners() == {"rm"}
    assert policy.decide("rm", "Customer.id", "life", "partner", "service", NONE) == \
        Decision(PSEUDONYMIZE, "rm/p")


# --- properties: order independence and monotonicity -------------------------------------------------------

FIELDS = {"A.s": "string", "A.i": "id", "A.m": "money", "A.d": "date"}
PROPERTY_CATALOGUE = {"own": FIELDS}
FITTING = {
    "string": [ALLOW, REDACT, PSEUDONYMIZE, *(Treatment("mask", v) for v in ("last4", "email", "initials", "full"))],
    "id": [ALLOW, REDACT, PSEUDONYMIZE],
    "money": [ALLOW, REDACT, *(Treatment("generalize", Decimal(s)) for s in ("10", "100", "1000"))],
    "date": [ALLOW, REDACT, Treatment("generalize", "month"), Treatment("generalize", "year")],
}
WHO = [("consultant", "consultant"), ("life", "partner"), ("invest", "partner"), ("customer", "customer")]
PURPOSES = ["advisory", "lead_management"]
CONSENT_SETS = [NONE, LEADS]


@st.composite
def rule_bodies(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[str, ...], str | None, dict[str, Treatment]]:
    consumers = draw(st.lists(st.sampled_from(["consultant", "partner", "life", "customer"]), min_size=1,
                              max_size=3, unique=True))
    purposes = draw(st.lists(st.sampled_from(PURPOSES), min_size=1, unique=True))
    consent = draw(st.sampled_from([None, "lead_management"]))
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, unique=True))
    fields = {name: draw(st.sampled_from(FITTING[FIELDS[name]])) for name in names}
    return tuple(consumers), tuple(purposes), consent, fields


def make_rule(index: int, body: tuple[tuple[str, ...], tuple[str, ...], str | None, dict[str, Treatment]]) -> Rule:
    consumers, purposes, consent, fields = body
    return Rule(id=f"r{index:02d}", owner="own", consumers=consumers, purposes=purposes, consent=consent,
                fields=fields, source=Path("own.yaml"), line=index + 4)


def policy_of(rules: list[Rule]) -> PolicySet:
    return PolicySet({"own": Agreement("own", tuple(rules), Path("own.yaml"))}, PROPERTY_CATALOGUE)


def all_decisions(policy: PolicySet) -> dict[tuple[object, ...], Decision]:
    return {(f, who, p, c): policy.decide("own", f, who[0], who[1], p, c)
            for f, who, p, c in product(FIELDS, WHO, PURPOSES, CONSENT_SETS)}


@settings(max_examples=60, deadline=None)
@given(st.lists(rule_bodies(), max_size=6), st.randoms(use_true_random=False))
def test_shuffling_rules_never_changes_a_decision(bodies: list, random: object) -> None:
    rules = [make_rule(i, body) for i, body in enumerate(bodies)]
    shuffled = list(rules)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert all_decisions(policy_of(rules)) == all_decisions(policy_of(shuffled))


@settings(max_examples=60, deadline=None)
@given(st.lists(rule_bodies(), max_size=6), rule_bodies())
def test_adding_a_redact_rule_never_reveals_more(bodies: list, extra: tuple) -> None:
    rules = [make_rule(i, body) for i, body in enumerate(bodies)]
    consumers, purposes, consent, fields = extra
    redacting = make_rule(99, (consumers, purposes, consent, dict.fromkeys(fields, REDACT)))
    before = all_decisions(policy_of(rules))
    after = all_decisions(policy_of([*rules, redacting]))
    for situation, decision in after.items():
        field, (consumer, role), purpose, consents = situation
        if field in redacting.fields and redacting.matches(consumer, role, purpose) and \
                (consent is None or consent in consents):
            assert decision.redacted, situation  # whatever else allowed it, it is now withheld
        else:
            assert decision == before[situation], situation  # and nothing else moves
        assert decision.treatment.sort_key >= before[situation].treatment.sort_key  # never less restrictive


@settings(max_examples=60, deadline=None)
@given(st.lists(rule_bodies(), max_size=6))
def test_the_decision_is_the_most_restrictive_matching_treatment(bodies: list) -> None:
    rules = [make_rule(i, body) for i, body in enumerate(bodies)]
    policy = policy_of(rules)
    for (field, (consumer, role), purpose, consents), decision in all_decisions(policy).items():
        matching = [(r.fields[field], r) for r in rules if field in r.fields
                    and (consumer in r.consumers or role in r.consumers) and purpose in r.purposes
                    and (r.consent is None or r.consent in consents)]
        if not matching:
            assert decision == Decision(REDACT, "own/default-deny")
            continue
        strongest = max(t.sort_key for t, _ in matching)
        assert decision.treatment.sort_key == strongest
        assert decision.rule == min(f"own/{r.id}" for t, r in matching if t.sort_key == strongest)
