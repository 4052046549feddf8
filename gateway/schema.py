"""The GraphQL entry points: Query, Mutation, Customer and its aggregates, and the assembled schema."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext, Info

from gateway.cost import DEFAULT_MAX_COST, QueryCostLimit
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
from privacy.guard import Guard
from privacy.treatments import PSEUDONYM_PREFIX
from privacy.vocabulary import PURPOSES
from resolvers import models
from resolvers.errors import PartnerError
from resolvers.joint import CONTRACT_ID, MASTER_OWNER, TYPE_OF_PRODUCT
from resolvers.types import ContractRef, ContractValues
from resolvers.types import Money as MoneyValue

log = logging.getLogger("vcv.graphql")
# Which partner value counts towards which side of the portfolio.
ASSET_FIELDS = {"BankAccount": "balance", "Depot": "marketValue", "LifePolicy": "surrenderValue"}
LIABILITY_FIELDS = {"Loan": "outstanding"}


@strawberry.type(description="Totals across partners, computed only from values the caller may see.")
class PortfolioSummary:
    assets: list[Money] = strawberry.field(description="Sum of balances, depot values and surrender values, "
                                                       "one entry per currency.")
    liabilities: list[Money] = strawberry.field(description="Sum of outstanding loan amounts per currency.")
    complete: bool = strawberry.field(description="False when the value of a contract listed to you could not "
                                                  "be counted (partner unavailable or value not visible to you "
                                                  "in full).")
    missing_contracts: list[strawberry.ID] = strawberry.field(
        description="Contracts whose value is not in the totals.")


async def active_consents(info: Info, customer_id: str) -> frozenset[str]:
    """Purposes this customer has granted and not withdrawn, read fresh for every request."""
    rows = await info.context.master_loaders.consents.load(customer_id)
    return frozenset(r.purpose for r in rows if r.withdrawn_at is None)


@strawberry.type(description="A customer of the relationship manager, joined with their contracts at partners. "
                             "Every field passes the data owner's agreement: see extensions.redactions.")
class Customer:
    row: strawberry.Private[models.Customer]
    consents_active: strawberry.Private[frozenset[str]]

    def _show(self, info: Info, name: str, value: Any) -> Any:
        return info.context.guard.reveal(info.path.as_list(), MASTER_OWNER, f"Customer.{name}", value,
                                         self.consents_active)

    def _hidden(self, info: Info, name: str) -> bool:
        """True (and reported) when a derived field must not even be computed."""
        guard = info.context.guard
        decision = guard.decide(MASTER_OWNER, f"Customer.{name}", self.consents_active)
        if decision.treatment.kind != "allow":
            guard.note(info.path.as_list(), MASTER_OWNER, f"Customer.{name}", decision)
        return decision.redacted

    @strawberry.field(description="Customer ID, e.g. C-000001 (a pseudonym where the agreement says so).")
    def id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(self._show(info, "id", self.row.id))

    @strawberry.field(description="Given name.")
    def given_name(self, info: Info) -> str | None:
        return self._show(info, "givenName", self.row.given_name)

    @strawberry.field(description="Family name.")
    def family_name(self, info: Info) -> str | None:
        return self._show(info, "familyName", self.row.family_name)

    @strawberry.field(description="Date of birth.")
    def birth_date(self, info: Info) -> date | None:
        return self._show(info, "birthDate", self.row.birth_date)

    @strawberry.field(description="Private e-mail address.")
    def email(self, info: Info) -> str | None:
        return self._show(info, "email", self.row.email)

    @strawberry.field(description="Phone number.")
    def phone(self, info: Info) -> str | None:
        return self._show(info, "phone", self.row.phone)

    @strawberry.field(description="Postal address.")
    def address(self, info: Info) -> Address | None:
        r = self.row
        if self._hidden(info, "address") or (r.street is None and r.city is None):
            return None
        return Address(street=r.street, postal_code=r.postal_code, city=r.city, country=r.country)

    @strawberry.field(description="Customer segment: retail, affluent, private or business.")
    def segment(self, info: Info) -> str | None:
        return self._show(info, "segment", self.row.segment)

    @strawberry.field(description="The consultant who advises this customer.")
    async def consultant(self, info: Info) -> Consultant | None:
        if self._hidden(info, "consultant"):
            return None
        row = await info.context.master_loaders.consultants.load(self.row.consultant_id)
        return None if row is None else Consultant(id=strawberry.ID(row.id), name=row.name, email=row.email)

    @strawberry.field(description="Consents given by the customer, including withdrawn ones.")
    async def consents(self, info: Info) -> list[Consent] | None:
        if self._hidden(info, "consents"):
            return None
        return [Consent.of(r) for r in await info.context.master_loaders.consents.load(self.row.id)]

    def _listed(self, guard: Guard, ref: ContractRef) -> bool:
        """Whether the caller may learn that this contract exists. An unlisted contract leaves no trace: no
        entry, no redaction report, no place in the portfolio, as a customer one may not see."""
        field = f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}"
        return not guard.decide(ref.partner_id, field, self.consents_active).redacted

    @strawberry.field(description="The customer's contracts at all partners, optionally filtered. Values are "
                                  "fetched live: one batched call per partner, partners in parallel, and only "
                                  "the fields the caller may see are asked for.")
    async def contracts(
        self, info: Info,
        partner: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only contracts at this partner, e.g. `bank`.")] = None,
        product_type: Annotated[ProductType | None, strawberry.argument(  # type: ignore[valid-type]
            description="Only contracts of this product type.")] = None,
    ) -> list[Contract]:
        refs: list[ContractRef] = await info.context.master_loaders.contracts.load(self.row.id)
        selected, guard, partners = wanted_by_type(info), info.context.guard, info.context.partners
        chosen: list[tuple[ContractRef, frozenset[str]]] = []
        for ref in refs:
            if partner is not None and ref.partner_id != partner:
                continue
            if product_type is not None and ref.product_type != product_type.value:
                continue
            if not self._listed(guard, ref):
                continue
            type_name = TYPE_OF_PRODUCT[ref.product_type]
            visible = guard.visible(ref.partner_id, (f"{type_name}.{f}" for f in selected[type_name]),
                                    self.consents_active)
            chosen.append((ref, frozenset(name.split(".", 1)[1] for name in visible)))

        async def fetch(ref: ContractRef, wanted: frozenset[str]) -> ContractValues | PartnerError | None:
            if not wanted:
                return None  # nothing visible was asked for: this contract costs its partner nothing
            try:
                return await partners.load(ref.partner_id, ref.contract_id, wanted)
            except PartnerError as error:
                return error

        # All loads start in the same tick, so the loaders send one batch per partner, partners in parallel.
        fetched = await asyncio.gather(*(fetch(ref, wanted) for ref, wanted in chosen))
        return [CONTRACT_CLASSES[TYPE_OF_PRODUCT[ref.product_type]](  # type: ignore[call-arg]
                    ref=ref, wanted=wanted, consents=self.consents_active, fetched=answer)
                for (ref, wanted), answer in zip(chosen, fetched, strict=True)]

    @strawberry.field(description="Assets and liabilities across partners, per currency, computed only from "
                                  "values the caller may see in full; `complete` says whether anything is "
                                  "missing.")
    async def portfolio(self, info: Info) -> PortfolioSummary | None:
        refs: list[ContractRef] = await info.context.master_loaders.contracts.load(self.row.id)
        fields = ASSET_FIELDS | LIABILITY_FIELDS
        guard, path = info.context.guard, info.path.as_list()

        async def one(ref: ContractRef) -> tuple[ContractRef, MoneyValue | None, bool]:
            type_name = TYPE_OF_PRODUCT[ref.product_type]
            name = fields[type_name]
            decision = guard.decide(ref.partner_id, f"{type_name}.{name}", self.consents_active)
            if decision.treatment.kind != "allow":
                # A generalised or hidden value is left out rather than summed: a total must not let the
                # caller recover (by subtraction across queries) what the agreement hides.
                guard.note(path, ref.partner_id, f"{type_name}.{name}", decision)
                return ref, None, False
            try:
                data = await info.context.partners.load(ref.partner_id, ref.contract_id, frozenset({name}))
            except PartnerError:
                return ref, None, False
            return ref, data.values.get(name), True

        assets: dict[str, Decimal] = defaultdict(Decimal)
        liabilities: dict[str, Decimal] = defaultdict(Decimal)
        missing: list[strawberry.ID] = []
        counted = [r for r in refs if TYPE_OF_PRODUCT[r.product_type] in fields and self._listed(guard, r)]
        for ref, value, ok in await asyncio.gather(*(one(r) for r in counted)):
            if not ok:
                shown_id = guard.reveal([*path, "missingContracts"], ref.partner_id,
                                        f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}", ref.contract_id,
                                        self.consents_active)
                missing.append(strawberry.ID(shown_id))
            elif value is not None:
                side = assets if TYPE_OF_PRODUCT[ref.product_type] in ASSET_FIELDS else liabilities
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


async def shown_customer(info: Info, row: models.Customer) -> Customer | None:
    """The customer as this caller may meet them; None when the agreement hides even their ID (then the
    caller cannot tell them from a customer that does not exist)."""
    consents = await active_consents(info, row.id)
    if info.context.guard.decide(MASTER_OWNER, "Customer.id", consents).redacted:
        return None
    return Customer(row=row, consents_active=consents)  # type: ignore[call-arg]


def _sees_pseudonyms(guard: Guard) -> bool:
    """Whether the master's agreement shows this caller customer IDs other than in full (with or without the
    customer's consents): then nothing it is given may follow the order of the real IDs."""
    everything = frozenset(PURPOSES)
    return any(guard.decide(MASTER_OWNER, "Customer.id", consents).treatment.kind != "allow"
               for consents in (frozenset(), everything))


