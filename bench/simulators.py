"""What the partner simulators cost: CPU per batch call, the batches the gateway sends for the customer-360
workload (C-000001's contracts at each partner, every field), so a benchmark measures the gateway, not them.

    .venv/bin/python -m bench.simulators [--batches 400]

Starts `vcv partners run` in its own process and sends each partner's batch in turn (0 ms latency, one at a
time); CPU is that process's user + system time from /proc over the batches sent to one partner.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bench.ports import free_range
from bench.procs import cpu_seconds
from bench.run import NAMES, SHOWCASE, SIMULATORS, _wait_ready
from fixtures.alliance import generate

ENTITIES = ("query Lookup($representations: [_Any!]!) { _entities(representations: $representations) "
            "{ ... on PropertyPolicy { contractId productCode claims { amount { amount currency } claimId "
            "reportedOn status } deductible { amount currency } insuredObject kind premium { amount currency } } } }")


def batch_request(partner: str, ids: list[str]) -> tuple[str, dict[str, Any]]:
    """(path, body) of the gateway's batch call for `ids`, as its connectors send it."""
    if partner == "property":
        return "/graphql", {"query": ENTITIES, "operationName": "Lookup", "variables": {
            "representations": [{"__typename": "PropertyPolicy", "contractId": i} for i in ids]}}
    return "/v1/contracts/batch", {"ids": ids}


async def measure(batches: int, customers: int = 200) -> dict[str, float]:
    alliance = generate(customers, 42)
    with tempfile.TemporaryDirectory(prefix="vcv-simcost-") as work:
        return await _measure(Path(work), alliance, batches, customers)


async def _measure(work: Path, alliance: Any, batches: int, customers: int) -> dict[str, float]:
    base = free_range(len(NAMES), set())
    proc = subprocess.Popen([*SIMULATORS, "--customers", str(customers),
                             "--seed", "42", "--base-port", str(base), "--credentials", str(work / "creds.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as http:
            urls = {n: f"http://127.0.0.1:{base + i}" for i, n in enumerate(NAMES)}
            for url in urls.values():
                await _wait_ready(http, f"{url}/healthz", proc)
            creds = json.loads((work / "creds.json").read_text())
            for name, url in urls.items():
                ids = [c.contract_id for c in alliance.contracts if c.customer_id == SHOWCASE and c.partner_id == name]
                path, body = batch_request(name, ids)
                headers = {"Authorization": f"Bearer {creds[name]['credential']}"}
                for _ in range(20):  # warm-up
                    async with http.post(url + path, json=body, headers=headers) as response:
                        assert response.status == 200, await response.text()
                before = cpu_seconds(proc.pid)
                for _ in range(batches):
                    async with http.post(url + path, json=body, headers=headers) as response:
                        await response.read()
                result[name] = round((cpu_seconds(proc.pid) - before) * 1000 / batches, 3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=400)
    args = parser.parse_args()
    for name, ms in asyncio.run(measure(args.batches)).items():
        print(f"{name}: {ms:.3f} ms CPU per batch")


if __name__ == "__main__":
    main()
