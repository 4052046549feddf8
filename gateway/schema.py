"""The GraphQL entry points: Query, Mutation, Customer and its aggregates, and the assembled schema."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext, Info

from gateway.errors import BadRequest, CustomerNotFound, Forbidden, is_safe
from gateway.selection import wanted_by_type
from gateway.types import (
    CONTRACT_CLASSES,
    Address,
    BankAccount,
    Consent,
    Consultant,
    Contract,
    Depot,
    LifePolicy,
    Loan,
    Money,
    Partner,
    ProductType,
    PropertyPolicy,
)
from resolvers import models
from resolvers.errors import PartnerError
from resolvers.joint import TYPE_OF_PRODUCT
from resolvers.master import encode_cursor
from resolvers.types import ContractRef
from resolvers.types import Money as MoneyValue

log = logging.getLogger("vcv.graphql")
KNOWN_PURPOSES = ("advisory", "service", "complaint", "lead_management", "self_service", "audit")
# Which partner value counts towards which side of the portfolio.
ASSET_FIELDS = {"BankAccount": "balance", "Depot": "marketValue", "LifePolicy": "surrenderValue"}
LIABILITY_FIELDS = {"Loan": "outstanding"}


@strawberry.type(description="Totals across partners, computed only from values the caller may see.")
class PortfolioSummary:
    assets: list[Money] = strawberry.field(description="Sum of balances, depot values and surrender values, "
                                                       "one entry per currency.")
    liabilities: list[Money] = strawberry.field(description="Sum of outstanding loan amounts per currency.")
    complete: bool = strawberry.field(description="False when some contract's value could not be counted "
                                                  "(partner unavailable or value not visible to you).")
    missing_contracts: list[strawberry.ID] = strawberry.field(
        description="Contracts whose value is not in the totals.")


@strawberry.type(description="A customer of the relationship manager, joined with their contracts at partners.")
class Customer:
    row: strawberry.Private[models.Customer]

    @strawberry.field(description="Customer ID, e.g. C-000001.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row.id)

    @strawberry.field(description="Given name.")
    def given_name(self) -> str | None:
        return self.row.given_name

    @strawberry.field(description="Family name.")
    def family_name(self) -> str | None:
        return self.row.family_name

    @strawberry.field(description="Date of birth.")
    def birth_date(self) -> date | None:
        return self.row.birth_date

    @strawberry.field(description="Private e-mail address.")
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field(description="Phone number.")
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field(description="Postal address.")
    def address(self) -> Address | None:
        r = self.row
        if r.street is None and r.city is None:
            return None
        return Address(street=r.street, postal_code=r.postal_code, city=r.city, country=r.country)

    @strawberry.field(description="Customer segment: retail, affluent, private or business.")
    def segment(self) -> str | None:
        return self.row.segment

    @strawberry.field(description="The consultant who advises this customer.")
    async def consultant(self, info: Info) -> Consultant | None:
        row = await info.context.master_loaders.consultants.load(self.row.consultant_id)
        return None if row is None else Consultant(id=strawberry.ID(row.id), name=row.name, email=row.email)

    @strawberry.field(description="Consents given by the customer, including withdrawn ones.")
    async def consents(self, info: Info) -> list[Consent] | None:
        return [Consent.of(r) for r in await info.context.master_loaders.consents.load(self.row.id)]

    @strawberry.field(description="The customer's contracts at all partners, optionally filtered. Values are "
                                  "fetched live: one batched call per partner, partners in parallel.")
    async def contracts(self, info: Info, partner: strawberry.ID | None = None,
                        product_type: ProductType | None = None) -> list[Contract]:  # type: ignore[valid-type]
        refs: list[ContractRef] = await info.context.master_loaders.contracts.load(self.row.id)
        wanted = wanted_by_type(info)
        out: list[Contract] = []
        for ref in refs:
            if partner is not None and ref.partner_id != partner:
                continue
            if product_type is not None and ref.product_type != product_type.value:
                continue
            type_name = TYPE_OF_PRODUCT[ref.product_type]
            out.append(CONTRACT_CLASSES[type_name](ref=ref, wanted=wanted[type_name]))  # type: ignore[call-arg]
        return out

    @strawberry.field(description="Assets and liabilities across partners, per currency.")
    async def portfolio(self, info: Info) -> PortfolioSummary | None:
        refs: list[ContractRef] = await info.context.master_loaders.contracts.load(self.row.id)
        fields = ASSET_FIELDS | LIABILITY_FIELDS
        counted = [r for r in refs if TYPE_OF_PRODUCT[r.product_type] in fields]

        async def one(ref: ContractRef) -> tuple[ContractRef, MoneyValue | None, bool]:
            name = fields[TYPE_OF_PRODUCT[ref.product_type]]
            try:
                data = await info.context.partners.load(ref.partner_id, ref.contract_id, frozenset({name}))
            except PartnerError:
                return ref, None, False
            return ref, data.values.get(name), True

        assets: dict[str, Decimal] = defaultdict(Decimal)
        liabilities: dict[str, Decimal] = defaultdict(Decimal)
        missing: list[strawberry.ID] = []
        for ref, value, ok in await asyncio.gather(*(one(r) for r in counted)):
            type_name = TYPE_OF_PRODUCT[ref.product_type]
            if not ok:
                missing.append(strawberry.ID(ref.contract_id))
            elif value is not None:
                side = assets if type_name in ASSET_FIELDS else liabilities
                side[value.currency] += value.amount
        return PortfolioSummary(
            assets=[Money(amount=a, currency=c) for c, a in sorted(assets.items())],
            liabilities=[Money(amount=a, currency=c) for c, a in sorted(liabilities.items())],
            complete=not missing, missing_contracts=missing,
        )


@strawberry.type(description="One customer in a page of results.")
class CustomerEdge:
    cursor: str = strawberry.field(description="Opaque cursor; pass as `after` to continue after this one.")
    node: Customer = strawberry.field(description="The customer.")


@strawberry.type(description="Cursor pagination state.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more customers follow.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge on this page.")


@strawberry.type(description="A page of the customers the caller may see, ordered by customer ID.")
class CustomerConnection:
    edges: list[CustomerEdge] = strawberry.field(description="The customers on this page.")
    page_info: PageInfo = strawberry.field(description="Whether and where to continue.")


def _no_customer_data(info: Info) -> None:
    if info.context.caller.role == "compliance":
        raise Forbidden("compliance officers do not see customer data; use the audit queries")


@strawberry.type(description="Read the integrated customer view.")
class Query:
    @strawberry.field(description="One customer, if the caller may see them. A customer you may not see is "
                                  "reported exactly like one that does not exist.")
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        _no_customer_data(info)
        row = await info.context.master.customer(info.context.visibility, str(id))
        if row is None:
            raise CustomerNotFound(str(id))
        return Customer(row=row)  # type: ignore[call-arg]

    @strawberry.field(description="Customers the caller may see, searched by name or ID, cursor-paginated.")
    async def customers(self, info: Info, search: str | None = None, first: int | None = 20,
                        after: str | None = None) -> CustomerConnection:
        _no_customer_data(info)
        first = 20 if first is None else first
        if not 0 <= first <= 100:
            raise BadRequest("`first` must be between 0 and 100")
        try:
            rows, more = await info.context.master.customers(info.context.visibility, search, first, after)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        edges = [CustomerEdge(cursor=encode_cursor(r.id), node=Customer(row=r)) for r in rows]  # type: ignore[call-arg]
        return CustomerConnection(edges=edges, page_info=PageInfo(
            has_next_page=more, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The caller's own customer record (role customer).")
    async def me(self, info: Info) -> Customer | None:
        caller = info.context.caller
        if caller.role != "customer" or not caller.customer_id:
            raise Forbidden("only a customer has a record of their own")
        row = await info.context.master.customer(info.context.visibility, caller.customer_id)
        return None if row is None else Customer(row=row)  # type: ignore[call-arg]

    @strawberry.field(description="The partners of the alliance.")
    def partners(self, info: Info) -> list[Partner]:
        return [Partner(id=strawberry.ID(c.id), name=c.name, contract_prefix=c.contract_prefix,
                        product_types=[ProductType[p] for p in c.product_types])
                for c in info.context.partner_configs.values()]


@strawberry.type(description="Change data the caller owns.")
class Mutation:
    @strawberry.mutation(description="Grant or withdraw the caller's consent for a purpose (role customer). "
                                     "A withdrawal takes effect on the very next request.")
    async def set_consent(self, info: Info, purpose: str, granted: bool) -> Consent:
        caller = info.context.caller
        if caller.role != "customer" or not caller.customer_id:
            raise Forbidden("only customers can grant or withdraw their own consents")
        if purpose not in KNOWN_PURPOSES:
            raise BadRequest(f"unknown purpose; use one of {', '.join(KNOWN_PURPOSES)}")
        row = await info.context.master.set_consent(caller.customer_id, purpose, granted,
                                                    f"self-service:{caller.subject}:{info.context.request_id}")
        return Consent.of(row)


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Errors meant for the caller (not found, partner down, bad input) are not incidents: log one line.
        # Anything else is a bug and keeps its traceback, which the caller never sees.
        for error in errors:
            if is_safe(error):
                log.info("request error: %s %s", error.extensions.get("code") if error.extensions else "-",
                         error.message)
            else:
                log.error("unexpected error", exc_info=error.original_error)


def build_schema(*, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 2000) -> strawberry.Schema:
    return Schema(
        query=Query, mutation=Mutation, types=[BankAccount, Loan, LifePolicy, PropertyPolicy, Depot],
        extensions=[
            QueryDepthLimiter(max_depth=max_depth), MaxAliasesLimiter(max_alias_count=max_aliases),
            MaxTokensLimiter(max_token_count=max_tokens),
            MaskErrors(should_mask_error=lambda e: not is_safe(e), error_message="Internal error."),
        ],
    )