SEARCHABLE = {"id": "Customer.id", "given_name": "Customer.givenName", "family_name": "Customer.familyName"}


@strawberry.type(description="Read the integrated customer view.")
class Query:
    @strawberry.field(description="One customer, if the caller may see them. A customer you may not see is "
                                  "reported exactly like one that does not exist.")
    async def customer(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(
                           description="The customer's ID as you see it: C-000001, or the pseudonym "
                                       "(PSN-…) where the agreement shows you pseudonyms.")]) -> Customer | None:
        _no_customer_data(info)
        given, master, visibility = str(id), info.context.master, info.context.visibility
        real_id = given
        if given.startswith(PSEUDONYM_PREFIX):
            # A keyed HMAC cannot be inverted: find it among the customers this caller may see at all.
            candidates = await master.customer_ids(visibility)
            real_id = next((c for c in candidates if given in info.context.guard.pseudonyms(MASTER_OWNER, c)), "")
        row = await master.customer(visibility, real_id) if real_id else None
        shown = None if row is None else await shown_customer(info, row)
        if shown is None or not info.context.guard.known_as(MASTER_OWNER, "Customer.id", row.id, given,
                                                             shown.consents_active):
            raise CustomerNotFound(given)
        return shown

    @strawberry.field(description="Customers the caller may see, searched by name or ID (only in the fields "
                                  "the caller may see in full), cursor-paginated in ID order, or in pseudonym "
                                  "order for callers shown pseudonyms.")
    async def customers(
        self, info: Info,
        search: Annotated[str | None, strawberry.argument(
            description="Case-insensitive part of a given name, family name or customer ID.")] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 0 to 100.")] = 20,
        after: Annotated[str | None, strawberry.argument(
            description="`pageInfo.endCursor` of the previous page (opaque; pass it with the same "
                        "search).")] = None,
    ) -> CustomerConnection:
        _no_customer_data(info)
        first = 20 if first is None else first
        if not 0 <= first <= 100:
            raise BadRequest("`first` must be between 0 and 100")
        cursors = info.context.cursors
        try:
            after_id = cursors.decode(after) if after else None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        guard = info.context.guard
        search_in = tuple(col for col, field in SEARCHABLE.items()
                          if guard.decide(MASTER_OWNER, field, frozenset()).treatment.kind == "allow")
        if search and not search_in:
            raise Forbidden("your agreement does not let you search customers by name or ID")
        master, visibility = info.context.master, info.context.visibility
        if _sees_pseudonyms(guard):
            # Listed in pseudonym order: the order of real IDs (assigned one after another) would tell the
            # caller who joined when, and would pair pseudonyms with guessable IDs.
            ids = await master.customer_ids(visibility, search, search_in)
            # Any keyed pseudonym makes an order that says nothing about the real IDs; cursors carry it sealed.
            named = sorted((ps[0], i) for i in ids if (ps := guard.pseudonyms(MASTER_OWNER, i)))
            later = [(p, i) for p, i in named if after_id is None or p > after_id]
            page, more = later[:first], len(later) > first
            found = {r.id: r for r in await master.customers_by_ids(visibility, [i for _, i in page])}
            keyed = [(p, found[i]) for p, i in page if i in found]
        else:
            rows, more = await master.customers(visibility, search, first, after_id, search_in)
            keyed = [(r.id, r) for r in rows]
        keys = [k for k, _ in keyed]
        shown = [(k, await shown_customer(info, r)) for k, r in keyed]
        edges = [CustomerEdge(cursor=cursors.encode(k), node=c) for k, c in shown if c is not None]
        end = cursors.encode(keys[-1]) if keys else None
        return CustomerConnection(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))

    @strawberry.field(description="The caller's own customer record (role customer).")
    async def me(self, info: Info) -> Customer | None:
        caller = info.context.caller
        if caller.role != "customer" or not caller.customer_id:
            raise Forbidden("only a customer has a record of their own")
        row = await info.context.master.customer(info.context.visibility, caller.customer_id)
        return None if row is None else await shown_customer(info, row)

    @strawberry.field(description="The partners of the alliance.")
    def partners(self, info: Info) -> list[Partner]:
        return [Partner(id=strawberry.ID(c.id), name=c.name, contract_prefix=c.contract_prefix,
                        product_types=[ProductType[p] for p in c.product_types])
                for c in info.context.partner_configs.values()]


