"""A stalled audit store stalls no one: with the audit table locked by another session, a request is answered
AUDIT_UNAVAILABLE (HTTP 503, no data) within the configured bound instead of waiting for the lock, `/readyz`
says the store is stalled, and once the lock goes everything works again with the chain intact."""

from __future__ import annotations

import asyncio
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from privacy.audit.verify import verify
from resolvers.database import create_engine
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

QUERY = 'query($id: ID!) { customer(id: $id) { familyName contracts { contractId } } }'
# Long enough for an ordinary commit on a loaded machine, far shorter than the lock is held.
BOUND_S = 2.0


async def _readyz(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    async with gateway.http.get(f"{gateway.url}/readyz") as response:
        return response.status, await response.json()


async def test_a_locked_audit_table_answers_audit_unavailable_in_time(make_gateway, world: World,
                                                                      empty_db_url: str) -> None:
    key = Ed25519PrivateKey.generate()
    gateway = await make_gateway(settings_overrides={"audit_db_url": empty_db_url, "audit_signing_key": key,
                                                     "audit_commit_timeout_s": BOUND_S})
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))

    async def ask() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Far longer than the bound: without it the request would wait for as long as the lock is held.
        reply = await asyncio.wait_for(gateway.post(QUERY, token=token, purpose="advisory",
                                                    variables={"id": SHOWCASE}), 30)
        return reply, loop.time() - started

    first, _ = await ask()  # creates the audit tables
    assert first.status == 200 and first.errors == [], first.body
    assert (await _readyz(gateway))[1]["audit"] == "up"

    locker = create_engine(empty_db_url, write_lock_first=True)
    try:
        async with locker.connect() as conn:
            # PostgreSQL: what an operator's migration or a runaway maintenance job does. SQLite: another
            # process holding the file's write lock (BEGIN IMMEDIATE, from `write_lock_first`).
            postgres = conn.dialect.name == "postgresql"
            await conn.execute(text("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE" if postgres else "SELECT 1"))
            stalled, seconds = await ask()
            assert stalled.status == 503 and stalled.data is None, stalled.body
            assert stalled.codes() == ["AUDIT_UNAVAILABLE"]
            assert world.alliance.customer(SHOWCASE).family_name not in str(stalled.body)
            # The bound plus a generous margin for a loaded machine; the lock is held until after this.
            assert seconds < BOUND_S + 8, seconds
            status, ready = await asyncio.wait_for(_readyz(gateway), 30)
            assert status == 503 and ready["audit"] == "stalled", ready
            await conn.rollback()
        # Recovery: ready again, and requests are answered and logged.
        for _ in range(50):
            status, ready = await _readyz(gateway)
            if status == 200:
                break
            await asyncio.sleep(0.2)
        assert status == 200 and ready["audit"] == "up", ready
        after, _ = await ask()
        assert after.status == 200 and after.errors == [], after.body
        verdict = await verify(locker, key.public_key())
    finally:
        await locker.dispose()
    # The refused request's event was withdrawn or never committed; the two answered ones are in an intact chain.
    assert verdict.intact and verdict.events >= 2, verdict
