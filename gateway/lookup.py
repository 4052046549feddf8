"""Finding customers by the ID the caller is shown, and paging through the customers it may see.

Every way of reaching a customer goes through here (the planner and the strawberry fallback alike), so
these rules hold whichever path answers:
- a customer is found only by the form of ID the caller is shown: the real ID where the master's agreement
  shows it in full, the caller's own pseudonym where it pseudonymises it; any other form is "not found";
- a lookup the caller may not make does the same reads as one for a customer who does not exist (the
  refusal is decided before anything of the customer is read, and the reads run for an ID no customer
  has), so response time is no membership oracle;
- callers shown pseudonyms page in the order of the pseudonym index (resolvers/pseudonym_index.py), which
  is unrelated to the order real IDs were assigned; opening by pseudonym and paging both cost O(log n) in the
  size of the master, whatever the number of customers the caller may see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.context import RequestContext
from gateway.errors import Forbidden
from gateway.paging import page_size, resume_after
from privacy import PSEUDONYM_PREFIX, PURPOSES, Guard
from resolvers import MASTER_OWNER, NO_CUSTOMER, CustomerView, IndexProgress, Master, models

SEARCHABLE = {"id": "Customer.id", "given_name": "Customer.givenName", "family_name": "Customer.familyName"}
ID_FIELD = "Customer.id"


def no_customer_data(ctx: RequestContext) -> None:
    if ctx.caller.role == "compliance":
        raise Forbidden("compliance officers do not see customer data; use the audit queries")


def _id_treatments(guard: Guard) -> frozenset[str]:
    """How the master's agreement may show this caller customer IDs, without or with the customer's
    consents: `allow`, `pseudonymize`, or neither (then no customer can be looked up at all)."""
    return frozenset(guard.decide(MASTER_OWNER, ID_FIELD, consents).treatment.kind
                     for consents in (frozenset(), frozenset(PURPOSES)))


def sees_pseudonyms(guard: Guard) -> bool:
    """Whether anything this caller is given may stand for a pseudonymised ID: then nothing it is given may
    follow the order of the real IDs. A caller shown real IDs for some customers and nothing for others (a
    consultant under lead_management) sees no pseudonym: it pages in ID order, as the schema promises."""
    return bool(_id_treatments(guard) - {"allow", "redact"})


def listed_consents(guard: Guard) -> tuple[str, ...] | None:
    """When the caller is shown a customer's ID only under a consent (a consultant or a partner under
    lead_management): the purposes any one of which does it. None when IDs are shown without consent.
    Listings page over exactly those customers, so a page is never cut short by customers dropped later."""
    if not guard.decide(MASTER_OWNER, ID_FIELD, frozenset()).redacted:
        return None
    return tuple(p for p in PURPOSES if not guard.decide(MASTER_OWNER, ID_FIELD, frozenset({p})).redacted)


def _searchable(guard: Guard, consenting: tuple[str, ...] | None) -> tuple[str, ...]:
    """The columns shown in full to this caller for every customer it lists: search matches only in those,
    or it would be an oracle for values the caller may not see."""
    scenarios = [frozenset()] if consenting is None else [frozenset({p}) for p in consenting]
    return tuple(col for col, field in SEARCHABLE.items()
                 if scenarios and all(guard.decide(MASTER_OWNER, field, s).treatment.kind == "allow"
                                      for s in scenarios))


def active_consents(consents: Sequence[models.ConsentRow]) -> frozenset[str]:
    return frozenset(c.purpose for c in consents if c.withdrawn_at is None)


async def build_index(master: Master, guard: Guard, progress: IndexProgress | None = None) -> int | None:
    """Bring the pseudonym index of this guard's consumer up to date (waiting for a build already running);
    rows added, or None when the master's owner has no key (then it pseudonymises nothing, and nothing is to
    be found by pseudonym). The gateway builds these ahead of traffic (gateway/indexing.py)."""
    fingerprint = guard.index_fingerprint(MASTER_OWNER)
    if fingerprint is None:
        return None

    def tokens(ids: Sequence[str]) -> list[str]:
        return guard.index_tokens_of(MASTER_OWNER, ids) or []

    return await master.index_pseudonyms(MASTER_OWNER, guard.consumer, fingerprint, tokens, progress)


async def _indexed(ctx: RequestContext) -> bool:
    """Make sure the pseudonym index of this caller is up to date; False when the master's owner has no key."""
    return await build_index(ctx.master, ctx.guard) is not None


