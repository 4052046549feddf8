"""The GraphQL entry points: Query, Mutation, pagination, and the assembled schema with its limits."""

from __future__ import annotations

import logging
from typing import Annotated

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
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

from gateway.audit_schema import (
    AccessEventConnection,
    AuditChainStatus,
    AuditEventConnection,
    AuditFilterArg,
    access_log,
    audit_chain,
    audit_events,
)
from gateway.context import ConsentChange
from gateway.cost import DEFAULT_MAX_COST, QueryCostLimit
from gateway.customer import Customer, shown_customer
from gateway.errors import BadRequest, CustomerNotFound, Forbidden, is_safe
from gateway.export import DataExport, data_export
from gateway.types import (
    BankAccount,
    Consent,
    Depot,
    LifePolicy,
    Loan,
    Partner,
    PropertyPolicy,
)
from privacy.guard import Guard
from privacy.treatments import PSEUDONYM_PREFIX
from privacy.vocabulary import PURPOSES
from resolvers import models
from resolvers.joint import MASTER_OWNER

log = logging.getLogger("vcv.graphql")


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


def _sees_pseudonyms(guard: Guard) -> bool:
    """Whether the master's agreement shows this caller customer IDs other than in full (with or without the
    customer's consents): then nothing it is given may follow the order of the real IDs."""
    everything = frozenset(PURPOSES)
    return any(guard.decide(MASTER_OWNER, "Customer.id", consents).treatment.kind != "allow"
               for consents in (frozenset(), everything))


SEARCHABLE = {"id": "Customer.id", "given_name": "Customer.givenName", "family_name": "Customer.familyName"}


async def _read_customer(info: Info, customer_id: str) -> models.Customer | None:
    """The customer if visible, read with their consents, contracts and consultant in one go; the request's
    loaders are primed with that read, so the resolvers below it wait for nothing."""
    view = await info.context.master.customer_view(info.context.visibility, customer_id)
    if view is None:
        return None
    info.context.master_loaders.prime(view)
    return view.customer


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
        row = await _read_customer(info, real_id) if real_id else None
        shown = None if row is None else await shown_customer(info, row)
        if shown is None or not info.context.guard.known_as(MASTER_OWNER, "Customer.id", row.id, given,
                                                             shown.consents_active):
            raise CustomerNotFound(given)
        info.context.touched.add(row.id)
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
        info.context.touched.update(edge.node.row.id for edge in edges)
        end = cursors.encode(keys[-1]) if keys else None
        return CustomerConnection(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))

    @strawberry.field(description="The caller's own customer record (role customer).")
    async def me(self, info: Info) -> Customer | None:
        caller = info.context.caller
        if caller.role != "customer" or not caller.customer_id:
            raise Forbidden("only a customer has a record of their own")
        row = await _read_customer(info, caller.customer_id)
        shown = None if row is None else await shown_customer(info, row)
        if shown is not None:
            info.context.touched.add(shown.row.id)
        return shown

    @strawberry.field(description="Everything held about the calling customer, in one machine-readable document "
                                  "(GDPR Art. 15 access, Art. 20 portability): master record, every contract "
                                  "fetched live from every partner, consents with their history, the access "
                                  "report; partners that failed are stated. Role customer; audited like any read.")
    async def data_export(self, info: Info) -> DataExport:
        return await data_export(info)

    @strawberry.field(description="The partners of the alliance.")
    def partners(self, info: Info) -> list[Partner]:
        return [Partner.of(c.id, c) for c in info.context.partner_configs.values()]


    @strawberry.field(description="The audit log, oldest first (compliance only). Reading it is audited too.")
    async def audit_events(
        self, info: Info, filter: AuditFilterArg = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 0 to 100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="`endCursor` of the previous page.")] = None,
    ) -> AuditEventConnection:
        return await audit_events(info, filter, first, after)

    @strawberry.field(description="Verify the whole audit log now (compliance only): hash chain and signatures.")
    async def audit_chain(self, info: Info) -> AuditChainStatus:
        return await audit_chain(info)

    @strawberry.field(description="Who accessed this customer's data, when and why (the customer themself, or "
                                  "compliance). Organisations are named, employees are not.")
    async def access_log(
        self, info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer, e.g. C-000001.")],
        first: Annotated[int | None, strawberry.argument(description="Page size, 0 to 100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="`endCursor` of the previous page.")] = None,
    ) -> AccessEventConnection:
        return await access_log(info, str(customer_id), first, after)


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
        row, was_active = await info.context.master.set_consent(
            caller.customer_id, purpose, granted, f"self-service:{caller.subject}:{info.context.request_id}")
        # On the record: whose consent, for what, from what to what (compliance searches by customer, and the
        # customer's access report lists it).
        info.context.touched.add(caller.customer_id)
        info.context.consent_changes.append(ConsentChange(caller.customer_id, purpose, was_active, granted))
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
                 max_cost: int = DEFAULT_MAX_COST, introspection: bool = True) -> strawberry.Schema:
    # The limiters build their validation rule classes in __init__; built once here, the rules are the same
    # objects on every request, so the validation cache can hit (front ends send the same few query texts).
    # Both caches are bounded LRUs: a client sending endless distinct queries only evicts, never grows memory.
    # The depth limiter skips introspection fields; `fields { type { fields ...` bombs are stopped by
    # graphql-core's MaxIntrospectionDepthRule, which is among its specified rules.
    rules = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
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
