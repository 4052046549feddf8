"""Does a lookup or a page cost more as the alliance grows? (planner issue, item 7)

    .venv/bin/python -m bench.scale                      # masters of 10k, 100k and 1M customers
    .venv/bin/python -m bench.scale --sizes 10000,100000 --repeat 20 --no-write

For each size a SQLite master is seeded once (kept under .vcv/bench-scale/, reused by later runs) and a
gateway runs in this process against it with the demo agreements, JWT and audit on. The operations read
the master only (no contract fields, so no partner is called): what is measured is how the master's side
scales. Each figure is the median of `--repeat` requests after one warm-up request. The gateway builds the
partners' pseudonym indexes at start-up and is measured from start until `/readyz` answers 200 (each
master is copied without indexes first, so every run builds them); the first partner request is reported
on its own. The table goes into
bench/RESULTS.md ("Scaling") with the command, unless --no-write."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from fixtures.seed import seed_master
from gateway.app import GatewaySettings, create_app
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import ensure_demo_signing_keys, mint
from privacy.pseudonyms import PseudonymKeys, ensure_demo_pseudonym_keys
from privacy.treatments import pseudonym
from resolvers.connectors.partners_file import parse

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".vcv" / "bench-scale"
RESULTS = ROOT / "bench" / "RESULTS.md"
SEED = 42
VIEW = 'query($id: ID!) { customer(id: $id) { id givenName familyName birthDate segment consents { purpose } } }'
PAGE = 'query($after: String) { customers(first: 20, after: $after) { edges { node { id } } ' \
       'pageInfo { endCursor } } }'
OPEN = 'query($id: ID!) { customer(id: $id) { id } }'
SEARCH = 'query($q: String) { customers(search: $q, first: 5) { edges { node { id } } } }'
PARTNERS = ROOT / "fixtures" / "partners.yaml"  # never called here: only master fields are asked for


async def _master(size: int) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"master-{size}.db"
    url = f"sqlite+aiosqlite:///{path}"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial.db")
        partial.unlink(missing_ok=True)
        await seed_master(f"sqlite+aiosqlite:///{partial}", customers=size, seed=SEED)
        partial.rename(path)
        print(f"  seeded {size:,} customers in {time.perf_counter() - started:.0f} s", flush=True)
    return url


async def _timed(call: Callable[[], Awaitable[dict[str, Any]]], repeat: int) -> float:
    await call()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        body = await call()
        times.append(time.perf_counter() - started)
        codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or ()}
        assert codes <= {"CUSTOMER_NOT_FOUND"}, body  # an unknown pseudonym is meant to be not found
    return statistics.median(times) * 1000


async def measure(size: int, repeat: int) -> dict[str, float]:
    import yaml

    source = await _master(size)
    # A copy without pseudonym indexes, so that the start-up build is measured whole on every run.
    copy = WORK / f"run-{size}-{os.getpid()}.db"
    with sqlite3.connect(source.split("///", 1)[1]) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("DROP TABLE IF EXISTS pseudonym_index")
        dst.execute("DROP TABLE IF EXISTS pseudonym_index_state")
    url = f"sqlite+aiosqlite:///{copy}"
    keys_dir = WORK / "keys"
    jwks = ensure_demo_signing_keys(keys_dir)
    pseudonym_keys = ensure_demo_pseudonym_keys(WORK / "pseudonym-keys", ["rm", "bank", "life", "property", "invest"])
    # The audit log in its own file per run, so that runs do not grow one another's log.
    audit = WORK / f"audit-{size}-{os.getpid()}.db"
    raw = yaml.safe_load(PARTNERS.read_text(encoding="utf-8"))
    for entry in raw["partners"]:
        entry["credential"] = "unused"
    settings = GatewaySettings(db_url=url, jwks_path=jwks,
                               partners=parse(raw), agreements_dir=DEMO_AGREEMENTS,
                               keys_dir=pseudonym_keys, audit_db_url=f"sqlite+aiosqlite:///{audit}")
    started = time.perf_counter()
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    endpoint = f"{base}/graphql"
    number = size // 2 + 1
    customer = f"C-{number:06d}"
    # The consultant of that customer, as the seed assigns them (round robin over consultants).
    consultants = max(3, size // 25 + 1)
    consultant = f"K-{(number - 1) % consultants + 1:03d}"
    key = PseudonymKeys.load(["rm"], directory=pseudonym_keys).for_consumer("rm", "life")
    assert key is not None
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as http:
            # The gateway builds every partner's pseudonym index at start-up and is not ready until then.
            while True:
                async with http.get(f"{base}/readyz") as ready:
                    if ready.status == 200:
                        break
                await asyncio.sleep(0.1)
            out["start-up until ready (4 indexes)"] = (time.perf_counter() - started) * 1000

            def ask(query: str, variables: dict[str, Any], role: str, purpose: str,
                    **ids: str) -> Callable[[], Awaitable[dict[str, Any]]]:
                token = mint(keys_dir, role=role, purposes=[purpose], consultant_id=ids.get("consultant_id"),
                             partner_id=ids.get("partner_id"))

                async def call() -> dict[str, Any]:
                    async with http.post(endpoint, json={"query": query, "variables": variables},
                                         headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose}) as r:
                        return await r.json(content_type=None)
                return call

            first_page = ask(PAGE, {"after": None}, "partner", "service", partner_id="life")
            started = time.perf_counter()
            body = await first_page()  # the life insurer's index is built: it waits for nothing
            out["partner: first request"] = (time.perf_counter() - started) * 1000
            holder = body["data"]["customers"]["edges"][0]["node"]["id"]
            out["consultant: customer view"] = await _timed(
                ask(VIEW, {"id": customer}, "consultant", "advisory", consultant_id=consultant), repeat)
            out["partner: customers(first: 20)"] = await _timed(first_page, repeat)
            out["partner: open by pseudonym"] = await _timed(
                ask(OPEN, {"id": holder}, "partner", "service", partner_id="life"), repeat)
            out["partner: unknown pseudonym"] = await _timed(
                ask(OPEN, {"id": pseudonym("C-999999999", key)}, "partner", "service", partner_id="life"), repeat)
            out["service agent: search by ID"] = await _timed(
                ask(SEARCH, {"q": customer}, "service_agent", "service"), repeat)
            out["service agent: search by name"] = await _timed(
                ask(SEARCH, {"q": "mül"}, "service_agent", "service"), repeat)
    finally:
        await runner.cleanup()
        audit.unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return out


def _table(results: dict[int, dict[str, float]]) -> str:
    sizes = sorted(results)
    head = "| operation | " + " | ".join(f"{s:,} customers" for s in sizes) + f" | {sizes[-1]:,} / {sizes[0]:,} |"
    rows = [head, "|---|" + "---|" * (len(sizes) + 1)]
    for name in results[sizes[0]]:
        values = [results[s][name] for s in sizes]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        rows.append(f"| {name} | " + " | ".join(f"{v:.1f} ms" for v in values) + f" | {ratio:.2f}× |")
    return "\n".join(rows)


def _write(table: str, command: str) -> None:
    text = RESULTS.read_text(encoding="utf-8")
    load = os.getloadavg()[0]
    section = (f"## Scaling (latest run of `bench.scale`)\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command}`, "
               f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}, load average {load:.1f} at the end. Medians of the requests after a "
               f"warm-up, end to end over HTTP on loopback (JWT, policy and audit on). Target: every lookup and "
               f"page within 2× of its 10k-customer time at 1M.\n\n{table}\n")
    pattern = re.compile(r"## Scaling \(latest run of `bench.scale`\)\n.*?(?=\n## |\Z)", re.DOTALL)
    text = pattern.sub(section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size:,} customers", flush=True)
        results[size] = await measure(size, args.repeat)
        for name, value in results[size].items():
            print(f"  {name}: {value:.1f} ms", flush=True)
    table = _table(results)
    print(table)
    if not args.no_write:
        _write(table, "python -m bench.scale " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
