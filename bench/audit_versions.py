"""Verify speed of another checkout's audit code against this one's, alternated in one process: on a shared,
loaded machine absolute figures move too much to compare runs made minutes apart. Each version verifies a
log its own store wrote: `--events` events in commits of 32, a checkpoint kept every 100.

    git worktree add /tmp/audit-base <commit>
    .venv/bin/python -m bench.audit_versions sqlite|postgresql --base /tmp/audit-base [--events 100000]
                                             [--rounds 4] [--one-log] [--bulk] [--profile FILE]

This checkout's `verify` runs twice per round: in this process alone (`workers=0`, as the gateway's
`auditChain` query does) and as `vcv audit verify` runs it (`workers=default_workers()`, one forked worker per
CPU). Reported: events/s of each run, and the CPU time per event of this process and its workers together.

`--one-log`: one log, written by this checkout's store, verified by both versions (when both stores write
the same format, this halves the time to set up a long log). `--bulk`: write the log through the store's
`chain` (the same hashes, signatures, heads and checkpoints as its `append`, commits of 32 events) but insert
many commits per transaction, for logs of a million events. `--profile FILE`: cProfile of one more run of
this checkout's verify without workers, written to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import resource
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.audit import EVENT
from resolvers.database import create_engine

PG = "postgresql://postgres@127.0.0.1:5432/test"
COMMIT = 32  # events per commit, as a busy gateway's group commits come


def load_other(checkout: Path) -> dict[str, types.ModuleType]:
    """The other checkout's privacy.audit modules, under another package name and other metric names (both
    versions register their metrics in one process)."""
    package = types.ModuleType("other_audit")
    package.__path__ = [str(checkout / "privacy" / "audit")]
    sys.modules["other_audit"] = package
    modules = {}
    for name in ("chain", "store", "verify"):
        source = (checkout / "privacy" / "audit" / f"{name}.py").read_text(encoding="utf-8")
        source = source.replace("privacy.audit.", "other_audit.").replace('"vcv_audit_', '"other_vcv_audit_')
        module = types.ModuleType(f"other_audit.{name}")
        sys.modules[module.__name__] = module
        exec(compile(source, f"other_audit/{name}.py", "exec"), module.__dict__)
        modules[name] = module
    return modules


async def build(store: Any, url: str, key: Ed25519PrivateKey, events: int, bulk: bool = False) -> AsyncEngine:
    engine = create_engine(url, write_lock_first=True)
    log = store.AuditLog(engine, key, store.AuditSettings(checkpoint_every=100))
    await log.ensure_schema()
    if not bulk:
        for start in range(0, events, COMMIT):
            await log.append([{**EVENT, "n": n} for n in range(start, min(start + COMMIT, events))])
        log.close()
        return engine
    seq, previous = 0, "0" * 64
    for block in range(0, events, 100 * COMMIT):  # a hundred commits per transaction
        rows: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        top: dict[str, Any] | None = None
        for start in range(block, min(block + 100 * COMMIT, events), COMMIT):
            commit = log.chain(seq, previous, [{**EVENT, "n": n} for n in range(start, min(start + COMMIT, events))])
            stamp = store._sqlite_time(commit.now) if engine.dialect.name == "sqlite" else commit.now
            rows += [{**row, "recorded_at": stamp} for row in commit.rows]
            links += commit.touched
            kept += [{**c, "signed_at": stamp} for c in commit.kept]
            top = {**commit.top, "signed_at": stamp}
            seq, previous = commit.seqs[-1], commit.rows[-1]["hash"]
        async with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                raw: Any = (await conn.get_raw_connection()).driver_connection
                await raw.executemany(store._SQLITE_WRITES["events"], rows)
                await raw.executemany(store._SQLITE_WRITES["links"], links)
                if kept:
                    await raw.executemany(store._SQLITE_WRITES["kept"], kept)
                await raw.execute(store._SQLITE_WRITES["head"], top)
            else:
                await conn.execute(insert(store.events), rows)
                await conn.execute(insert(store.event_customers), links)
                if kept:
                    await conn.execute(insert(store.checkpoints), kept)
                assert top is not None
                await conn.execute(store._upsert_head("postgresql", top))
    log.close()
    return engine


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the verify workers, once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def main(args: argparse.Namespace) -> None:
    import privacy.audit.store as this_store
    import privacy.audit.verify as this_verify

    other = load_other(args.base)
    key = Ed25519PrivateKey.generate()
    schemas: list[str] = []

    async def url(tag: str) -> str:
        if args.backend == "sqlite":
            return f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/{tag}.db"
        schema = f"versions_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(PG)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
        schemas.append(schema)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/test?vcv_schema={schema}"

    started = time.perf_counter()
    engines = {"this": await build(this_store, await url("this"), key, args.events, args.bulk)}
    engines["other"] = engines["this"] if args.one_log else \
        await build(other["store"], await url("other"), key, args.events, args.bulk)
    print(f"{args.backend}: {args.events:,} events written in {time.perf_counter() - started:.0f} s", flush=True)
    workers = this_verify.default_workers()
    takes_workers = "workers" in inspect.signature(other["verify"].verify).parameters
    runs: dict[str, Any] = {
        "base": lambda: other["verify"].verify(engines["other"], key.public_key(),
                                               **({"workers": workers} if takes_workers else {})),
        "this, no workers": lambda: this_verify.verify(engines["this"], key.public_key()),
        f"this, {workers} workers": lambda: this_verify.verify(engines["this"], key.public_key(), workers=workers),
    }
    rates: dict[str, list[int]] = {side: [] for side in runs}
    cpu: dict[str, list[float]] = {side: [] for side in runs}
    try:
        for _ in range(args.rounds):
            for side, run in runs.items():
                cpu_started, started = _cpu(), time.perf_counter()
                verdict = await run()
                elapsed = time.perf_counter() - started
                assert verdict.intact and verdict.events == args.events, verdict
                rates[side].append(round(args.events / elapsed))
                cpu[side].append(round((_cpu() - cpu_started) / args.events * 1e6, 1))
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await this_verify.verify(engines["this"], key.public_key())
            profile.disable()
            profile.dump_stats(args.profile)
    finally:
        for engine in set(engines.values()):
            await engine.dispose()
        if schemas:
            conn = await asyncpg.connect(PG)
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()
    best = {side: max(values) for side, values in rates.items()}
    print(f"{args.backend}, {args.events:,} events, {args.rounds} rounds:")
    for side in runs:
        print(f"  {side:18s} events/s {rates[side]}  best {best[side]:,} = {best[side] / best['base']:.2f}× base; "
              f"CPU µs/event {cpu[side]}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--base", type=Path, required=True, help="a checkout of the version to compare with")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--one-log", action="store_true", help="one log, written by this checkout's store")
    parser.add_argument("--bulk", action="store_true", help="many commits per transaction while writing the log")
    parser.add_argument("--profile", type=Path, help="write a cProfile of this checkout's verify to this file")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
