"""Loading agreement files: what a data-protection officer sees when a file is wrong (file and line), and
what a valid file turns into (wildcards, overrides, parsed treatments)."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from privacy.agreements import AgreementError, load_agreements, schema
from privacy.policy import PolicySet
from privacy.treatments import Treatment

CATALOGUE = {
    "bank": {"BankAccount.iban": "string", "BankAccount.balance": "money", "BankAccount.interestRate": "float",
             "BankAccount.recentTransactions": "[Transaction]", "Loan.outstanding": "money",
             "Loan.maturityDate": "date"},
    "life": {"LifePolicy.healthClass": "string", "LifePolicy.premium": "money"},
    "rm": {"Customer.id": "id", "Customer.email": "string", "Customer.birthDate": "date",
           "Customer.address": "object"},
}
CONSUMERS = {"consultant", "customer", "partner", "service_agent", "compliance", "bank", "life"}

HEADER = "owner: bank\nversion: 1\nrules:\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(directory: Path) -> PolicySet:
    return load_agreements(directory, CATALOGUE, known_consumers=CONSUMERS)


def problems(directory: Path) -> list[str]:
    with pytest.raises(AgreementError) as caught:
        load(directory)
    return str(caught.value).splitlines()


def one_problem(tmp_path: Path, text: str) -> str:
    """The single problem reported for a bank.yaml with this text."""
    path = write(tmp_path, "bank.yaml", text)
    found = problems(tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:")
    return found[0]


RULE = """
owner: bank
version: 1
rules:
  - id: staff
    consumers: [bank]
    purposes: [service]
    fields:
      BankAccount.interestRate: allow
      {field}: {treatment}
