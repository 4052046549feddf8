"""The shapes that flow from the data layer up to the GraphQL layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class MoneyValue:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class ContractValues:
    """One contract's partner-supplied values, already in joint-model names and types."""

    contract_id: str
    partner_id: str
    product_type: str
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContractRef:
    """The master's side of a contract."""

    contract_id: str
    customer_id: str
    partner_id: str
    product_type: str
    status: str
    start_date: date
    end_date: date | None = None  # set when the contract ended (status terminated); None while it runs
