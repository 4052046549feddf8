"""Verify speed of another checkout's audit code against this one's, alternated in one process: on a shared,
loaded machine absolute figures move too much to compare runs made minutes apart. Each version verifies a
log its own store wrote: `--events` events in commits of 32, a checkpoint kept every 100.

    git worktree add /tmp/audit-base <commit>
    .venv/bin/python -m bench.audit_versions sqlite|postgresql --base /tmp/audit-base [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.audit import EVENT
from resolvers.database import create_engine

PG = "postgresql://postgres@127.0.0.1:5432/test"


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


async def build(store: Any, url: str, key: Ed25519PrivateKey, events: int) -> AsyncEngine:
    engine = create_engine(url, write_lock_first=True)
    log = store.AuditLog(engine, key, store.AuditSettings(checkpoint_every=100))
    await log.ensure_schema()
    for start in range(0, events, 32):
        await log.append([{**EVENT, "n": n} for n in range(start, min(start + 32, events))])
    return engine


async def main(backend: str, checkout: Path, events: int) -> None:
    import privacy.audit.store as this_store
    import privacy.audit.verify as this_verify

    other = load_other(checkout)
    key = Ed25519PrivateKey.generate()
    schemas: list[str] = []

    async def url(tag: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/{tag}.db"
        schema = f"versions_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(PG)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
        schemas.append(schema)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/test?vcv_schema={schema}"

    engines = {"other": await build(other["store"], await url("other"), key, events),
               "this": await build(this_store, await url("this"), key, events)}
    verifiers = {"other": other["verify"].verify, "this": this_verify.verify}
    rates: dict[str, list[int]] = {"other": [], "this": []}
    try:
        for _ in range(4):
            for side in ("other", "this"):
                started = time.perf_counter()
                verdict = await verifiers[side](engines[side], key.public_key())
                elapsed = time.perf_counter() - started
                assert verdict.intact and verdict.events == events, verdict
                rates[side].append(round(events / elapsed))
    finally:
        for engine in engines.values():
            await engine.dispose()
        if schemas:
            conn = await asyncpg.connect(PG)
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()
    best = {side: max(values) for side, values in rates.items()}
    print(f"{backend}: verify events/s {rates}; best {best['other']:,} (other) / {best['this']:,} (this) = "
          f"{best['this'] / best['other']:.2f}×")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--base", type=Path, required=True, help="a checkout of the version to compare with")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.backend, args.base, args.events))


if __name__ == "__main__":
    cli()
