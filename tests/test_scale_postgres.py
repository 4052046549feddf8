"""Scaling out (SPEC §10): three `vcv serve` processes behind one imaginary load balancer, one PostgreSQL for
the customer master and the audit log. Under concurrent load every answer is right, and afterwards the one
audit chain verifies and holds exactly one event per request sent."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import yaml

from fixtures.seed import seed_master
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import mint
from privacy.audit.keys import generate
from tests.gateway_support import CUSTOMERS, SEED, World, audit_chain, free_port, wait_ready

GATEWAYS, REQUESTS, IN_FLIGHT = 3, 150, 24
QUERY = "query($id: ID!) { customer(id: $id) { id familyName contracts { contractId } } }"


async def test_three_gateways_on_one_postgresql_keep_one_audit_chain(world: World, pg_schema_url: str,
                                                                     tmp_path: Path) -> None:
    await seed_master(pg_schema_url, customers=CUSTOMERS, seed=SEED)
    partners = tmp_path / "partners.yaml"
    partners.write_text(yaml.safe_dump(world.config()))
    audit_key, audit_public = generate(tmp_path / "audit")
    env = {**os.environ, "VCV_CURSOR_KEY": os.urandom(16).hex()}  # cursors from one gateway work on another
    ports = [free_port() for _ in range(GATEWAYS)]
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--db", pg_schema_url, "--jwks",
        str(world.keys_dir / "jwks.json"), "--partners", str(partners), "--agreements", str(DEMO_AGREEMENTS),
        "--keys-dir", str(world.pseudonym_keys),
        "--audit-key", str(audit_key), "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE) for port in ports]
    try:
        for port in ports:
            await wait_ready(world.http, f"http://127.0.0.1:{port}/readyz", timeout_s=30)  # a loaded CI machine

        sent: list[str] = []
        limit = asyncio.Semaphore(IN_FLIGHT)

        async def one(n: int) -> None:
            customer = world.alliance.customers[n % len(world.alliance.customers)]
            token = mint(world.keys_dir, role="consultant", consultant_id=customer.consultant_id,
                         purposes=["advisory"])
            request_id = f"scale-{n}-{uuid.uuid4().hex[:8]}"
            async with limit, world.http.post(
                    f"http://127.0.0.1:{ports[n % GATEWAYS]}/graphql", json={"query": QUERY,
                                                                            "variables": {"id": customer.id}},
                    headers={"Authorization": f"Bearer {token}", "X-Purpose": "advisory",
                             "X-Request-ID": request_id}) as response:
                body = await response.json()
            assert response.status == 200 and not body.get("errors"), body
            assert body["data"]["customer"]["id"] == customer.id
            sent.append(request_id)

        await asyncio.gather(*(one(n) for n in range(REQUESTS)))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, stderr.decode()[-2000:]  # a clean, graceful shutdown

    verdict, recorded = await audit_chain(pg_schema_url, audit_public)
    assert verdict.intact, verdict
    assert sorted(r for r in recorded if r.startswith("scale-")) == sorted(sent)  # one event per request
    assert len(sent) == REQUESTS