@strawberry.type(description="Change data the caller owns.")
class Mutation:
    @strawberry.mutation(description="Grant or withdraw the caller's consent for a purpose (role customer). "
                                     "A withdrawal takes effect on the very next request.")
    async def set_consent(
        self, info: Info,
        purpose: Annotated[str, strawberry.argument(description="The purpose, e.g. `lead_management`.")],
        granted: Annotated[bool, strawberry.argument(description="true to grant, false to withdraw.")],
    ) -> Consent:
        caller = info.context.caller
        if caller.role != "customer" or not caller.customer_id:
            raise Forbidden("only customers can grant or withdraw their own consents")
        if purpose not in PURPOSES:
            raise BadRequest(f"unknown purpose; use one of {', '.join(PURPOSES)}")
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


def build_schema(*, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 2000,
                 max_cost: int = DEFAULT_MAX_COST) -> strawberry.Schema:
    # The limiters build their validation rule classes in __init__; built once here, the rules are the same
    # objects on every request, so the validation cache can hit (front ends send the same few query texts).
    # Both caches are bounded LRUs: a client sending endless distinct queries only evicts, never grows memory.
    # The depth limiter skips introspection fields; `fields { type { fields ...` bombs are stopped by
    # graphql-core's MaxIntrospectionDepthRule, which is among its specified rules.
    rules = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    return Schema(
        query=Query, mutation=Mutation, types=[BankAccount, Loan, LifePolicy, PropertyPolicy, Depot],
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=256),
            lambda: QueryCostLimit(max_cost),
            lambda: MaskErrors(should_mask_error=lambda e: not is_safe(e), error_message="Internal error."),
        ],
    )
