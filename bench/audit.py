"""Audit log figures (SPEC §9): append throughput with group commit, the wait one request's event adds, and
verify speed, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.audit [--events 5000] [--concurrency 32] [--verify-events 100000]
                                    [--only sqlite|postgresql] [--pg postgresql+asyncpg://…]

A request waits for its event's commit before its answer leaves (fail closed); `concurrency` events are in
flight at once, as from that many simultaneous requests in one gateway process. Verify speed is measured on
a log of `verify-events` events (written in commits of 32, as a busy gateway's group commits come), best of
three runs, with one worker process per CPU as `vcv audit verify` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy.audit.store import AuditLog, AuditSettings
from privacy.audit.verify import default_workers, verify
from resolvers.database import create_engine

EVENT = {"request_id": "bench", "caller": {"subject": "consultant:K-001", "role": "consultant", "organisation": "rm"},
         "purpose": "advisory", "operation": {"name": "C360", "hash": "0" * 64}, "customers": ["C-000001"],
         "partners": [{"partner": p, "contracts": 5, "outcome": "ok", "latency_ms": 51.2}
                      for p in ("bank", "life", "property", "invest")],
         "fields": {"shown": [f"bank/BankAccount.f{i}" for i in range(20)], "withheld": []},
         "errors": [], "outcome": "allowed"}


async def measure(url: str, events: int, concurrency: int, verify_events: int = 0) -> dict[str, Any]:
    engine = create_engine(url, write_lock_first=True)
    key = Ed25519PrivateKey.generate()
    log = AuditLog(engine, key, AuditSettings(checkpoint_every=100))
    await log.ensure_schema()
    waits: list[float] = []

    async def one(n: int) -> None:
        started = time.perf_counter()
        await log.record({**EVENT, "n": n})
        waits.append(time.perf_counter() - started)

    started = time.perf_counter()
    for wave in range(0, events, concurrency):
        await asyncio.gather(*(one(n) for n in range(wave, min(wave + concurrency, events))))
    elapsed = time.perf_counter() - started
    for start in range(events, verify_events, 32):
        await log.append([{**EVENT, "n": n} for n in range(start, min(start + 32, verify_events))])
    total = max(events, verify_events)
    best = float("inf")
    for _ in range(3):
        verify_started = time.perf_counter()
        verdict = await verify(engine, key.public_key(), workers=default_workers())  # as `vcv audit verify`
        best = min(best, time.perf_counter() - verify_started)
        assert verdict.intact and verdict.events == total, verdict
    await engine.dispose()
    waits.sort()
    return {"append_events_per_s": round(events / elapsed), "wait_p50_ms": round(statistics.median(waits) * 1000, 2),
            "wait_p99_ms": round(waits[int(len(waits) * 0.99) - 1] * 1000, 2),
            "verify_events_per_s": round(total / best), "events": events, "verified_events": total,
            "concurrency": concurrency}


async def _pg_schema(base: str, drop: str | None = None) -> str:
    import asyncpg

    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        if drop:
            await conn.execute(f'DROP SCHEMA "{drop}" CASCADE')
            return drop
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema
    finally:
        await conn.close()


async def pg_reachable(base: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def measure_pg(base: str, events: int, concurrency: int, verify_events: int = 0) -> dict[str, Any]:
    """`measure` in a schema of its own, dropped afterwards."""
    schema = await _pg_schema(base)
    try:
        return await measure(f"{base}{'&' if '?' in base else '?'}vcv_schema={schema}", events, concurrency,
                             verify_events)
    finally:
        await _pg_schema(base, drop=schema)


async def main(args: argparse.Namespace) -> None:
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as work:
            sqlite = await measure(f"sqlite+aiosqlite:///{Path(work) / 'audit.db'}", args.events, args.concurrency,
                                   args.verify_events)
        print(f"sqlite      {sqlite}", flush=True)
    if args.only in (None, "postgresql"):
        print(f"postgresql  {await measure_pg(args.pg, args.events, args.concurrency, args.verify_events)}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--verify-events", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg", default=os.environ.get("VCV_TEST_PG_URL",
                                                       "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
