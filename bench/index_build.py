"""How long building one consumer's pseudonym index takes, the previous way and the current one, in one run
(issue 15, item 7):

    .venv/bin/python -m bench.index_build                          # 100k and 1M customers, SQLite
    .venv/bin/python -m bench.index_build --sizes 100000 --backend postgresql --no-write

Per size, the master of bench.scale (seeded once, kept under .vcv/bench-scale/) is copied without any index,
then each way builds the life insurer's index on its own copy, one after the other:
- before: the build as it was until this change (kept below, verbatim in what it does): one pseudonym and
  one token per customer with the one-at-a-time functions, rows as dicts through SQLAlchemy's
  `insert().on_conflict_do_nothing()` in batches of 5,000, all in one transaction;
- after: `gateway.lookup.build_index`, what the gateway and `vcv index build` run.
Both must produce the same rows (checked). `--parts` also times the two halves of each way alone (tokens
only, rows only), to show where the time goes. The table goes into bench/RESULTS.md unless --no-write.
PostgreSQL (`--backend postgresql`, VCV_BENCH_PG_URL or the tests' URL) seeds a private schema per size."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import scale
from bench.results import replace_section
from gateway.lookup import build_index
from gateway.policy_loader import DEMO_AGREEMENTS, load_keys, load_policy
from privacy import Guard
from resolvers import MASTER_OWNER, models, pseudonym_index
from resolvers.connectors.partners_file import parse
from resolvers.database import create_engine, session_factory
from resolvers.master import Master

CONSUMER = "life"
OLD_BATCH = 5_000
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"  # the tests' default (tests/conftest.py)
START, END = "<!-- index-build:start -->", "<!-- index-build:end -->"


def _guard() -> Guard:
    import yaml

    raw = yaml.safe_load(scale.PARTNERS.read_text(encoding="utf-8"))
    for entry in raw["partners"]:
        entry["credential"] = "unused"
    policy = load_policy(DEMO_AGREEMENTS, parse(raw))
    keys_dir = scale.WORK / "pseudonym-keys"
    from privacy.pseudonyms import ensure_demo_pseudonym_keys

    ensure_demo_pseudonym_keys(keys_dir, ["rm", "bank", "life", "property", "invest"])
    return Guard(policy, load_keys(policy, keys_dir), consumer=CONSUMER, role="partner", purpose="service")


def _old_tokens(guard: Guard, ids: Sequence[str]) -> list[str]:
    # gateway/lookup.py's token function before: two one-at-a-time HMAC calls (and a key derivation) per ID.
    return [guard.index_token(MASTER_OWNER, guard.pseudonym_of(MASTER_OWNER, i) or "") or "" for i in ids]


async def _old_extend(conn: AsyncConnection, guard: Guard, fingerprint: str) -> int:
    """The build before this change (resolvers/pseudonym_index.py at b94a6fd), for a first build."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    rows_table, state_table = pseudonym_index.index_rows, pseudonym_index.index_state
    added, upto = 0, ""
    newest = (await conn.execute(select(func.max(models.CustomerRow.id)))).scalar()
    assert newest is not None
    while True:
        ids = list((await conn.execute(select(models.CustomerRow.id).where(models.CustomerRow.id > upto)
                                       .order_by(models.CustomerRow.id).limit(OLD_BATCH))).scalars())
        if not ids:
            break
        rows = [{"owner": MASTER_OWNER, "consumer": CONSUMER, "token": token, "customer_id": cid}
                for cid, token in zip(ids, _old_tokens(guard, ids), strict=True)]
        await conn.execute(insert(rows_table).on_conflict_do_nothing(), rows)
        added += len(rows)
        upto = ids[-1]
    await conn.execute(insert(state_table).on_conflict_do_nothing(), [
        {"owner": MASTER_OWNER, "consumer": CONSUMER, "fingerprint": fingerprint, "upto": upto}])
    return added


