"""A lookup the caller may not make costs the same work as one for a customer who does not exist (SPEC §5).

The review measured a partner's `customer(id: "C-…")`: always CUSTOMER_NOT_FOUND, but ~2 ms slower for its
own customers, because their row and contracts were read before the refusal. Timing is the machine's
business, so this test compares the work itself: the SQL statements the master runs and the customer they
run for. A refused lookup must run the same statements, for the same non-customer, as a missing one."""

from __future__ import annotations

from typing import Any

from resolvers import NO_CUSTOMER
from tests.gateway_support import SHOWCASE, Gateway, World
from tests.master_reads import master_statements

ONE = 'query($id: ID!) { customer(id: $id) { id contracts { contractId } } }'
MASTER_TABLES = ("customers", "consents", "contract_refs", "consultants")


def master_reads() -> Any:
    """Every statement on the master's tables while the block runs: (SQL text, parameters)."""
    return master_statements(MASTER_TABLES)


async def _lookup(gateway: Gateway, given: str, partner: str) -> tuple[list[str], list[tuple[str, tuple[Any, ...]]]]:
    with master_reads() as reads:
        reply = await gateway.as_role(ONE, "partner", "service", {"id": given}, partner_id=partner)
    return reply.codes(), reads


async def test_a_refused_lookup_reads_what_a_missing_customer_reads(gateway: Gateway, world: World) -> None:
    own = next(c.customer_id for c in world.alliance.contracts if c.partner_id == "life")
    stranger = next(c.id for c in world.alliance.customers
                    if not any(r.customer_id == c.id and r.partner_id == "life" for r in world.alliance.contracts))
    # Warm: the first use opens connections, prepares statements and builds the life insurer's pseudonym index.
    await _lookup(gateway, "C-999999", "life")
    await _lookup(gateway, "PSN-BBBBBBBBBBBBBBBB", "life")

    # By real ID, which a partner may never use: its own customer, and a customer who does not exist.
    refused_codes, refused = await _lookup(gateway, own, "life")
    missing_codes, missing = await _lookup(gateway, "C-999999", "life")
    assert refused_codes == missing_codes == ["CUSTOMER_NOT_FOUND"]
    assert [sql for sql, _ in refused] == [sql for sql, _ in missing] and refused
    # The refused one read nothing of the customer: every statement ran for an ID no customer has.
    assert not any(own in params for _, params in refused)
    assert any(NO_CUSTOMER in params for _, params in refused)

    # By pseudonym: a customer this partner may not see, and a pseudonym nobody has.
    hidden_codes, hidden = await _lookup(gateway, world.pseudonym(stranger, "life"), "life")
    forged_codes, forged = await _lookup(gateway, "PSN-AAAAAAAAAAAAAAAA", "life")
    assert hidden_codes == forged_codes == ["CUSTOMER_NOT_FOUND"]
    assert [sql for sql, _ in hidden] == [sql for sql, _ in forged] and hidden
    # The pseudonym index names the customer and the row-level check reads for them (and finds no row the
    # partner may see); nothing of theirs is read after that: consents, contracts and consultant of no one.
    assert not any(stranger in params for sql, params in hidden if "FROM customers" not in sql)

    # And the lookup the partner may make reads the customer (the same statements, for them).
    found_codes, found = await _lookup(gateway, world.pseudonym(own, "life"), "life")
    assert found_codes == [] and [sql for sql, _ in found] == [sql for sql, _ in forged]
    assert any(own in params for _, params in found)


async def test_a_consultant_asking_for_another_consultants_customer_reads_nothing_of_them(
        gateway: Gateway, world: World) -> None:
    mine = world.alliance.customer(SHOWCASE).consultant_id
    other = next(c.id for c in world.alliance.customers if c.consultant_id != mine)

    async def lookup(given: str) -> tuple[list[str], list[tuple[str, tuple[Any, ...]]]]:
        with master_reads() as reads:
            reply = await gateway.as_role(ONE, "consultant", "advisory", {"id": given}, consultant_id=mine)
        return reply.codes(), reads

    await lookup("C-999999")
    refused_codes, refused = await lookup(other)
    missing_codes, missing = await lookup("C-999999")
    assert refused_codes == missing_codes == ["CUSTOMER_NOT_FOUND"]
    assert [sql for sql, _ in refused] == [sql for sql, _ in missing]
    # Only the first statement names the ID given (the row-level check itself); nothing after it does.
    assert not any(other in params for _, params in refused[1:])
