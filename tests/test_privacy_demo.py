"""The demo agreements in fixtures/agreements, against the real joint model: they load cleanly, each
promise the alliance makes holds through `decide`, and the CLI outputs (check, explain, records) show it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from privacy import policy_reports
from privacy.agreements import load_agreements
from privacy.guard import Guard
from privacy.policy import Decision, PolicySet
from privacy.pseudonyms import PseudonymKeys, ensure_demo_pseudonym_keys
from privacy.treatments import ALLOW, PSEUDONYMIZE, REDACT, Treatment, pseudonym
from privacy.vocabulary import PURPOSES, ROLES
from resolvers.connectors.partners_file import load
from resolvers.joint import catalogue

AGREEMENTS = Path(__file__).resolve().parent.parent / "fixtures" / "agreements"
DEMO_PARTNERS = load(Path(__file__).resolve().parent.parent / "fixtures" / "partners.yaml", allow_missing_env=True)
PARTNERS = tuple(DEMO_PARTNERS.partners)
NONE: frozenset[str] = frozenset()
LEADS = frozenset({"lead_management"})
CONSENT_SETS = (NONE, LEADS)


def demo_catalogue() -> dict[str, dict[str, str]]:
    return catalogue({pid: c.product_types for pid, c in DEMO_PARTNERS.partners.items()})


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_agreements(AGREEMENTS, demo_catalogue(), known_consumers={*ROLES, *PARTNERS})


def callers() -> list[tuple[str, str]]:
    """(consumer, role) for everyone who can call the gateway."""
    return [(role, role) for role in ROLES if role != "partner"] + [(p, "partner") for p in PARTNERS]


def situations(consumers: list[tuple[str, str]]) -> product:
    return product(consumers, PURPOSES, CONSENT_SETS)


def test_the_demo_agreements_are_valid_and_cover_every_owner(policy: PolicySet) -> None:
    assert policy_reports.check(AGREEMENTS, demo_catalogue(), {*ROLES, *PARTNERS}) == []
    assert sorted(policy.agreements) == ["bank", "invest", "life", "property", "rm"]
    assert policy_reports.summary(policy).startswith("5 agreements, ")


def test_the_demo_exercises_every_treatment(policy: PolicySet) -> None:
    used = {t for a in policy.agreements.values() for r in a.rules for t in r.fields.values()}
    assert {ALLOW, REDACT, PSEUDONYMIZE, Treatment("generalize", "year"), Treatment("generalize", "month"),
            Treatment("generalize", Decimal(1000))} <= used
    assert {t.param for t in used if t.kind == "mask"} == {"last4", "email", "initials", "full"}


def test_other_partners_see_ibans_only_as_the_last_four_characters(policy: PolicySet) -> None:
    for (consumer, role), purpose, consents in situations([(p, "partner") for p in ("life", "property", "invest")]):
        decision = policy.decide("bank", "BankAccount.iban", consumer, role, purpose, consents)
        assert decision.treatment in (Treatment("mask", "last4"), REDACT), (consumer, purpose, consents)
    assert policy.decide("bank", "BankAccount.iban", "life", "partner", "service", NONE) == \
        Decision(Treatment("mask", "last4"), "bank/partners-iban-last4")
    assert policy.decide("bank", "BankAccount.iban", "bank", "partner", "service", NONE).treatment == ALLOW


def test_the_health_class_never_leaves_the_life_insurers_own_staff(policy: PolicySet) -> None:
    for (consumer, role), purpose, consents in situations(callers()):
        decision = policy.decide("life", "LifePolicy.healthClass", consumer, role, purpose, consents)
        if consumer != "life":
            assert decision.redacted, (consumer, purpose, consents)
    assert policy.decide("life", "LifePolicy.healthClass", "life", "partner", "service", NONE).treatment == ALLOW
    assert policy.decide("life", "LifePolicy.healthClass", "consultant", "consultant", "advisory", NONE) == \
        Decision(REDACT, "life/health-class-stays-with-life")


def test_depot_values_reach_partners_only_rounded_for_consented_lead_management(policy: PolicySet) -> None:
    for (consumer, role), purpose, consents in situations([(p, "partner") for p in ("bank", "life", "property")]):
        decision = policy.decide("invest", "Depot.marketValue", consumer, role, purpose, consents)
        if purpose == "lead_management" and consents == LEADS:
            assert decision == Decision(Treatment("generalize", Decimal(1000)), "invest/partners-leads",
                                        "lead_management")
        else:
            assert decision.redacted, (consumer, purpose, consents)


def test_partners_see_customer_ids_only_as_pseudonyms(policy: PolicySet) -> None:
    for (consumer, role), purpose, consents in situations([(p, "partner") for p in PARTNERS]):
        treatment = policy.decide("rm", "Customer.id", consumer, role, purpose, consents).treatment
        assert treatment in (PSEUDONYMIZE, REDACT)
    assert policy.decide("rm", "Customer.id", "invest", "partner", "service", NONE).treatment == PSEUDONYMIZE


def test_claims_are_hidden_from_lead_management_for_everyone(policy: PolicySet) -> None:
    for (consumer, role), consents in product(callers(), CONSENT_SETS):
        decision = policy.decide("property", "PropertyPolicy.claims", consumer, role, "lead_management", consents)
        assert decision.redacted, consumer
    assert policy.decide("property", "PropertyPolicy.claims", "property", "partner", "lead_management", NONE) == \
        Decision(REDACT, "property/no-claims-for-sales")
    assert not policy.decide("property", "PropertyPolicy.claims", "property", "partner", "service", NONE).redacted


def hidden(policy: PolicySet, consumer: str, role: str, purpose: str) -> set[str]:
    return {f for owner in policy.owners() for f in policy.fields(owner)
            if policy.decide(owner, f, consumer, role, purpose, NONE).redacted}


def test_consultants_advising_see_all_but_health_class_and_bookings(policy: PolicySet) -> None:
    assert hidden(policy, "consultant", "consultant", "advisory") == {
        "LifePolicy.healthClass", "BankAccount.recentTransactions"}


def test_customers_see_all_their_own_data_except_insurer_internal_fields(policy: PolicySet) -> None:
    assert hidden(policy, "customer", "customer", "self_service") == {"LifePolicy.healthClass"}


def test_service_agents_see_what_service_needs(policy: PolicySet) -> None:
    def treatment(owner: str, field: str, purpose: str = "service") -> Treatment:
        return policy.decide(owner, field, "service_agent", "service_agent", purpose, NONE).treatment

    assert treatment("rm", "Contract.status") == ALLOW
    assert treatment("bank", "BankAccount.balance", "complaint") == ALLOW
    assert treatment("rm", "Customer.email") == Treatment("mask", "email")
    assert treatment("bank", "BankAccount.iban") == Treatment("mask", "last4")
    assert treatment("life", "LifePolicy.beneficiaries") == REDACT
    assert treatment("invest", "Depot.positions") == REDACT
    assert treatment("invest", "Depot.positions", "complaint") == ALLOW


def test_compliance_sees_no_customer_data_at_all(policy: PolicySet) -> None:
    for owner, purpose in product(policy.owners(), PURPOSES):
        guard = Guard(policy, None, consumer="compliance", role="compliance", purpose=purpose)
        assert guard.visible(owner, policy.fields(owner), LEADS) == frozenset(), (owner, purpose)


def test_partners_see_birth_dates_only_as_the_year(policy: PolicySet) -> None:
    year = Treatment("generalize", "year")
    assert policy.decide("rm", "Customer.birthDate", "life", "partner", "service", NONE).treatment == year
    assert policy.decide("rm", "Customer.birthDate", "bank", "partner", "lead_management", LEADS).treatment == year
    assert policy.decide("rm", "Customer.birthDate", "bank", "partner", "lead_management", NONE).redacted


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str


def test_what_a_partner_actually_receives_for_a_consented_lead(policy: PolicySet, tmp_path: Path) -> None:
    keys = PseudonymKeys.load(policy.pseudonymizing_owners(),
                              directory=ensure_demo_pseudonym_keys(tmp_path, policy.owners()), environ={})
    record = {("rm", "Customer.id"): "C-000042", ("rm", "Customer.givenName"): "Jana Maria",
              ("rm", "Customer.birthDate"): date(1980, 5, 17), ("rm", "Customer.email"): "jana@mail.example",
              ("invest", "Depot.marketValue"): Money(Decimal("48211.37"), "EUR"),
              ("bank", "BankAccount.iban"): "DE89370400440532013000"}

    def received(consumer: str) -> dict[str, Any]:
        guard = Guard(policy, keys, consumer=consumer, role="partner", purpose="lead_management")
        return {field: guard.reveal(["customer", field], owner, field, value, LEADS)
                for (owner, field), value in record.items()}

    seen = received("life")
    # The pseudonym is keyed for life alone: the bank is shown another one for the same customer.
    assert seen["Customer.id"] == pseudonym("C-000042", keys.for_consumer("rm", "life") or b"")
    assert seen["Customer.id"] != received("bank")["Customer.id"]
    assert seen["Customer.givenName"] == "J. M."
    assert seen["Customer.birthDate"] == date(1980, 1, 1)
    assert seen["Customer.email"] is None
    assert seen["Depot.marketValue"] == Money(Decimal("48000.00"), "EUR")
    assert seen["BankAccount.iban"] == "****3000"


def test_explain_table_lists_every_field_with_its_rule_aligned(policy: PolicySet) -> None:
    table = policy_reports.explain_table(policy, "bank", "life", "lead_management")
    lines = table.splitlines()
    assert lines[0] == "What life sees of bank's data for lead_management"
    header = lines[2]
    assert header.split() == ["field", "without", "consent", "rule", "with", "consent", "lead_management", "rule"]
    rows = [line for line in lines[4:] if line.startswith(("BankAccount.", "Loan."))]
    # 11 bank fields (9 values and the two contract types' IDs), one line each
    assert len(rows) == 11
    # The bank's contract IDs reach the insurer as pseudonyms of the insurer's own key family.
    assert "Pseudonyms: keyed per (owner, consumer) = (bank, life)" in table
    rule_column = header.index("rule")
    assert all(line[rule_column - 2:rule_column] == "  " for line in rows)
    balance = next(line for line in rows if line.startswith("BankAccount.balance "))
    without, with_consent = balance[:header.index("with consent")], balance[header.index("with consent"):]
    assert "redact" in without and "bank/default-deny" in without
    assert "generalize step 1000" in with_consent and "bank/partners-leads (bank.yaml:" in with_consent
    # Without the consent the life insurer does not even learn that the customer has a loan at the bank.
    loan = next(line for line in rows if line.startswith("Loan.contractId "))
    assert loan.split()[1:3] == ["redact", "bank/default-deny"] and loan.split()[3] == "pseudonymize"


def test_explain_table_for_a_role_and_given_consents(policy: PolicySet) -> None:
    table = policy_reports.explain_table(policy, "life", "consultant", "advisory", consents=[])
    assert "with active consents: none" in table.splitlines()[0]
    row = next(line for line in table.splitlines() if line.startswith("LifePolicy.healthClass"))
    assert row.split()[1:3] == ["redact", "life/health-class-stays-with-life"]


def test_records_of_processing_as_json(policy: PolicySet) -> None:
    records = json.loads(policy_reports.records(policy, "json"))
    life = records["owners"]["life"]
    assert life["data_categories"]["health"] == ["LifePolicy.healthClass"]
    assert life["consent_requirements"] == [{"rule": "life/partners-leads", "consent": "lead_management",
                                             "recipients": ["bank", "property", "invest"],
                                             "purposes": ["lead_management"]}]
    activities = {a["rule"]: a for a in life["activities"]}
    # The consultant rule allows LifePolicy.* but the health class is withheld: the record must not claim it.
    assert "health" not in activities["life/consultant-advisory"]["disclosed"]
    assert activities["life/life-staff"]["disclosed"]["health"] == {"LifePolicy.healthClass": "allow"}
    assert {"rule": "life/health-class-stays-with-life", "withheld": ["LifePolicy.healthClass"]}.items() <= \
        life["restrictions"][0].items()
    assert records["owners"]["invest"]["activities"][-1]["disclosed"]["financial"] == {
        "Depot.marketValue": "generalize step 1000"}
    assert "compliance" not in {r for owner in records["owners"].values() for r in owner["recipients"]}


def test_records_of_processing_as_markdown(policy: PolicySet) -> None:
    text = policy_reports.records(policy, "markdown")
    assert text.startswith("# Record of processing activities (GDPR Art. 30)\n")
    for owner in ("bank", "invest", "life", "property", "rm"):
        assert f"\n## {owner} — " in text
    assert "health (LifePolicy.healthClass)" in text
    assert "- **Consent required:** lead_management for bank, life, property (invest/partners-leads)" in text
    assert "| invest/partners-leads | bank, life, property | lead_management | lead_management | " \
           "financial: Depot.marketValue (generalize step 1000)<br>investment profile: Depot.riskProfile (allow)" \
           "<br>contract: Depot.contractId (pseudonymize) |" \
           in text
    assert "- property/no-claims-for-sales: PropertyPolicy.claims withheld from consultant, customer, partner, " \
           "service_agent, compliance for lead_management" in text
    with pytest.raises(ValueError, match="unknown format"):
        policy_reports.records(policy, "csv")  # type: ignore[arg-type]


def test_check_reports_problems_of_a_broken_copy_by_file_and_line(tmp_path: Path) -> None:
    for path in AGREEMENTS.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    life = tmp_path / "life.yaml"
    life.write_text(life.read_text().replace("LifePolicy.premium: {generalize: {step: 10}}",
                                             "LifePolicy.premium: {mask: last4}"))
    lines = policy_reports.check(tmp_path, demo_catalogue(), {*ROLES, *PARTNERS})
    line_no = next(i for i, text in enumerate(life.read_text().splitlines(), 1) if "{mask: last4}" in text)
    assert lines == [f"{life}:{line_no}: LifePolicy.premium: mask last4 does not fit the field's type "
                     "(LifePolicy.premium is money); mask applies to string fields"]
