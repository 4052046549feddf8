"""The joint data model as GraphQL types (SPEC §3). Names are a public contract: add, never rename.
Every value that comes from a partner or is governed by policy is nullable, so a hidden field or a failed
partner never nulls its parent."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers import (
    CONTRACT_ID,
    MASTER_OWNER,
    PRODUCT_TYPES,
    ConnectorConfig,
    ContractRef,
    ContractValues,
    MoneyValue,
    PartnerError,
    attribute_name,
    models,
)

_PRODUCT_DESCRIPTIONS = {
    "CURRENT_ACCOUNT": "Current (checking) account: a BankAccount.",
    "SAVINGS": "Savings account: a BankAccount.",
    "LOAN": "Consumer or business loan: a Loan.",
    "MORTGAGE": "Loan secured on property: a Loan.",
    "LIFE": "Life insurance: a LifePolicy.",
    "DISABILITY": "Disability insurance: a LifePolicy.",
    "ANNUITY": "Annuity (pension) insurance: a LifePolicy.",
    "CAR": "Motor insurance: a PropertyPolicy.",
    "HOUSEHOLD": "Home contents insurance: a PropertyPolicy.",
    "LIABILITY": "Personal liability insurance: a PropertyPolicy.",
    "DEPOT": "Securities account at the brokerage: a Depot.",
}

# Built from the joint model's list (a functional Enum), which mypy cannot follow into strawberry's overloads.
ProductType = strawberry.enum(  # type: ignore[call-overload]
    Enum("ProductType",
         {p: strawberry.enum_value(p, description=_PRODUCT_DESCRIPTIONS[p]) for p in PRODUCT_TYPES}),
    description="The kind of product a contract is; decides its GraphQL type.",
)


@strawberry.type(description="An exact amount of money. Amounts are decimals, never floating point.")
class Money:
    amount: Decimal = strawberry.field(description="Exact decimal amount, serialised as a string.")
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. EUR.")

    @staticmethod
    def of(value: MoneyValue | None) -> Money | None:
        return None if value is None else Money(amount=value.amount, currency=value.currency)


@strawberry.type(description="A member of the alliance that holds contracts: a bank, an insurer, a brokerage.")
class Partner:
    id: strawberry.ID = strawberry.field(description="Short partner ID, e.g. `bank`.")
    name: str = strawberry.field(description="Display name of the partner.")
    contract_prefix: str = strawberry.field(description="Prefix of this partner's contract IDs, e.g. BNK.")
    product_types: list[ProductType] = strawberry.field(  # type: ignore[valid-type]
        description="Product types this partner offers through the alliance.")

    @staticmethod
    def of(partner_id: str, config: ConnectorConfig | None) -> Partner:
        """The partner as configured; a partner no longer configured (after a reload) by its ID alone."""
        return Partner(id=strawberry.ID(partner_id), name=config.name if config else partner_id,
                       contract_prefix=config.contract_prefix if config else "",
                       product_types=[ProductType[p] for p in (config.product_types if config else ())])


@strawberry.type(description="Postal address held in the customer master.")
class Address:
    street: str | None = strawberry.field(description="Street and house number.")
    postal_code: str | None = strawberry.field(description="Postal code.")
    city: str | None = strawberry.field(description="City.")
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country code.")


@strawberry.type(description="The relationship manager's consultant who advises a customer.")
class Consultant:
    id: strawberry.ID = strawberry.field(description="Consultant ID, e.g. K-001.")
    name: str | None = strawberry.field(description="Consultant's name.")
    email: str | None = strawberry.field(description="Consultant's business e-mail.")


@strawberry.type(description="A customer's consent to processing for one purpose.")
class Consent:
    purpose: str = strawberry.field(description="The purpose consented to, e.g. lead_management.")
    granted_at: datetime = strawberry.field(description="When the consent was given.")
    withdrawn_at: datetime | None = strawberry.field(description="When it was withdrawn; null while active.")
    active: bool = strawberry.field(description="True while granted and not withdrawn.")

    @staticmethod
    def of(row: models.ConsentRow) -> Consent:
        return Consent(purpose=row.purpose, granted_at=row.granted_at, withdrawn_at=row.withdrawn_at,
                       active=row.withdrawn_at is None)


@strawberry.type(description="One booking on a bank account.")
class Transaction:
    booking_date: date | None = strawberry.field(description="Booking date.")
    amount: Money | None = strawberry.field(description="Signed amount; negative is a debit.")
    counterparty: str | None = strawberry.field(description="Who the money came from or went to.")
    reference: str | None = strawberry.field(description="The bank's booking reference.")


@strawberry.type(description="A claim made under a property & casualty policy.")
class Claim:
    claim_id: strawberry.ID | None = strawberry.field(description="The insurer's claim number.")
    reported_on: date | None = strawberry.field(description="When the claim was reported.")
    amount: Money | None = strawberry.field(description="Claimed or settled amount.")
    status: str | None = strawberry.field(description="open, settled or rejected.")


@strawberry.type(description="One security held in a depot.")
class Position:
    isin: str | None = strawberry.field(description="ISIN of the security.")
    name: str | None = strawberry.field(description="Name of the security.")
    quantity: Decimal | None = strawberry.field(description="Number of units held.")
    value: Money | None = strawberry.field(description="Market value of the position.")


def _money_rows(cls: type, rows: list[dict[str, Any]] | None) -> list[Any] | None:
    if rows is None:
        return None
    return [cls(**{attribute_name(k): (Money.of(v) if isinstance(v, MoneyValue) else v) for k, v in row.items()})
            for row in rows]


@strawberry.interface(description="A contract a customer holds with a partner. The customer master supplies "
                                  "the fields of this interface; the concrete types' other fields are "
                                  "fetched live from the partner.")
class Contract:
    ref: strawberry.Private[ContractRef]
    wanted: strawberry.Private[frozenset[str]]
    # the customer's active consents: agreements may depend on them
    consents: strawberry.Private[frozenset[str]]
    # The partner's answer for the visible fields of `wanted`, fetched by Customer.contracts for all contracts
    # at once, so that the field resolvers below only apply the agreement and never wait.
    # Plain leaves, set when Customer.contracts builds the contract: no resolver, no Info object per field.
    partner: Partner = strawberry.field(description="The partner that holds this contract.")
    product_type: ProductType = strawberry.field(  # type: ignore[valid-type]
        description="Product type of the contract.")
    fetched: strawberry.Private[ContractValues | PartnerError | None] = None

    @strawberry.field(description="Contract ID, prefixed by the partner (BNK-, LIF-, PNC-, INV-); a pseudonym "
                                  "where the partner's agreement says so.")
    def contract_id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(info.context.guard.reveal(info.path.as_list(), self.ref.partner_id,
                                                       f"{type(self).__name__}.{CONTRACT_ID}", self.ref.contract_id,
                                                       self.consents))

    @strawberry.field(description="Contract status as recorded in the customer master.")
    def status(self, info: Info) -> str | None:
        return info.context.guard.reveal(info.path.as_list(), MASTER_OWNER, "Contract.status", self.ref.status,
                                         self.consents)

    @strawberry.field(description="Start date of the contract.")
    def start_date(self, info: Info) -> date | None:
        return info.context.guard.reveal(info.path.as_list(), MASTER_OWNER, "Contract.startDate",
                                         self.ref.start_date, self.consents)

    @strawberry.field(description="When the contract ended; null while it runs (see `status`).")
    def end_date(self, info: Info) -> date | None:
        return info.context.guard.reveal(info.path.as_list(), MASTER_OWNER, "Contract.endDate",
                                         self.ref.end_date, self.consents)

    def value(self, info: Info, name: str) -> Any:
        """One partner-supplied value as the caller may see it. A hidden field was never fetched; a failed
        partner call fails each of its visible fields, with the partner's code, at that field's path."""
        failed = self.fetched if isinstance(self.fetched, PartnerError) else None
        raw = self.fetched.values.get(name) if isinstance(self.fetched, ContractValues) else None
        return info.context.guard.reveal(info.path.as_list(), self.ref.partner_id, f"{type(self).__name__}.{name}",
                                         raw, self.consents, failed=failed and PartnerError(
                                             failed.code, failed.partner, failed.detail))

    def money(self, info: Info, name: str) -> Money | None:
        return Money.of(self.value(info, name))


@strawberry.type(description="A current or savings account at the bank.")
class BankAccount(Contract):
    @strawberry.field(description="IBAN of the account.")
    def iban(self, info: Info) -> str | None:
        return self.value(info, "iban")

    @strawberry.field(description="Current balance.")
    def balance(self, info: Info) -> Money | None:
        return self.money(info, "balance")

    @strawberry.field(description="Agreed overdraft limit.")
    def overdraft_limit(self, info: Info) -> Money | None:
        return self.money(info, "overdraftLimit")

    @strawberry.field(description="Interest rate in percent per year.")
    def interest_rate(self, info: Info) -> float | None:
        return self.value(info, "interestRate")

    @strawberry.field(description="The most recent bookings, newest first.")
    def recent_transactions(
        self, info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many bookings, at most.")] = 5,
    ) -> list[Transaction] | None:
        rows = self.value(info, "recentTransactions")
        ordered = None if rows is None else sorted(rows, key=lambda r: r["bookingDate"] or date.min, reverse=True)
        limit = 5 if first is None else max(0, first)
        return _money_rows(Transaction, ordered[:limit] if ordered is not None else None)


@strawberry.type(description="A consumer loan or mortgage at the bank.")
class Loan(Contract):
    @strawberry.field(description="Amount originally lent.")
    def principal(self, info: Info) -> Money | None:
        return self.money(info, "principal")

    @strawberry.field(description="Amount still owed.")
    def outstanding(self, info: Info) -> Money | None:
        return self.money(info, "outstanding")

    @strawberry.field(description="Interest rate in percent per year.")
    def interest_rate(self, info: Info) -> float | None:
        return self.value(info, "interestRate")

    @strawberry.field(description="Date of the last instalment.")
    def maturity_date(self, info: Info) -> date | None:
        return self.value(info, "maturityDate")


@strawberry.type(description="A life, disability or annuity policy at the life insurer.")
class LifePolicy(Contract):
    @strawberry.field(description="Sum insured.")
    def sum_insured(self, info: Info) -> Money | None:
        return self.money(info, "sumInsured")

    @strawberry.field(description="Premium per payment period.")
    def premium(self, info: Info) -> Money | None:
        return self.money(info, "premium")

    @strawberry.field(description="monthly, quarterly or yearly.")
    def payment_frequency(self, info: Info) -> str | None:
        return self.value(info, "paymentFrequency")

    @strawberry.field(description="Named beneficiaries.")
    def beneficiaries(self, info: Info) -> list[str] | None:
        return self.value(info, "beneficiaries")

    @strawberry.field(description="Current surrender value; null for disability cover.")
    def surrender_value(self, info: Info) -> Money | None:
        return self.money(info, "surrenderValue")

    @strawberry.field(description="Underwriting health class (special category data).")
    def health_class(self, info: Info) -> str | None:
        return self.value(info, "healthClass")


@strawberry.type(description="A car, household or liability policy at the property & casualty insurer.")
class PropertyPolicy(Contract):
    @strawberry.field(description="car, household or liability.")
    def kind(self, info: Info) -> str | None:
        return self.value(info, "kind")

    @strawberry.field(description="Yearly premium.")
    def premium(self, info: Info) -> Money | None:
        return self.money(info, "premium")

    @strawberry.field(description="Deductible per claim.")
    def deductible(self, info: Info) -> Money | None:
        return self.money(info, "deductible")

    @strawberry.field(description="What is insured, e.g. a car or a flat.")
    def insured_object(self, info: Info) -> str | None:
        return self.value(info, "insuredObject")

    @strawberry.field(description="Claims made under the policy.")
    def claims(self, info: Info) -> list[Claim] | None:
        return _money_rows(Claim, self.value(info, "claims"))


@strawberry.type(description="A securities depot at the brokerage.")
class Depot(Contract):
    @strawberry.field(description="Market value of all positions.")
    def market_value(self, info: Info) -> Money | None:
        return self.money(info, "marketValue")

    @strawberry.field(description="The customer's risk profile on record.")
    def risk_profile(self, info: Info) -> str | None:
        return self.value(info, "riskProfile")

    @strawberry.field(description="Securities held.")
    def positions(self, info: Info) -> list[Position] | None:
        return _money_rows(Position, self.value(info, "positions"))


CONTRACT_CLASSES: dict[str, type[Contract]] = {
    "BankAccount": BankAccount, "Loan": Loan, "LifePolicy": LifePolicy, "PropertyPolicy": PropertyPolicy,
    "Depot": Depot,
}
