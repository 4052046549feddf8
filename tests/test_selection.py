"""Which partner fields a query selects per contract type (gateway/selection.py), on a small schema of its
own: the loopback tests see the outcome as partner calls; these pin the reading of the query itself —
aliases, named and inline fragments, fragments on the interface, @skip/@include with variables."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from gateway.selection import wanted_by_type

SEEN: list[dict[str, frozenset[str]]] = []


@strawberry.interface
class Contract:
    contract_id: strawberry.ID
    status: str | None = None


@strawberry.type
class BankAccount(Contract):
    iban: str | None = None
    interest_rate: float | None = None


@strawberry.type
class Loan(Contract):
    outstanding: str | None = None
    interest_rate: float | None = None


@strawberry.type
class Query:
    @strawberry.field
    def contracts(self, info: Info) -> list[Contract]:
        SEEN.append(wanted_by_type(info))
        return [BankAccount(contract_id=strawberry.ID("BNK-1")), Loan(contract_id=strawberry.ID("BNK-2"))]


SCHEMA = strawberry.Schema(Query, types=[BankAccount, Loan])


def wanted(query: str, variables: dict[str, Any] | None = None) -> dict[str, frozenset[str]]:
    SEEN.clear()
    result = SCHEMA.execute_sync(query, variable_values=variables)
    assert result.errors is None, result.errors
    [seen] = SEEN
    return {type_name: fields for type_name, fields in seen.items() if fields}


def test_fields_are_per_type_and_master_fields_are_none_of_the_partners() -> None:
    assert wanted("{ contracts { contractId status ... on BankAccount { iban } ... on Loan { outstanding } } }") \
        == {"BankAccount": {"iban"}, "Loan": {"outstanding"}}
    assert wanted("{ contracts { contractId status } }") == {}  # the master answers these: no partner call


def test_an_alias_asks_for_the_field_it_names() -> None:
    assert wanted("{ contracts { ... on BankAccount { a: iban b: iban rate: interestRate } } }") == {
        "BankAccount": {"iban", "interestRate"}}


def test_named_fragments_nested_and_on_the_interface() -> None:
    query = """{ contracts { ...Any } }
        fragment Any on Contract { status ...Accounts ... on Loan { ...Rates } }
        fragment Accounts on BankAccount { iban }
        fragment Rates on Loan { interestRate }"""
    assert wanted(query) == {"BankAccount": {"iban"}, "Loan": {"interestRate"}}


def test_a_fragment_on_one_type_does_not_widen_another() -> None:
    assert wanted("{ contracts { ... on Loan { interestRate outstanding } } }") == {
        "Loan": {"interestRate", "outstanding"}}


def test_skip_and_include_with_variables() -> None:
    query = """query($hide: Boolean!, $show: Boolean!) { contracts {
        ... on BankAccount { iban @skip(if: $hide) interestRate @include(if: $show) }
        ... on Loan @include(if: $show) { outstanding } } }"""
    assert wanted(query, {"hide": True, "show": False}) == {}
    assert wanted(query, {"hide": False, "show": True}) == {"BankAccount": {"iban", "interestRate"},
                                                            "Loan": {"outstanding"}}
