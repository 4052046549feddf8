"""Connecting to the customer master and migrating it.

Two backends: SQLite (through aiosqlite) for the embedded demo and tests, PostgreSQL (through asyncpg) in
production. Callers may give the plain URL forms (`sqlite:///…`, `postgresql://…`); they are normalised
to the async drivers so that one URL works for `vcv seed`, `vcv db upgrade` and the gateway alike.

PostgreSQL URLs may carry our own query parameter `vcv_schema=<name>`: it is removed before the URL reaches
asyncpg (which would reject it) and every connection then uses that schema as its search_path, so tests
and side-by-side installations can each live in a private schema of one database.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA_PARAM = "vcv_schema"
# Milliseconds a SQLite connection waits for another writer's lock before failing with "database is locked";
# several gateway tasks (and `vcv seed` next to a running demo) write to one file.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL identifiers: anything else would need quoting rules we do not want to get wrong in a search_path.
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class DatabaseURLError(ValueError):
    """The URL names a backend or driver the customer master does not support, or a bad schema name."""


def normalise_url(url: str | URL) -> tuple[URL, str | None]:
    """The async-driver URL without our own parameters, and the `vcv_schema` it asked for (PostgreSQL only)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with the URL in it; keep ours readable
        raise DatabaseURLError(f"not a database URL: {exc}") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseURLError(
            f"unsupported database URL scheme {parsed.drivername!r}; use sqlite+aiosqlite:///path or "
            "postgresql+asyncpg://user@host/db")
    parsed = parsed.set(drivername=driver)
    schema = parsed.query.get(SCHEMA_PARAM)
    if schema is None:
        return parsed, None
    if driver != "postgresql+asyncpg":
        raise DatabaseURLError(f"{SCHEMA_PARAM} is only meaningful for PostgreSQL URLs")
    if isinstance(schema, tuple) or not _SCHEMA_NAME.fullmatch(schema):
        raise DatabaseURLError(f"{SCHEMA_PARAM} must be one plain identifier (letters, digits, _), got {schema!r}")
    return parsed.difference_update_query([SCHEMA_PARAM]), schema


def create_engine(url: str, *, write_lock_first: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for the customer master; extra keyword arguments go to `create_async_engine`.

    `write_lock_first`: on SQLite, every transaction starts with BEGIN IMMEDIATE, so a writer that reads
    before it writes (the audit chain reads its last event) holds the file's write lock from the start and
    several processes queue up instead of failing each other. PostgreSQL needs nothing of the kind."""
    parsed, schema = normalise_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return _sqlite_engine(parsed, write_lock_first=write_lock_first, **kwargs)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if schema is not None:
        # A startup parameter rather than a `SET` after connecting: it also holds for connections the pool
        # opens later and survives `DISCARD ALL`/`RESET ALL` on pool return. Quoted so case is preserved.
        settings = dict(connect_args.get("server_settings", {}))
        settings["search_path"] = f'"{schema}"'
        connect_args["server_settings"] = settings
    # pool_pre_ping: after a PostgreSQL restart or failover the pool would otherwise hand out dead sockets.
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(parsed, connect_args=connect_args, **kwargs)


def _sqlite_engine(parsed: URL, *, write_lock_first: bool = False, **kwargs: Any) -> AsyncEngine:
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        # SQLite creates the file but not its directory; `vcv seed --db sqlite:///data/master.db` should work.
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Per connection, because SQLite forgets foreign_keys and busy_timeout when a connection closes.
        # WAL lets the gateway's readers proceed while a writer (consents, seeding) commits.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()
        if write_lock_first:
            dbapi_connection.isolation_level = None  # the driver's own BEGIN would be DEFERRED

    if write_lock_first:
        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def sqlite_reader(engine: AsyncEngine) -> Engine | None:
    """For a SQLite master, a synchronous engine on the same file for reads that run as a whole in one worker
    thread (one hop instead of one per statement and fetch through aiosqlite); None for PostgreSQL."""
    if engine.url.drivername != "sqlite+aiosqlite":
        return None
    reader = create_sync_engine(engine.url.set(drivername="sqlite+pysqlite"),
                                connect_args={"check_same_thread": False})

    @event.listens_for(reader, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA query_only=ON")  # a reader: nothing it runs may write
        finally:
            cursor.close()

    return reader


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: resolvers hand ORM rows to GraphQL after the session closed; expiring them
    # would make every attribute access an implicit (and, in async, impossible) reload.
    return async_sessionmaker(engine, expire_on_commit=False)


# --- migrations -----------------------------------------------------------------------------------------


def alembic_config() -> Config:
    """Alembic configured in code, so migrations run from an installed package without an alembic.ini."""
    config = Config()
    # ConfigParser interpolates '%': a checkout path containing one must not break the script location.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


async def _run_alembic(url: str, operation: Callable[[Config], None]) -> None:
    engine = create_engine(url)
    try:
        # One connection, one transaction: on PostgreSQL a failing migration leaves the schema untouched.
        async with engine.begin() as connection:
            await connection.run_sync(_with_connection, operation)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, operation: Callable[[Config], None]) -> None:
    config = alembic_config()
    # env.py uses this connection instead of opening its own, so vcv_schema and the SQLite pragmas apply.
    config.attributes["connection"] = connection
    operation(config)


async def migrate_async(url: str, revision: str = "head") -> None:
    """Upgrade the customer master at `url` to `revision` (default: the newest); a no-op when already there."""
    await _run_alembic(url, lambda config: command.upgrade(config, revision))


async def downgrade_async(url: str, revision: str = "base") -> None:
    """Downgrade the customer master at `url` to `revision` (default: drop every table)."""
    await _run_alembic(url, lambda config: command.downgrade(config, revision))


async def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()


def head_revision() -> str:
    """The newest revision shipped in resolvers/migrations."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def migrate(url: str, revision: str = "head") -> None:
    """Synchronous `migrate_async`, for the CLI and other non-async callers.

    `asyncio.run` cannot start a loop inside a running one, so when called from async code (a notebook,
    an async test) the upgrade runs on a private loop in a helper thread; the caller blocks until it ends.
    Async code should prefer `await migrate_async(url)`.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(migrate_async(url, revision))
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(migrate_async(url, revision))
        except BaseException as exc:  # re-raised in the calling thread below
            failure.append(exc)

    worker = threading.Thread(target=run, name="vcv-migrate")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
