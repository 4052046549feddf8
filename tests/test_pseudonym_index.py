"""The pseudonym index (resolvers/pseudonym_index.py): opening a customer by pseudonym and paging a partner's
customers without recomputing every customer's pseudonym. What an insider reading the database sees of it,
that it follows the master as it grows, and that a rotated key rebuilds it."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

from privacy.pseudonyms import PseudonymKeys, ensure_demo_pseudonym_keys, index_token
from privacy.treatments import pseudonym
from tests.gateway_support import Gateway, World, private_master

ONE = 'query($id: ID!) { customer(id: $id) { id familyName } }'
PAGE = '{ customers(first: 100) { edges { node { id } } } }'


async def _opened(gateway: Gateway, given: str, partner: str = "life") -> str | None:
    reply = await gateway.as_role(ONE, "partner", "service", {"id": given}, partner_id=partner)
    return reply.data["customer"]["id"] if reply.data and reply.data["customer"] else None


async def test_the_index_holds_no_pseudonym_and_no_key(make_gateway, world: World, tmp_path: Path) -> None:
    db = private_master(world, tmp_path)
    gateway = await make_gateway(settings_overrides={"db_url": db})
    holder = next(c.customer_id for c in world.alliance.contracts if c.partner_id == "life")
    assert await _opened(gateway, world.pseudonym(holder, "life")) == world.pseudonym(holder, "life")
    with sqlite3.connect(db.split("///", 1)[1]) as conn:
        rows = conn.execute("select owner, consumer, token, customer_id from pseudonym_index "
                            "where consumer = 'life'").fetchall()
        state = conn.execute("select fingerprint from pseudonym_index_state where consumer = 'life'").fetchall()
    assert len(rows) == len(world.alliance.customers) and {(o, c) for o, c, _, _ in rows} == {("rm", "life")}
    # An insider sees which rows are the life insurer's, not which pseudonym it is shown for whom.
    keys = PseudonymKeys.load(["rm"], directory=world.pseudonym_keys)
    key = keys.for_consumer("rm", "life")
    assert key is not None
    shown = {pseudonym(c.id, key) for c in world.alliance.customers}
    stored = " ".join(f"{t} {f}" for _, _, t, _ in rows for (f,) in state)
    assert "PSN-" not in stored and not any(p[4:].lower() in stored.lower() for p in shown)
    assert key.hex() not in stored and (keys.get("rm") or b"").hex() not in stored
    # The token is the keyed HMAC of the pseudonym, which only a holder of the key can compute.
    assert {(t, cid) for _, _, t, cid in rows} == {(index_token(key, pseudonym(c.id, key)), c.id)
                                                   for c in world.alliance.customers}


async def test_the_index_follows_new_customers_and_a_rotated_key(make_gateway, world: World, tmp_path: Path) -> None:
    db = private_master(world, tmp_path)
    gateway = await make_gateway(settings_overrides={"db_url": db})
    holder = next(c.customer_id for c in world.alliance.contracts if c.partner_id == "life")
    assert await _opened(gateway, world.pseudonym(holder, "life"))  # the index is built
    # A customer the master gains later (IDs are assigned in increasing order) is found by pseudonym too.
    with sqlite3.connect(db.split("///", 1)[1]) as conn:
        consultant = conn.execute("select consultant_id from customers limit 1").fetchone()[0]
        conn.execute("insert into customers (id, given_name, family_name, consultant_id, segment) values "
                     "('C-900001', 'Nova', 'Later', ?, 'retail')", (consultant,))
        conn.execute("insert into contract_refs (contract_id, customer_id, partner_id, product_type, status, "
                     "start_date) values ('LIF-90000001', 'C-900001', 'life', 'LIFE', 'active', ?)",
                     (date(2026, 1, 1).isoformat(),))
    newcomer = world.pseudonym("C-900001", "life")
    assert await _opened(gateway, newcomer) == newcomer
    listed = await gateway.as_role(PAGE, "partner", "service", partner_id="life")
    assert newcomer in {e["node"]["id"] for e in listed.data["customers"]["edges"]}

    # A new key for the master's agreement: every pseudonym changes, the index is rebuilt, the old ones are gone.
    rotated = tmp_path / "rotated-keys"
    shutil.copytree(world.pseudonym_keys, rotated)
    (rotated / "rm.key").unlink()
    ensure_demo_pseudonym_keys(rotated, ["rm"])
    after = await make_gateway(settings_overrides={"db_url": db, "keys_dir": rotated})
    new_key = PseudonymKeys.load(["rm"], directory=rotated).for_consumer("rm", "life")
    assert new_key is not None
    assert await _opened(after, pseudonym(holder, new_key)) == pseudonym(holder, new_key)
    assert await _opened(after, world.pseudonym(holder, "life")) is None
