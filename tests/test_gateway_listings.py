"""Listings under lead_management, where the master shows a customer's ID only with their consent: a
consultant is shown real IDs and pages in ID order, every page holds `first` customers while more follow,
a partner's pseudonym-ordered pages are full too, and a consultant may search the names it is shown in full."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.gateway_support import Gateway, World, private_master

PAGE = """query($first: Int, $after: String, $search: String) {
  customers(first: $first, after: $after, search: $search) {
    edges { node { id familyName } } pageInfo { hasNextPage endCursor } } }"""


def _consenting(world: World) -> set[str]:
    return {c.customer_id for c in world.alliance.consents
            if c.purpose == "lead_management" and c.withdrawn_at is None}


async def _all_pages(gateway: Gateway, role: str, first: int, **ids: str) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    after = None
    while True:
        reply = await gateway.as_role(PAGE, role, "lead_management", {"first": first, "after": after}, **ids)
        assert reply.errors == [], reply.errors
        connection = reply.data["customers"]
        pages.append([edge["node"] for edge in connection["edges"]])
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]
        assert len(pages) < 100


async def test_a_consultant_pages_in_id_order_with_full_pages(make_gateway: Callable[..., Any], world: World,
                                                              tmp_path: Path) -> None:
    gateway = await make_gateway(settings_overrides={"db_url": private_master(world, tmp_path)})
    consultant = "K-001"
    expected = sorted(c.id for c in world.alliance.customers
                      if c.consultant_id == consultant and c.id in _consenting(world))
    assert len(expected) > 6  # several pages of 3
    pages = await _all_pages(gateway, "consultant", 3, consultant_id=consultant)
    ids = [node["id"] for page in pages for node in page]
    assert ids == expected  # real IDs, in ID order, each once, only customers who consented
    assert all(len(page) == 3 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 3


async def test_a_partner_gets_full_pages_in_pseudonym_order(make_gateway: Callable[..., Any], world: World,
                                                            tmp_path: Path) -> None:
    gateway = await make_gateway(settings_overrides={"db_url": private_master(world, tmp_path)})
    holders = {r.customer_id for r in world.alliance.contracts if r.partner_id == "bank"}
    expected = sorted(world.pseudonym(c, "bank") for c in holders & _consenting(world))
    pages = await _all_pages(gateway, "partner", 3, partner_id="bank")
    ids = [node["id"] for page in pages for node in page]
    assert ids == expected
    assert all(len(page) == 3 for page in pages[:-1])


async def test_a_consultant_searches_the_names_it_is_shown(make_gateway: Callable[..., Any], world: World,
                                                           tmp_path: Path) -> None:
    gateway = await make_gateway(settings_overrides={"db_url": private_master(world, tmp_path)})
    consultant = "K-001"
    mine = [c for c in world.alliance.customers if c.consultant_id == consultant]
    consenting = _consenting(world)
    shown = next(c for c in mine if c.id in consenting)
    reply = await gateway.as_role(PAGE, "consultant", "lead_management", {"search": shown.family_name},
                                  consultant_id=consultant)
    assert reply.errors == []
    found = [edge["node"] for edge in reply.data["customers"]["edges"]]
    assert {"id": shown.id, "familyName": shown.family_name} in found
    assert all(node["id"] in consenting for node in found)
    # A customer who did not consent is not found by name either: search is no oracle for hidden customers.
    hidden = [c for c in mine if c.id not in consenting
              and not any(o.family_name == c.family_name for o in mine if o.id in consenting)]
    if hidden:
        reply = await gateway.as_role(PAGE, "consultant", "lead_management", {"search": hidden[0].family_name},
                                      consultant_id=consultant)
        assert reply.data["customers"]["edges"] == []
