"""Shared fixtures. PostgreSQL-backed tests skip with a clear reason when the database cannot be opened,
except under CI (CI=true), where an unreachable server is a failure: the production path must be tested."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

PG_URL = os.environ.get("VCV_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _audit_witness_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `vcv serve` keeps its audit witness in the working directory by default; a test's gateway (and the
    # subprocesses that inherit this environment) keeps it in the test's own directory instead.
    monkeypatch.setenv("VCV_AUDIT_WITNESS", str(tmp_path / "audit-witness.jsonl"))


def _pg_problem(url: str) -> str | None:
    """Why the test database cannot be used, or None when a connection opens: a closed port is not the only
    way to be unusable (a missing `test` database, a refused role, auth required)."""
    parts = urlsplit(url)
    where = parts.netloc or "127.0.0.1:5432"
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
            pass
    except OSError as exc:
        return f"PostgreSQL not reachable at {where} ({exc.strerror or exc})"

    async def open_once() -> None:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
        await conn.close()

    problem: list[str] = []

    def run() -> None:
        try:
            asyncio.run(open_once())
        except Exception as exc:  # any driver error means "cannot be used"; its message says why
            problem.append(f"PostgreSQL at {where} cannot be opened: {type(exc).__name__}: {exc}")

    # Callers may be inside the test session's event loop: the probe gets a loop (and thread) of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()
    return problem[0] if problem else None


_PG_PROBLEM: dict[str, str | None] = {}


def require_postgres() -> str:
    """The PostgreSQL URL, or skip (fail under CI) when the database cannot be opened, naming the reason."""
    if PG_URL not in _PG_PROBLEM:  # probed once per session: every PostgreSQL test asks
        _PG_PROBLEM[PG_URL] = _pg_problem(PG_URL)
    problem = _PG_PROBLEM[PG_URL]
    if problem is None:
        return PG_URL
    message = f"{problem}; set VCV_TEST_PG_URL to run these tests"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (required under CI)")
    pytest.skip(message)


async def _create_schema(base: str, schema: str, *, drop: bool = False) -> None:
    import asyncpg

    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE' if drop else f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


def _schema_url(base: str, schema: str) -> str:
    # Read by resolvers.database.create_engine: every pooled connection gets this search_path.
    return f"{base}{'&' if '?' in base else '?'}vcv_schema={schema}"


@pytest.fixture
async def pg_schema_url() -> AsyncIterator[str]:
    """A PostgreSQL URL whose connections use a fresh, private schema, dropped afterwards, so tests can run
    migrations from empty without touching each other or anything else in the `test` database."""
    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    await _create_schema(base, schema)
    yield _schema_url(base, schema)
    await _create_schema(base, schema, drop=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend: a fresh SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        yield request.getfixturevalue("pg_schema_url")


def _in_own_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    # A sync session fixture may not touch the test session's event loop; this work gets a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def pg_master_url() -> Iterator[str]:
    """The gateway tests' alliance seeded into PostgreSQL (same customers and seed as the SQLite master), so
    gateway test modules can run against both masters."""
    from fixtures.seed import seed_master
    from tests.gateway_support import CUSTOMERS, SEED

    base = require_postgres()
    schema = f"w_{uuid.uuid4().hex[:12]}"
    url = _schema_url(base, schema)

    async def create() -> None:
        await _create_schema(base, schema)
        await seed_master(url, customers=CUSTOMERS, seed=SEED)

    _in_own_loop(create())
    yield url
    _in_own_loop(_create_schema(base, schema, drop=True))


@pytest.fixture(params=["sqlite", "postgresql"])
async def own_master_url(request: pytest.FixtureRequest, world: Any,  # noqa: F811 (the fixture)
                         tmp_path: Path) -> AsyncIterator[str]:
    """For a gateway test that changes the master (a consent): a master of its own, seeded as the shared
    ones, so what it leaves behind is not what the tests after it read. A copy of the SQLite master, or the
    alliance seeded into a fresh PostgreSQL schema (dropped afterwards)."""
    from fixtures.seed import seed_master
    from tests.gateway_support import CUSTOMERS, SEED, private_master

    if request.param == "sqlite":
        yield private_master(world, tmp_path)
        return
    base = require_postgres()
    schema = f"o_{uuid.uuid4().hex[:12]}"
    await _create_schema(base, schema)
    url = _schema_url(base, schema)
    await seed_master(url, customers=CUSTOMERS, seed=SEED)
    yield url
    await _create_schema(base, schema, drop=True)


# The alliance on loopback (master, partner simulators, gateways) shared by the gateway tests.
from tests.gateway_support import (  # noqa: E402, F401
    gateway,
    gateway_on_each_master,
    gateway_path,
    make_gateway,
    parametrise_paths,
    world,
)
from tests.identity_provider import start_provider  # noqa: E402, F401


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrise_paths(metafunc)
