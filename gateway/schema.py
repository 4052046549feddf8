"""The GraphQL entry points: Query, Mutation, pagination, and the assembled schema."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from gateway.audit_schema import (
    AccessEventConnection,
    AuditChainStatus,
    AuditEventConnection,
    AuditFilterArg,
    access_log,
    audit_chain,
    audit_events,
)
from gateway.context import ConsentChangeRecord
from gateway.customer import Customer, shown_customer
from gateway.data_export import DataExport, data_export
from gateway.errors import BadRequest, CustomerNotFound, Forbidden
from gateway.lookup import active_consents, find_customer, own_record, page_customers
from gateway.types import (
    BankAccount,
    Consent,
    Depot,
    LifePolicy,
    Loan,
    Partner,
    PropertyPolicy,
)
from privacy import PURPOSES
from resolvers import CustomerView


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


def _shown(info: Info, view: CustomerView | None) -> Customer | None:
    """Prime the request's loaders with what the lookup read (the resolvers below then wait for nothing)
    and present the customer as the caller may meet them."""
    if view is None:
        return None
    info.context.master_loaders.prime(view)
    return shown_customer(info.context.guard, view.customer, active_consents(view.consents))


@strawberry.type(description="Read the integrated customer view.")
class Query:
    @strawberry.field(description="One customer, if the caller may see them. A customer you may not see is "
                                  "reported exactly like one that does not exist.")
    async def customer(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(
                           description="The customer's ID as you see it: C-000001, or the pseudonym "
                                       "(PSN-…) where the agreement shows you pseudonyms.")]) -> Customer | None:
        shown = _shown(info, await find_customer(info.context, str(id)))
        if shown is None:
            raise CustomerNotFound(str(id))
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
        page = await page_customers(info.context, search, first, after)
        cursors, guard = info.context.cursors, info.context.guard
        consents = await info.context.master_loaders.consents.load_many([r.id for _, r in page.rows])
        edges = [CustomerEdge(cursor=cursors.encode(key), node=shown)
                 for (key, row), granted in zip(page.rows, consents, strict=True)
                 if (shown := shown_customer(guard, row, active_consents(granted))) is not None]
        info.context.touched.update(edge.node.row.id for edge in edges)
        end = cursors.encode(page.rows[-1][0]) if page.rows else None
        return CustomerConnection(edges=edges, page_info=PageInfo(has_next_page=page.more, end_cursor=end))

    @strawberry.field(description="The caller's own customer record (role customer).")
    async def me(self, info: Info) -> Customer | None:
        return _shown(info, await own_record(info.context))

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
        info.context.consent_changes.append(ConsentChangeRecord(caller.customer_id, purpose, was_active, granted))
        return Consent.of(row)


def build_schema() -> strawberry.Schema:
    """The joint schema: the SDL partners read (`vcv schema`), introspection, and the general executor. The
    limits (tokens, shape, validation, cost, introspection) are the gate's (gateway/gate.py), which every
    operation passes before either path (the planner, strawberry) runs it."""
    return strawberry.Schema(query=Query, mutation=Mutation,
                             types=[BankAccount, Loan, LifePolicy, PropertyPolicy, Depot])
