"""The "customer 360" benchmark (SPEC §9): one customer, 20 contracts across 4 partners, every field
selected, partners answering after a set latency. Everything runs for real on loopback.

    .venv/bin/python -m bench.run [--latency-ms 50] [--requests 200] [--throughput-seconds 10]

Reports gateway overhead (end-to-end minus the slowest partner's latency) p50/p99, partner calls per
query, throughput of one gateway process with 0 ms partners and its peak RSS, and the same workload through
a naive sequential client (one partner call per contract, one after another) as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import yaml

from fixtures.alliance import generate
from fixtures.seed import seed_master
from gateway.tokens import ensure_demo_keys, mint
from privacy.audit.keys import generate as generate_audit_keys
from privacy.pseudonyms import ensure_demo_keys as ensure_pseudonym_keys

TEMPLATE = Path(__file__).resolve().parent.parent / "fixtures" / "partners.yaml"
SHOWCASE = "C-000001"
QUERY = """query C360($id: ID!) { customer(id: $id) { id givenName familyName birthDate email phone segment
  address { street postalCode city country } consultant { id name }
  contracts { contractId productType status startDate partner { id name }
    ... on BankAccount { iban balance { amount currency } overdraftLimit { amount currency } interestRate
                         recentTransactions { bookingDate amount { amount currency } counterparty reference } }
    ... on Loan { principal { amount currency } outstanding { amount currency } interestRate maturityDate }
    ... on LifePolicy { sumInsured { amount currency } premium { amount currency } paymentFrequency beneficiaries
                        surrenderValue { amount currency } healthClass }
    ... on PropertyPolicy { kind premium { amount currency } deductible { amount currency } insuredObject
                            claims { claimId reportedOn amount { amount currency } status } }
    ... on Depot { marketValue { amount currency } riskProfile
                   positions { isin name quantity value { amount currency } } }
  }
  portfolio { assets { amount currency } liabilities { amount currency } complete } } }"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _set_latency(http: aiohttp.ClientSession, partners: Any, latency_ms: int) -> None:
    for p in partners.partners.values():
        async with http.post(f"{p.url}/_faults", json={"latency_ms": latency_ms, "mode": "none"},
                             headers={"Authorization": f"Bearer {p.admin_credential}"}) as response:
            response.raise_for_status()


async def _batch_calls(http: aiohttp.ClientSession, partners: Any) -> int:
    total = 0
    for p in partners.partners.values():
        async with http.get(f"{p.url}/_stats") as response:
            total += (await response.json())["batch_calls"]
    return total


