"""Shared fixtures. PostgreSQL-backed tests skip with a clear reason when the server is unreachable,
except under CI (CI=true), where an unreachable server is a failure: the production path must be tested."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

PG_URL = os.environ.get("VCV_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _pg_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    """The PostgreSQL URL, or skip (fail under CI) when the server does not answer."""
    if _pg_reachable(PG_URL):
        return PG_URL
    message = f"PostgreSQL not reachable at {urlsplit(PG_URL).netloc}; set VCV_TEST_PG_URL to run these tests"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (required under CI)")
    pytest.skip(message)


@pytest.fixture
async def pg_schema_url() -> AsyncIterator[str]:
    """A PostgreSQL URL whose connections use a fresh, private schema, dropped afterwards, so tests can run
    migrations from empty without touching each other or anything else in the `test` database."""
    import asyncpg

    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = base.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in base else "?"
    # Read by resolvers.database.create_engine: every pooled connection gets this search_path.
    yield f"{base}{sep}vcv_schema={schema}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


# The alliance on loopback (master, partner simulators, gateways) shared by the gateway tests.
from tests.gateway_support import gateway, make_gateway, world  # noqa: E402, F401
