"""`vcv serve` with several workers (SPEC §10), configured from a YAML file: one port, three processes, one
PostgreSQL for the master and the audit log. Under concurrent load the workers share the requests and one
audit chain; SIGHUP reloads every worker in place; SIGTERM lets requests in flight finish."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fixtures.seed import seed_master
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import mint
from privacy.audit.keys import generate
from tests.gateway_support import CUSTOMERS, SEED, SHOWCASE, World, audit_chain, free_port, wait_ready

pytestmark = pytest.mark.postgres
WORKERS, REQUESTS = 3, 90
QUERY = "query($id: ID!) { customer(id: $id) { id contracts { contractId } } }"
IBANS = 'query($id: ID!) { customer(id: $id) { contracts(partner: "bank") { ... on BankAccount { iban } } } }'
IBAN_RULE = "# the account exists; the bank's loans stay unlisted\n      BankAccount.iban: {mask: last4}"


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _answering_workers(port: int, connections: int) -> Counter[int]:
    """Opens every connection before sending anything, so all of them wait in the kernel together, then asks
    /healthz on each: which worker answered how many."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(connections)]
    answered: Counter[int] = Counter()
    for connection in opened:
        with connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
            answered[json.loads(answer.partition(b"\r\n\r\n")[2])["pid"]] += 1
    return answered


async def test_three_workers_on_one_port_share_the_load_one_chain_and_stop_gracefully(
        world: World, pg_schema_url: str, tmp_path: Path) -> None:
    await seed_master(pg_schema_url, customers=CUSTOMERS, seed=SEED)
    partners, agreements = tmp_path / "partners.yaml", tmp_path / "agreements"
    partners.write_text(yaml.safe_dump(world.config()))
    shutil.copytree(DEMO_AGREEMENTS, agreements)
    audit_key, audit_public = generate(tmp_path / "audit")
    port = free_port()
    config = tmp_path / "vcv.yaml"  # what an operator checks in: paths and sizes, no secret
    config.write_text(yaml.safe_dump({
        "database_url": pg_schema_url, "jwks": str(world.keys_dir / "jwks.json"), "partners": str(partners),
        "agreements": str(agreements), "keys_dir": str(world.pseudonym_keys), "port": port, "workers": WORKERS,
        "graceful_timeout_s": 20}))
    env = {**os.environ, "VCV_CURSOR_KEY": os.urandom(16).hex(), "VCV_AUDIT_SIGNING_KEY": audit_key.read_text()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "--log-format", "json", "serve", "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    sent: list[str] = []
    # A new connection per request, as from many clients: the kernel hands each to whichever worker accepts.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    async def view(customer_id: str, consultant: str, tag: str) -> dict[str, Any]:
        token = mint(world.keys_dir, role="consultant", consultant_id=consultant, purposes=["advisory"])
        request_id = f"{tag}-{uuid.uuid4().hex[:8]}"
        sent.append(request_id)
        async with http.post(f"{base}/graphql", json={"query": QUERY, "variables": {"id": customer_id}},
                             headers={"Authorization": f"Bearer {token}", "X-Purpose": "advisory",
                                      "X-Request-ID": request_id}) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def ibans() -> list[Any]:
        token = mint(world.keys_dir, role="partner", partner_id="life", purposes=["service"])
        sent.append(request_id := f"iban-{uuid.uuid4().hex[:8]}")
        variables = {"id": world.pseudonym(SHOWCASE, "life")}
        async with http.post(f"{base}/graphql", json={"query": IBANS, "variables": variables},
                             headers={"Authorization": f"Bearer {token}", "X-Purpose": "service",
                                      "X-Request-ID": request_id}) as response:
            body = await response.json()
        return [c.get("iban") for c in body["data"]["customer"]["contracts"]]

    try:
        await wait_ready(http, f"{base}/readyz", timeout_s=30)
        workers = _children(process.pid)
        assert len(workers) == WORKERS

        customers = world.alliance.customers
        answers = await asyncio.gather(*(view(customers[n % len(customers)].id,
                                              customers[n % len(customers)].consultant_id, "load")
                                         for n in range(REQUESTS)))
        assert [a["data"]["customer"]["id"] for a in answers] == [customers[n % len(customers)].id
                                                                 for n in range(REQUESTS)]
        # /metrics sums the workers: every scrape, whichever worker answers it, counts all requests so far.
        for _ in range(6):
            async with http.get(f"{base}/metrics") as response:
                samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                           for family in text_string_to_metric_families(await response.text())
                           for s in family.samples}
            assert samples[("vcv_requests_total", (("status", "200"),))] == REQUESTS
            assert samples[("vcv_partner_circuit_state", (("partner", "bank"),))] == 0

        # A burst of new connections (a client filling its keep-alive pool) is spread over every worker: with
        # one shared socket, the worker that woke first took most of them, often all.
        for _ in range(5):
            answered_by = await asyncio.to_thread(_answering_workers, port, 40)
            assert set(answered_by) == set(workers), answered_by

        # A worker that dies is replaced, and its replacement takes its share of new connections on a socket of
        # its own (connections still queued on the dead one's socket were reset: the kernel closed it).
        os.kill(workers[0], signal.SIGKILL)
        for _ in range(100):
            replaced = _children(process.pid)
            if len(replaced) == WORKERS and workers[0] not in replaced:
                break
            await asyncio.sleep(0.1)
        assert len(replaced) == WORKERS and set(replaced) - set(workers), replaced
        answered_by = Counter[int]()
        for _ in range(20):  # the replacement may still be starting: its connections wait, none is refused
            answered_by += await asyncio.to_thread(_answering_workers, port, 40)
            if set(answered_by) == set(replaced):
                break
        assert set(answered_by) == set(replaced), answered_by

        # SIGHUP to the parent reloads every worker: after it, no worker shows the insurer an IBAN fragment.
        assert all(iban.startswith("****") for iban in await ibans())
        bank = agreements / "bank.yaml"
        good = bank.read_text()
        assert IBAN_RULE in good
        bank.write_text(good.replace(IBAN_RULE, IBAN_RULE.split("\n")[0]))
        os.kill(process.pid, signal.SIGHUP)
        await asyncio.sleep(1.0)
        for _ in range(12):
            assert set(await ibans()) == {None}

        # SIGTERM while requests wait for slow partners: they finish, their events are committed, exit 0.
        await world.fault("bank", latency_ms=600)
        in_flight = [asyncio.ensure_future(view(SHOWCASE, customers[0].consultant_id, "inflight"))
                     for _ in range(8)]
        await asyncio.sleep(0.25)
        os.kill(process.pid, signal.SIGTERM)
        finished = await asyncio.gather(*in_flight)
        assert all(not answer.get("errors") for answer in finished)
        await asyncio.wait_for(process.wait(), 30)
        assert process.returncode == 0
    finally:
        await world.reset()
        await http.close()
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
        stderr = (await process.stderr.read()).decode() if process.stderr else ""
    messages = [json.loads(line)["message"] for line in stderr.splitlines() if line.startswith("{")]
    assert sum(m.startswith("reloaded ") for m in messages) == WORKERS, stderr[-3000:]  # each worker, once
    # Where it listens, said once by the gateway (the parent itself listens on nothing: each worker has a socket).
    assert f"listening at http://127.0.0.1:{port}, a socket per worker" in messages
    assert not any(m.startswith("Listening at:") for m in messages), messages[:5]

    verdict, recorded = await audit_chain(pg_schema_url, audit_public)
    assert verdict.intact, verdict
    assert sorted(recorded) == sorted(sent)  # one event per request, whichever worker served it