async def _copy(size: int, backend: str, label: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A master of `size` customers without any index, for one way to build on; and how to drop it."""
    if backend == "sqlite":
        source = await scale._master(size)
        path = scale.WORK / f"index-build-{size}-{label}-{os.getpid()}.db"
        with sqlite3.connect(source.split("///", 1)[1]) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
            dst.execute("DROP TABLE IF EXISTS pseudonym_index")
            dst.execute("DROP TABLE IF EXISTS pseudonym_index_state")

        async def remove() -> None:
            path.unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{path}", remove
    import asyncpg

    from fixtures.seed import seed_master

    base = os.environ.get("VCV_BENCH_PG_URL", PG_URL)
    schema = f"b_{uuid.uuid4().hex[:12]}"

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    await sql(f'CREATE SCHEMA "{schema}"')
    url = f"{base}{'&' if '?' in base else '?'}vcv_schema={schema}"
    started = time.perf_counter()
    await seed_master(url, customers=size, seed=scale.SEED)
    print(f"  seeded a PostgreSQL master for {label} in {time.perf_counter() - started:.0f} s", flush=True)
    return url, lambda: sql(f'DROP SCHEMA "{schema}" CASCADE')


async def _rows(url: str) -> set[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = pseudonym_index.index_rows
            return {(t, c) for t, c in await conn.execute(select(rows.c.token, rows.c.customer_id))}
    finally:
        await engine.dispose()


async def _before(url: str, guard: Guard) -> float:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(pseudonym_index.metadata.create_all)
            # The index table as it was created before (SQLite: with a rowid beside the primary key).
            await conn.exec_driver_sql("DROP TABLE pseudonym_index")
            await conn.exec_driver_sql(
                "CREATE TABLE pseudonym_index (owner VARCHAR(64) NOT NULL, consumer VARCHAR(64) NOT NULL, "
                "token VARCHAR(64) NOT NULL, customer_id VARCHAR(32) NOT NULL, PRIMARY KEY (owner, consumer, token))")
        started = time.perf_counter()
        async with engine.begin() as conn:
            await _old_extend(conn, guard, guard.index_fingerprint(MASTER_OWNER) or "")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def _after(url: str, guard: Guard) -> float:
    engine = create_engine(url)
    try:
        master = Master(session_factory(engine))
        async with engine.begin() as conn:
            await conn.run_sync(pseudonym_index.metadata.create_all)
        started = time.perf_counter()
        await build_index(master, guard)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def _parts(guard: Guard, ids: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    _old_tokens(guard, ids)
    old = time.perf_counter() - started
    started = time.perf_counter()
    guard.index_tokens_of(MASTER_OWNER, ids)
    return {"tokens only, before": old, "tokens only, after": time.perf_counter() - started}


async def measure(size: int, backend: str, parts: bool) -> dict[str, float]:
    guard = _guard()
    out: dict[str, float] = {}
    urls: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    try:
        for label, build in (("before", _before), ("after", _after)):
            url, drop = await _copy(size, backend, label)
            urls.append((url, drop))
            out[f"build, {label}"] = await build(url, guard)
            print(f"  {label}: {out[f'build, {label}']:.1f} s", flush=True)
        before, after = await _rows(urls[0][0]), await _rows(urls[1][0])
        assert before == after and len(after) == size, (len(before), len(after), size)
        if parts:
            out.update(_parts(guard, [f"C-{n:06d}" for n in range(1, size + 1)]))
    finally:
        for _, drop in urls:
            await drop()
    return out


def _table(results: dict[int, dict[str, float]]) -> str:
    sizes = sorted(results)
    rows = ["| " + " | ".join(["", *(f"{s:,} customers" for s in sizes)]) + " |",
            "|---|" + "---|" * len(sizes)]
    for name in results[sizes[0]]:
        rows.append(f"| {name} | " + " | ".join(f"{results[s][name]:.2f} s" for s in sizes) + " |")
    rows.append("| before / after | " + " | ".join(
        f"{results[s]['build, before'] / results[s]['build, after']:.1f}×" for s in sizes) + " |")
    rows.append("| customers per second, after | " + " | ".join(
        f"{s / results[s]['build, after']:,.0f}" for s in sizes) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--parts", action="store_true", help="also time the tokens alone, before and after")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size:,} customers ({args.backend})", flush=True)
        results[size] = asyncio.run(measure(size, args.backend, args.parts))
    table = _table(results)
    print(table)
    if args.no_write:
        return
    command = "python -m bench.index_build " + " ".join(sys.argv[1:])
    section = (f"## Pseudonym index build (latest run of `bench.index_build`, {args.backend})\n\n"
               f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command}`, {platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end. One "
               f"consumer's index built from nothing, the previous way and the current one back to back in one "
               f"run, each on its own copy of the same master; both wrote the same rows.\n\n{table}\n")
    replace_section(START, END, section, _place)


def _place(text: str, block: str) -> str:
    # Before the Scaling section, which bench.scale rewrites up to the next heading or the end of the file.
    marker = "## Scaling (latest run of `bench.scale`)"
    if marker in text:
        return text.replace(marker, block + "\n\n" + marker, 1)
    return text.rstrip("\n") + "\n\n" + block + "\n"


if __name__ == "__main__":
    main()
