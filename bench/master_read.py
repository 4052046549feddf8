"""CPU and wall time of one customer-view read from the master (`Master.customer_view`, the read every
customer query makes), on a seeded SQLite master: `python -m bench.master_read [--customers N] [--reads N] [--pg URL]`.
Prints one line; nothing is written."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from fixtures.seed import seed_master
from resolvers.database import create_engine, session_factory
from resolvers.master import Master, Visibility


async def measure(customers: int, reads: int, pg: str | None = None) -> str:
    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite+aiosqlite:///{Path(work) / 'master.db'}"
        if pg:  # a schema of its own, dropped afterwards
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            engine = create_engine(pg)
            async with engine.begin() as conn:
                await conn.execute(text(f"CREATE SCHEMA {schema}"))
            await engine.dispose()
            url = f"{pg}{'&' if '?' in pg else '?'}vcv_schema={schema}"
        await seed_master(url, customers=customers, seed=42)
        engine = create_engine(url)
        master = Master(session_factory(engine))
        caller = Visibility("service_agent", "service")
        for _ in range(50):  # warm: statement caches, connections
            await master.customer_view(caller, "C-000001")
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(reads):
            await master.customer_view(caller, "C-000001")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await engine.dispose()
        if pg:
            engine = create_engine(pg)
            async with engine.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            await engine.dispose()
    backend = "postgresql" if pg else "sqlite"
    return (f"customer_view ({backend}): {cpu / reads * 1000:.3f} ms CPU, {wall / reads * 1000:.3f} ms wall "
            f"({reads} reads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL master instead of SQLite, e.g. "
                        "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(asyncio.run(measure(args.customers, args.reads, args.pg)))


if __name__ == "__main__":
    main()