"""


@pytest.mark.parametrize(("field", "treatment", "complaint"), [
    ("BankAccount.balance", "{mask: last4}", "mask last4 does not fit the field's type (BankAccount.balance is money)"),
    ("BankAccount.iban", "{generalize: {step: 100}}", "does not fit the field's type (BankAccount.iban is string)"),
    ("Loan.maturityDate", "{generalize: {step: 100}}", "dates take {generalize: {to: year}}"),
    ("Loan.outstanding", "{generalize: {to: year}}", "numbers take {generalize: {step: N}}"),
    ("Loan.outstanding", "pseudonymize", "pseudonymize applies to id and string fields"),
    ("BankAccount.recentTransactions", "{mask: full}", "is [Transaction]"),
])
def test_a_treatment_that_does_not_fit_the_field_names_file_and_line(tmp_path: Path, field: str, treatment: str,
                                                                     complaint: str) -> None:
    problem = one_problem(tmp_path, RULE.replace("{field}", field).replace("{treatment}", treatment))
    assert problem.startswith(f"{tmp_path / 'bank.yaml'}:9: {field}: ")
    assert complaint in problem


@pytest.mark.parametrize(("field", "complaint"), [
    ("BankAccount.ibna", "unknown field 'BankAccount.ibna' (did you mean 'BankAccount.iban'?)"),
    ("BankAcount.iban", "unknown type 'BankAcount' (did you mean 'BankAccount'?); bank's types are BankAccount, Loan"),
    ("LifePolicy.healthClass", "type 'LifePolicy' is not bank's data; it belongs in the agreement of life"),
    ("Depot.*", "unknown type 'Depot'"),
])
def test_unknown_fields_and_types_name_file_and_line(tmp_path: Path, field: str, complaint: str) -> None:
    problem = one_problem(tmp_path, RULE.replace("{field}", field).replace("{treatment}", "allow"))
    assert problem.startswith(f"{tmp_path / 'bank.yaml'}:9: {complaint}")


def test_unknown_owner_consumer_purpose_and_consent_each_name_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bank.yaml", """
        owner: bnk
        version: 1
        rules:
          - id: staff
            consumers: [bank, lfe]
            purposes:
              - service
              - advisroy
            consent: marketing
            fields: {BankAccount.iban: allow}
        """)
    assert problems(tmp_path) == [
        f"{path}:1: unknown owner 'bnk' (did you mean 'bank'?); owners are bank, life, rm",
        f"{path}:5: unknown consumer 'lfe' (did you mean 'life'?); consumers are roles or partner IDs: "
        "bank, compliance, consultant, customer, life, partner, service_agent",
        f"{path}:8: unknown purpose 'advisroy' (did you mean 'advisory'?); purposes are advisory, audit, "
        "complaint, lead_management, self_service, service",
        f"{path}:9: consent unknown purpose 'marketing'; purposes are advisory, audit, complaint, "
        "lead_management, self_service, service",
    ]


@pytest.mark.parametrize(("text", "expected"), [
    (HEADER + "  - consumers: [bank]\n    purposes: [service]\n    fields: {BankAccount.iban: allow}\n",
     ":4: rules[0] is missing 'id'"),
    (HEADER + "  - id: a\n    consumers: bank\n    purposes: [service]\n    fields: {BankAccount.iban: allow}\n",
     ":5: rules[0].consumers: 'bank' is not of type 'array'"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purpose: [service]\n    fields: {BankAccount.iban: allow}\n",
     ":6: unknown key 'purpose' in rules[0]"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purposes: []\n    fields: {BankAccount.iban: allow}\n",
     ":6: rules[0].purposes: [] should be non-empty"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purposes: [service]\n    fields:\n"
              "      BankAccount.iban: {mask: lst4}\n",
     ":8: rules[0].fields.BankAccount.iban.mask: 'lst4' is not one of ['last4', 'email', 'initials', 'full']"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purposes: [service]\n    fields:\n"
              "      BankAccount.iban: mask\n",
     ":8: BankAccount.iban: 'mask' is not a treatment; write one of allow, redact, pseudonymize"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purposes: [service]\n    fields:\n"
              "      Loan.outstanding: {generalize: {step: -5}}\n",
     ":8: rules[0].fields.Loan.outstanding.generalize.step: -5 is less than or equal to the minimum of 0"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purposes: [service]\n    fields:\n"
              "      BankAccount.iban: allow\n      iban: allow\n",
     ":9: 'iban' is not a field name; write Type.field (e.g. BankAccount.iban) or Type.*"),
    ("owner: bank\nrules: []\n", ":1: the agreement is missing 'version'"),
    (HEADER + "  - id: a\n    consumers: [bank]\n    purposes: [service]\n    fields:\n"
              "      BankAccount.iban: {pseudonymize: {per: partner}}\n",
     ":8: rules[0].fields.BankAccount.iban.pseudonymize.per: 'consumer' was expected"),
])
def test_format_violations_are_reported_at_their_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "bank.yaml", text)
    assert any(problem.startswith(f"{path}{expected}") for problem in problems(tmp_path))


def test_yaml_syntax_errors_empty_files_and_duplicate_keys_name_their_line(tmp_path: Path) -> None:
    broken = write(tmp_path, "bank.yaml", "owner: bank\nversion: 1\nrules:\n  - id: [unclosed\n")
    empty = write(tmp_path, "life.yaml", "")
    duplicate = write(tmp_path, "rm.yaml", """
        owner: rm
        version: 1
        rules:
          - id: a
            consumers: [consultant]
            purposes: [advisory]
            fields:
              Customer.email: allow
              Customer.id: allow
              Customer.email: redact
        """)
    found = problems(tmp_path)
    assert found[0].startswith(f"{broken}:5: not valid YAML")
    assert found[1] == f"{empty}:1: the file is empty; an agreement needs owner, version and rules"
    assert found[2] == f"{duplicate}:10: 'Customer.email' appears twice in one mapping (first on line 8)"


def test_rule_ids_are_unique_within_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bank.yaml", HEADER + "".join(
        f"  - id: staff\n    consumers: [bank]\n    purposes: [{p}]\n    fields: {{BankAccount.iban: allow}}\n"
        for p in ("service", "advisory")))
    assert problems(tmp_path) == [f"{path}:8: rule id 'staff' is used twice (first on line 4)"]


def test_an_owner_has_one_agreement_file(tmp_path: Path) -> None:
    first = write(tmp_path, "bank.yaml", "owner: bank\nversion: 1\nrules: []\n")
    second = write(tmp_path, "old-bank.yaml", "# superseded\nowner: bank\nversion: 2\nrules: []\n")
    assert problems(tmp_path) == [f"{second}:2: owner 'bank' already has an agreement in {first}; one file per owner"]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "bank.yaml", RULE.replace("{field}", "BankAccount.balance").replace("{treatment}", "{mask: full}"))
    write(tmp_path, "life.yaml", "owner: life\nversion: 1\nrules:\n  - id: x\n")
    found = problems(tmp_path)
    assert [Path(p.split(":")[0]).name for p in found] == ["bank.yaml"] + ["life.yaml"] * 3
    assert found[1:] == [f"{tmp_path / 'life.yaml'}:4: rules[0] is missing '{key}'"
                         for key in ("consumers", "purposes", "fields")]


def test_a_missing_or_empty_directory_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: no such directory of agreement files"]
    assert problems(tmp_path) == [f"{tmp_path}: no agreement files (*.yaml) in this directory"]


def test_wildcards_expand_and_an_explicit_field_overrides_its_wildcard_whatever_the_order(tmp_path: Path) -> None:
    write(tmp_path, "bank.yaml", """
        owner: bank
        version: 3
        description: Test bank
        rules:
          - id: consultant
            description: advice
            consumers: [consultant]
            purposes: [advisory]
            consent: advisory
            fields:
              BankAccount.iban: {mask: last4}
              "BankAccount.*": allow
              Loan.*: allow
              Loan.outstanding: {generalize: {step: 1000.0}}
              Loan.maturityDate: {generalize: {to: year}}
        """)
    agreement = load(tmp_path).agreements["bank"]
    (rule,) = agreement.rules
    assert (agreement.version, agreement.description, rule.description) == (3, "Test bank", "advice")
    assert (rule.qualified_id, rule.consumers, rule.purposes, rule.consent) == (
        "bank/consultant", ("consultant",), ("advisory",), "advisory")
    assert dict(rule.fields) == {
        "BankAccount.iban": Treatment("mask", "last4"),
        "BankAccount.balance": Treatment("allow"),
        "BankAccount.interestRate": Treatment("allow"),
        "BankAccount.recentTransactions": Treatment("allow"),
        "Loan.outstanding": Treatment("generalize", Decimal(1000)),
        "Loan.maturityDate": Treatment("generalize", "year"),
    }
    assert rule.field_lines["BankAccount.iban"] == 11
    assert rule.field_lines["BankAccount.balance"] == 12
    assert (rule.line, rule.where) == (5, "bank.yaml:5")
    assert str(rule.fields["Loan.outstanding"]) == "generalize step 1000"


def test_a_wildcard_treatment_must_fit_every_field_of_the_type(tmp_path: Path) -> None:
    problem = one_problem(tmp_path, RULE.replace("{field}", "Loan.*").replace("{treatment}",
                                                                              "{generalize: {step: 10}}"))
    assert problem == (f"{tmp_path / 'bank.yaml'}:9: Loan.*: generalize step 10 does not fit the field's type "
                       "(Loan.maturityDate is date); generalize applies to number and money fields; "
                       "dates take {generalize: {to: year}}")


def test_an_owner_without_a_file_has_no_rules(tmp_path: Path) -> None:
    write(tmp_path, "bank.yaml", RULE.replace("{field}", "Loan.*").replace("{treatment}", "allow"))
    policy = load(tmp_path)
    assert set(policy.agreements) == {"bank"}
    assert policy.owners() == ("bank", "life", "rm")


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    assert schema()["required"] == ["owner", "version", "rules"]


def test_pseudonyms_can_be_narrowed_to_each_consumer(tmp_path: Path) -> None:
    write(tmp_path, "rm.yaml", """
        owner: rm
        version: 1
        rules:
          - id: partners
            consumers: [partner]
            purposes: [service]
            fields: {Customer.id: {pseudonymize: {per: consumer}}}
          - id: partners-wide
            consumers: [partner]
            purposes: [service]
            fields: {Customer.id: pseudonymize}
    """)
    decision = load(tmp_path).decide("rm", "Customer.id", "bank", "partner", "service", frozenset())
    # Both rules match; narrowing to the consumer is the more restrictive of the two, whatever the order.
    assert decision.treatment == Treatment("pseudonymize", "consumer")
    assert str(decision.treatment) == "pseudonymize per consumer" and decision.rule == "rm/partners"
