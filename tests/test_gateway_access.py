"""Row-level access per role (SPEC §5), pagination and search, `me`, `setConsent`."""

from __future__ import annotations

import pytest

from privacy.pseudonyms import PseudonymKeys, index_token
from tests.gateway_support import Gateway, World

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True


@pytest.fixture
def gateway(gateway_on_each_master: Gateway) -> Gateway:
    """Every test here runs against the SQLite master and against PostgreSQL."""
    return gateway_on_each_master

ONE = "query($id: ID!) { customer(id: $id) { id familyName } }"
LIST = "query($after: String, $search: String) { customers(first: 10, after: $after, search: $search) { " \
       "edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"


async def _all_ids(gateway: Gateway, role: str, purpose: str, search: str | None = None, **ids: str) -> list[str]:
    seen, after = [], None
    while True:
        reply = await gateway.as_role(LIST, role, purpose, {"after": after, "search": search}, **ids)
        assert reply.errors == [], reply.errors
        page = reply.data["customers"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_consultant_sees_exactly_their_own_customers(gateway: Gateway, world: World) -> None:
    mine = sorted(c.id for c in world.alliance.customers if c.consultant_id == "K-002")
    assert await _all_ids(gateway, "consultant", "advisory", consultant_id="K-002") == mine


async def test_hidden_customer_looks_exactly_like_a_missing_one(gateway: Gateway, world: World) -> None:
    other = next(c.id for c in world.alliance.customers if c.consultant_id != "K-001")
    hidden = await gateway.as_role(ONE, "consultant", "advisory", {"id": other}, consultant_id="K-001")
    missing = await gateway.as_role(ONE, "consultant", "advisory", {"id": "C-999999"}, consultant_id="K-001")
    assert hidden.data == missing.data == {"customer": None}
    assert hidden.codes() == missing.codes() == ["CUSTOMER_NOT_FOUND"]
    assert hidden.errors[0]["message"].replace(other, "X") == missing.errors[0]["message"].replace("C-999999", "X")
    assert hidden.status == missing.status == 200


async def test_customer_sees_only_themselves(gateway: Gateway, world: World) -> None:
    assert await _all_ids(gateway, "customer", "self_service", customer_id="C-000003") == ["C-000003"]
    me = await gateway.as_role("{ me { id } }", "customer", "self_service", customer_id="C-000003")
    assert me.data == {"me": {"id": "C-000003"}}
    other = await gateway.as_role(ONE, "customer", "self_service", {"id": "C-000004"}, customer_id="C-000003")
    assert other.codes() == ["CUSTOMER_NOT_FOUND"]


async def test_partner_sees_only_customers_holding_its_contracts(gateway: Gateway, world: World) -> None:
    holders = sorted({c.customer_id for c in world.alliance.contracts if c.partner_id == "life"})
    seen = await _all_ids(gateway, "partner", "service", partner_id="life")
    # the master's agreement shows partners customer IDs only as pseudonyms: one per holder, none real
    assert len(seen) == len(set(seen)) == len(holders)
    assert all(i.startswith("PSN-") and i not in holders for i in seen)
    # Listed, page after page, in the order of the pseudonym index (a keyed token of each pseudonym): nothing
    # follows the order of the real IDs.
    key = PseudonymKeys.load(["rm"], directory=world.pseudonym_keys).for_consumer("rm", "life")
    assert key is not None
    in_index_order = sorted(holders, key=lambda h: index_token(key, world.pseudonym(h, "life")))
    assert seen == [world.pseudonym(h, "life") for h in in_index_order]
    assert seen != [world.pseudonym(h, "life") for h in holders]
    outsider = next(c.id for c in world.alliance.customers if c.id not in holders)
    reply = await gateway.as_role(ONE, "partner", "service", {"id": outsider}, partner_id="life")
    assert reply.codes() == ["CUSTOMER_NOT_FOUND"]


async def test_service_agent_sees_anyone_but_only_for_service_purposes(gateway: Gateway, world: World) -> None:
    everyone = sorted(c.id for c in world.alliance.customers)
    assert await _all_ids(gateway, "service_agent", "complaint") == everyone
    assert await _all_ids(gateway, "service_agent", "advisory") == []


async def test_compliance_sees_no_customer_data(gateway: Gateway) -> None:
    reply = await gateway.as_role(ONE, "compliance", "audit", {"id": "C-000001"})
    assert reply.data == {"customer": None} and reply.codes() == ["FORBIDDEN"]
    listing = await gateway.as_role(LIST, "compliance", "audit")
    assert listing.data is None and listing.codes() == ["FORBIDDEN"]


async def test_search_by_name_and_bad_cursor(gateway: Gateway, world: World) -> None:
    target = world.alliance.customers[5]
    found = await _all_ids(gateway, "service_agent", "service", search=target.family_name.upper())
    expected = sorted(c.id for c in world.alliance.customers
                      if target.family_name.lower() in (c.family_name.lower() + " " + c.given_name.lower()))
    assert target.id in found and set(expected) <= set(found)
    bad = await gateway.as_role(LIST, "service_agent", "service", {"after": "bm9wZQ=="})
    assert bad.codes() == ["BAD_REQUEST"] and "cursor" in bad.errors[0]["message"]


async def test_me_is_forbidden_for_other_roles(gateway: Gateway) -> None:
    reply = await gateway.as_role("{ me { id } }", "consultant", "advisory", consultant_id="K-001")
    assert reply.codes() == ["FORBIDDEN"]


async def test_customer_grants_and_withdraws_consent(gateway: Gateway) -> None:
    mutation = "mutation($g: Boolean!) { setConsent(purpose: \"lead_management\", granted: $g) { purpose active } }"
    token = gateway.token("customer", ["self_service"], customer_id="C-000010")
    granted = await gateway.post(mutation, token=token, purpose="self_service", variables={"g": True})
    assert granted.data == {"setConsent": {"purpose": "lead_management", "active": True}}
    withdrawn = await gateway.post(mutation, token=token, purpose="self_service", variables={"g": False})
    assert withdrawn.data == {"setConsent": {"purpose": "lead_management", "active": False}}
    listing = await gateway.post('{ me { consents { purpose active } } }', token=token, purpose="self_service")
    assert {"purpose": "lead_management", "active": True} not in listing.data["me"]["consents"]
    consultant = await gateway.as_role(mutation, "consultant", "advisory", {"g": True}, consultant_id="K-001")
    assert consultant.codes() == ["FORBIDDEN"]
