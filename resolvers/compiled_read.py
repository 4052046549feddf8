"""SQLAlchemy Core statements compiled once and run on the driver itself (`sqlite3`, asyncpg): the customer-view
read on the hot path without SQLAlchemy's per-execution work (statement cache lookup, parameter processing,
result metadata, pool checkout), which cost about 0.8 ms of CPU per customer view on SQLite against 0.15 ms
for the same four statements through `sqlite3` directly (2.1 against 0.55 ms on PostgreSQL; bench.master_read).

The statements stay written once, in SQLAlchemy (the row-level rule `master.visible` included): each is
compiled for the engine's dialect with *placeholders* where a request's values go (a `Placeholder` string in
place of the caller's consultant, partner or customer ID), and the values are put in their places per run.
Rows come back as named tuples whose fields are the table's columns, each converted by its own column type's
result processing (dates, UTC instants), so they read exactly as SQLAlchemy Core rows did."""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["AsyncpgReader", "CompiledRead", "Placeholder", "RawReader", "Steps"]

# A read written once for both drivers: a generator that yields (statement, values) and is sent each
# statement's rows back; what it returns is the read's result.
Steps = Generator[tuple["CompiledRead", Mapping[str, Any]], list[Any], Any]


class Placeholder(str):
    """A value standing for a request's value in a statement compiled once (`CompiledRead.run` replaces it)."""

    __slots__ = ()


class CompiledRead:
    """One SELECT compiled for a dialect; `run` (sqlite3) or `fetch` (asyncpg) executes it with each
    `Placeholder` replaced by `values[placeholder]` and returns the rows as named tuples of the selected
    columns."""

    def __init__(self, query: Select[Any], dialect: Dialect, name: str = "Row") -> None:
        compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        if compiled.positiontup is None:  # both drivers' dialects compile to positional parameters (?, $1)
            raise ValueError("expected a positional paramstyle")
        self.sql = str(compiled)
        params = compiled.construct_params()
        self._params = [params[name] for name in compiled.positiontup]
        columns = list(query.selected_columns)
        row_type: Any = namedtuple(name, [c.key for c in columns])  # type: ignore[misc]  # names known at run time
        self._make: Callable[[Any], Any] = row_type._make
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self._convert: list[tuple[int, Callable[[Any], Any]]] = [
            (i, p) for i, p in enumerate(processors) if p is not None]

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        """The statement's parameters, in order, with each placeholder's value."""
        return [values[p] if isinstance(p, Placeholder) else p for p in self._params]

    def run(self, conn: sqlite3.Connection, values: Mapping[str, Any]) -> list[Any]:
        """Run on SQLite's driver."""
        return self.rows(conn.execute(self.sql, self.bind(values)).fetchall())

    async def fetch(self, conn: Any, values: Mapping[str, Any]) -> list[Any]:
        """Run on asyncpg's (a prepared statement, cached by asyncpg per connection)."""
        return self.rows(await conn.fetch(self.sql, *self.bind(values)))

    def rows(self, rows: Sequence[Any]) -> list[Any]:
        if not self._convert:
            return [self._make(r) for r in rows]
        made = []
        for r in rows:
            fields = list(r)
            for i, convert in self._convert:
                fields[i] = convert(fields[i])
            made.append(self._make(fields))
        return made


class RawReader:
    """Runs a whole read (several statements) on a SQLite connection of its own (taken from the engine's pool
    once, so the engine's connect-time pragmas apply: read-only), on the event loop's own thread.

    Not in a worker thread, because that cost more than the read: a customer view's statements take about
    60 µs of SQLite's time on a local file, and handing them to a thread and back cost about 0.27 ms of CPU
    per view in wake-ups and GIL hand-overs (bench/RESULTS.md, 2026-12-05). The price is that a read the disk
    has to serve holds the loop for as long; a master that does not stay in memory belongs on PostgreSQL,
    whose reads do not block (`AsyncpgReader`). In WAL mode a reader does not wait for the writer; where it
    would have to wait for a lock at all, it gives up after `busy_timeout_ms` (the master unavailable) rather
    than hold every request behind it."""

    def __init__(self, engine: Engine, busy_timeout_ms: int = 100) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self._busy_timeout_ms = busy_timeout_ms
        self._pooled: Any = None
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._pooled = self._engine.raw_connection()
            conn = self._pooled.driver_connection
            assert conn is not None
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            self._conn = conn
        return self._conn

    async def read(self, steps: Steps) -> Any:
        """The result of `steps`, every statement run here and now."""
        conn = self._connection()
        try:
            statement, values = next(steps)
            while True:
                statement, values = steps.send(statement.run(conn, values))
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        pooled, self._pooled, self._conn = self._pooled, None, None
        if pooled is not None:
            pooled.close()


class AsyncpgReader:
    """Runs a whole read on one asyncpg connection of the engine's pool (so the engine's per-connection setup
    applies: the schema's search path), each statement straight on the driver."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.dialect
        self._engine = engine

    @asynccontextmanager
    async def _driver(self) -> AsyncIterator[Any]:
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

    async def read(self, steps: Steps) -> Any:
        async with self._driver() as conn:
            try:
                statement, values = next(steps)
                while True:
                    statement, values = steps.send(await statement.fetch(conn, values))
            except StopIteration as done:
                return done.value
