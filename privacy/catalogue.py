"""The catalogue the gateway hands in: for each data owner, the fields it supplies and their kinds.

Fields are named `Type.field` (`BankAccount.iban`); kinds are `string`, `id`, `float`, `decimal`, `date`,
`money`, `object` and lists such as `[string]` or `[Transaction]`. Privacy never imports the GraphQL
layer; this mapping is all it knows about field types.
"""

from __future__ import annotations

from collections.abc import Mapping

Catalogue = Mapping[str, Mapping[str, str]]

WILDCARD = "*"


def split_field(name: str) -> tuple[str, str]:
    """`BankAccount.iban` -> (`BankAccount`, `iban`)."""
    type_name, _, field = name.partition(".")
    return type_name, field


def types_of(catalogue: Catalogue, owner: str) -> set[str]:
    return {split_field(name)[0] for name in catalogue.get(owner, {})}


def fields_of_type(catalogue: Catalogue, owner: str, type_name: str) -> list[str]:
    return [name for name in catalogue.get(owner, {}) if split_field(name)[0] == type_name]


def owners_of_type(catalogue: Catalogue, type_name: str) -> list[str]:
    """Owners that supply fields of this type (usually one; two banks would both supply BankAccount)."""
    return sorted(owner for owner in catalogue if type_name in types_of(catalogue, owner))
