"""Listings under lead_management, where the master shows a customer's ID only with their consent: a
consultant is shown real IDs and pages in ID order, every page holds `first` customers while more follow,
a partner's pseudonym-ordered pages are full too, and a consultant may search the names it is shown in full."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from resolvers import models
from resolvers.database import create_engine
from tests.gateway_support import Gateway, World, private_master

PAGE = """query($first: Int, $after: String, $search: String) {
  customers(first: $first, after: $after, search: $search) {
    edges { node { id familyName } } pageInfo { hasNextPage endCursor } } }"""


async def _consenting(db_url: str) -> set[str]:
    """Customers with an active lead_management consent in this master (other tests may have changed some
    since it was seeded, so the database, not the generator, is the reference)."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            k = models.ConsentRow
            return set((await conn.execute(select(k.customer_id).where(
                k.purpose == "lead_management", k.withdrawn_at.is_(None)))).scalars())
    finally:
        await engine.dispose()


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
    db_url = private_master(world, tmp_path)
    gateway = await make_gateway(settings_overrides={"db_url": db_url})
    consenting = await _consenting(db_url)
    consultant = "K-001"
    expected = sorted(c.id for c in world.alliance.customers
                      if c.consultant_id == consultant and c.id in consenting)
    assert len(expected) > 3  # more than one page of 3 (other tests may have withdrawn some consents)
    pages = await _all_pages(gateway, "consultant", 3, consultant_id=consultant)
    ids = [node["id"] for page in pages for node in page]
    assert ids == expected  # real IDs, in ID order, each once, only customers who consented
    assert all(len(page) == 3 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 3


async def test_a_partner_gets_full_pages(make_gateway: Callable[..., Any], world: World,
                                                            tmp_path: Path) -> None:
    db_url = private_master(world, tmp_path)
    gateway = await make_gateway(settings_overrides={"db_url": db_url})
    consenting = await _consenting(db_url)
    holders = {r.customer_id for r in world.alliance.contracts if r.partner_id == "bank"}
    expected = {world.pseudonym(c, "bank") for c in holders & consenting}
    pages = await _all_pages(gateway, "partner", 3, partner_id="bank")
    ids = [node["id"] for page in pages for node in page]
    assert len(ids) == len(set(ids)) and set(ids) == expected  # each once, only customers who consented
    assert all(len(page) == 3 for page in pages[:-1])


async def test_a_consultant_searches_the_names_it_is_shown(make_gateway: Callable[..., Any], world: World,
                                                           tmp_path: Path) -> None:
    db_url = private_master(world, tmp_path)
    gateway = await make_gateway(settings_overrides={"db_url": db_url})
    consenting = await _consenting(db_url)
    consultant = "K-001"
    mine = [c for c in world.alliance.customers if c.consultant_id == consultant]
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