async def _naive(http: aiohttp.ClientSession, partners: Any, alliance: Any) -> None:
    """What a hand-written integration does: each contract fetched on its own, one after another."""
    for ref in (c for c in alliance.contracts if c.customer_id == SHOWCASE):
        p = partners.partners[ref.partner_id]
        headers = {"Authorization": f"Bearer {p.credential}"}
        if ref.partner_id == "property":
            body = {"query": "query($ids:[ID!]!){ policies(ids:$ids){ contractId premium { amount } } }",
                    "variables": {"ids": [ref.contract_id]}}
            async with http.post(f"{p.url}/graphql", json=body, headers=headers) as response:
                await response.json()
        else:
            async with http.post(f"{p.url}/v1/contracts/batch", json={"ids": [ref.contract_id]},
                                 headers=headers) as response:
                await response.json()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def _wait_ready(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with http.get(url) as response:
                if response.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Partners and gateway each run in their own process, as in production; this one is only the client."""
    work = Path(tempfile.mkdtemp(prefix="vcv-bench-"))
    db_url = f"sqlite+aiosqlite:///{work / 'master.db'}"
    await seed_master(db_url, customers=args.customers, seed=42)
    alliance = generate(args.customers, 42)
    base_port, gateway_port = _free_port(), _free_port()
    while any(abs(base_port + i - gateway_port) == 0 for i in range(4)):
        gateway_port = _free_port()
    vcv = [sys.executable, "-m", "gateway.cli"]
    partner_proc = subprocess.Popen([*vcv, "partners", "run", "--customers", str(args.customers), "--seed", "42",
                                     "--base-port", str(base_port), "--credentials", str(work / "credentials.json")],
                                    stdout=subprocess.DEVNULL, stderr=(work / "partners.log").open("w"))
    names = ("bank", "life", "property", "invest")
    partners = SimpleNamespace(partners={n: SimpleNamespace(url=f"http://127.0.0.1:{base_port + i}")
                                         for i, n in enumerate(names)})
    async with aiohttp.ClientSession() as http:
        for p in partners.partners.values():
            await _wait_ready(http, f"{p.url}/_stats")
    credentials = json.loads((work / "credentials.json").read_text())
    for name, p in partners.partners.items():
        p.credential, p.admin_credential = credentials[name]["credential"], credentials[name]["admin_credential"]
    raw = yaml.safe_load(TEMPLATE.read_text())
    for entry in raw["partners"]:
        entry.update(base_url=partners.partners[entry["id"]].url, credential=partners.partners[entry["id"]].credential)
    (work / "partners.yaml").write_text(yaml.safe_dump(raw))
    jwks = ensure_demo_keys(work)
    keys_dir = ensure_pseudonym_keys(work / "pseudonym-keys", ["rm", *names])
    audit_key, _ = generate_audit_keys(work / "audit-keys")
    gateway_log = (work / "gateway.log").open("w")
    profiled = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "gateway.cli"] if args.profile else vcv
    gateway_proc = subprocess.Popen([*profiled, "serve", "--db", db_url, "--jwks", str(jwks), "--partners",
                                     str(work / "partners.yaml"), "--keys-dir", str(keys_dir),
                                     "--audit-key", str(audit_key),
                                     "--port", str(gateway_port)],
                                    stdout=gateway_log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{gateway_port}/graphql"
    consultant = alliance.customer(SHOWCASE).consultant_id
    token = mint(work, role="consultant", consultant_id=consultant, purposes=["advisory"])
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "advisory"}
    body = {"query": QUERY, "variables": {"id": SHOWCASE}}
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        try:
            await _wait_ready(http, url.replace("/graphql", "/healthz"))
        except RuntimeError:
            raise RuntimeError(f"gateway did not start:\n{(work / 'gateway.log').read_text()}") from None

        async def one() -> float:
            started = time.perf_counter()
            async with http.post(url, json=body, headers=headers) as response:
                payload = await response.json()
            elapsed = time.perf_counter() - started
            if payload.get("errors"):
                raise RuntimeError(payload["errors"])
            return elapsed

        await _set_latency(http, partners, args.latency_ms)
        for _ in range(10):
            await one()
        before = await _batch_calls(http, partners)
        latencies = [await one() for _ in range(args.requests)]
        calls = (await _batch_calls(http, partners) - before) / args.requests
        overhead = [(t * 1000) - args.latency_ms for t in latencies]
        results["latency_ms"] = args.latency_ms
        results["overhead_p50_ms"] = round(_pct(overhead, 0.5), 2)
        results["overhead_p99_ms"] = round(_pct(overhead, 0.99), 2)
        results["end_to_end_p50_ms"] = round(_pct(latencies, 0.5) * 1000, 2)
        results["partner_calls_per_query"] = calls

        naive = []
        for _ in range(max(5, args.requests // 20)):
            started = time.perf_counter()
            await _naive(http, partners, alliance)
            naive.append(time.perf_counter() - started)
        results["naive_sequential_p50_ms"] = round(statistics.median(naive) * 1000, 2)
        results["naive_over_gateway_ratio"] = round(statistics.median(naive) / statistics.median(latencies), 2)

        await _set_latency(http, partners, 0)
        done, stop_at = 0, time.perf_counter() + args.throughput_seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                await one()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        results["throughput_rps_0ms_partners"] = round(done / (time.perf_counter() - started), 1)
        results["concurrency"] = args.concurrency
    results["gateway_peak_rss_mib"] = _rss_peak_mib(gateway_proc.pid)
    for proc in (gateway_proc, partner_proc):
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile, stats written to FILE")
    args = parser.parse_args()
    for key, value in asyncio.run(main(args)).items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    cli()