async def _resolve_pseudonym(ctx: RequestContext, given: str) -> str | None:
    """The real ID behind the caller's pseudonym `given`, if any customer has it: one indexed read, whether
    the customer exists, is hidden from the caller or not (visibility is checked by the read that follows)."""
    token = ctx.guard.index_token(MASTER_OWNER, given)
    if token is None or not await _indexed(ctx):
        return None
    return await ctx.master.customer_id_by_token(MASTER_OWNER, ctx.guard.consumer, token)


async def find_customer(ctx: RequestContext, given: str) -> CustomerView | None:
    """The customer the caller calls `given`, read with consents, contracts and consultant in one go; None
    exactly when the caller may not reach them by that ID, for whatever reason."""
    no_customer_data(ctx)
    guard, forms = ctx.guard, _id_treatments(ctx.guard)
    real_id = NO_CUSTOMER
    if given.startswith(PSEUDONYM_PREFIX):
        if "pseudonymize" in forms:
            real_id = await _resolve_pseudonym(ctx, given) or NO_CUSTOMER
    elif "allow" in forms:
        real_id = given

    def admitted(row: models.CustomerRow, consents: Sequence[models.ConsentRow]) -> bool:
        # Decided between reading the customer and reading their contracts: a refused lookup then reads
        # the contracts of no one, exactly like a lookup of a customer who does not exist.
        return guard.known_as(MASTER_OWNER, ID_FIELD, row.id, given, active_consents(consents))

    view = await ctx.master.customer_view(ctx.visibility, real_id, admit=admitted)
    if view is not None:
        ctx.touched.add(view.customer.id)
    return view


async def own_record(ctx: RequestContext) -> CustomerView | None:
    caller = ctx.caller
    if caller.role != "customer" or not caller.customer_id:
        raise Forbidden("only a customer has a record of their own")
    view = await ctx.master.customer_view(ctx.visibility, caller.customer_id)
    if view is not None:
        ctx.touched.add(view.customer.id)
    return view


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """One page: (cursor key, customer) in page order, and whether more follow. The key is what the cursor
    seals: the real ID for callers shown real IDs, the caller's pseudonym otherwise. `views` (when asked for):
    each customer with their consents, contracts and consultant, read with the page in one master read."""

    rows: list[tuple[str, models.CustomerRow]]
    more: bool
    views: list[CustomerView] | None = None


async def page_customers(ctx: RequestContext, search: str | None, first: int | None,
                         after: str | None, *, views: bool = False) -> CustomerPage:
    """A page of the customers the caller may see; with `views`, every customer on it read in full (consents,
    contracts, consultant) by the same master read, for the planner."""
    no_customer_data(ctx)
    size = page_size(first)
    after_key = resume_after(ctx.cursors, after, str)
    guard, master, visibility = ctx.guard, ctx.master, ctx.visibility
    consenting = listed_consents(guard)
    # Search only in what the caller is shown in full: matching on a hidden column would be an oracle.
    search_in = _searchable(guard, consenting)
    if search and not search_in:
        raise Forbidden("your agreement does not let you search customers by name or ID")
    if sees_pseudonyms(guard):
        # Listed in the order of the pseudonym index: the order of real IDs (assigned one after another) would
        # tell the caller who joined when, and would pair pseudonyms with guessable IDs.
        if not await _indexed(ctx):
            return CustomerPage([], False, [] if views else None)
        if views:
            read, more = await master.customer_views_by_token(visibility, MASTER_OWNER, guard.consumer, search,
                                                              size, after_key, search_in, consenting)
            return CustomerPage([(k, v.customer) for k, v in read], more, [v for _, v in read])
        found, more = await master.customers_by_token(visibility, MASTER_OWNER, guard.consumer, search, size,
                                                      after_key, search_in, consenting)
        return CustomerPage(found, more)
    if views:
        read, more = await master.customer_views_page(visibility, search, size, after_key, search_in, consenting)
        return CustomerPage([(k, v.customer) for k, v in read], more, [v for _, v in read])
    rows, more = await master.customers(visibility, search, size, after_key, search_in, consenting)
    return CustomerPage([(r.id, r) for r in rows], more)
