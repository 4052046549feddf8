"""Every paged list — `customers`, `auditEvents`, `accessLog` — keeps the one paging rule (gateway/paging.py):
`first` from 0 to 100, refused with the same clear error outside it, and a cursor only from this server."""

from __future__ import annotations

import pytest

from tests.gateway_support import SHOWCASE, Gateway

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True

# list -> (query, role, purpose, caller IDs)
LISTS = {
    "customers": ("query($first: Int, $after: String) { customers(first: $first, after: $after) { "
                  "edges { node { id } } pageInfo { endCursor } } }", "service_agent", "service", {}),
    "auditEvents": ("query($first: Int, $after: String) { auditEvents(first: $first, after: $after) { "
                    "events { seq } endCursor } }", "compliance", "audit", {}),
    "accessLog": ("query($first: Int, $after: String) { accessLog(customerId: \"" + SHOWCASE + "\", first: $first, "
                  "after: $after) { events { purpose } endCursor } }", "customer", "self_service",
                  {"customer_id": SHOWCASE}),
}


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_first_out_of_range_is_refused_with_one_clear_error(gateway: Gateway, name: str) -> None:
    query, role, purpose, ids = LISTS[name]
    for first in (-1, 101, 10_000):
        reply = await gateway.as_role(query, role, purpose, {"first": first}, **ids)
        assert reply.codes() == ["BAD_REQUEST"], (name, first, reply.body)
        assert reply.errors[0]["message"] == "`first` must be between 0 and 100", (name, first)
        assert reply.data is None or reply.data[name] is None, (name, first)
    for first in (0, 100):  # the bounds themselves are pages
        reply = await gateway.as_role(query, role, purpose, {"first": first}, **ids)
        assert reply.errors == [], (name, first, reply.body)
        assert reply.data[name] is not None


async def test_a_cursor_is_refused_unless_this_server_sealed_it_for_that_list(gateway: Gateway) -> None:
    customers = await gateway.as_role(LISTS["customers"][0], "service_agent", "service", {"first": 1})
    customer_cursor = customers.data["customers"]["pageInfo"]["endCursor"]
    assert customer_cursor
    for name, (query, role, purpose, ids) in LISTS.items():
        refused = ["not-a-cursor"] + ([customer_cursor] if name != "customers" else [])
        for after in refused:
            reply = await gateway.as_role(query, role, purpose, {"first": 5, "after": after}, **ids)
            assert reply.codes() == ["BAD_REQUEST"], (name, after, reply.body)
            assert reply.errors[0]["message"] == "the cursor is not one this server issued", (name, after)

