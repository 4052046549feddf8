"""Appending to the audit log in SQLite or PostgreSQL, from any number of gateway processes at once.

Each append reads the last event, chains the new ones to it and inserts them; the primary key on `seq`
makes a second writer that read the same last event fail instead of forking the chain, and it simply tries
again from the new end. Concurrent requests in one process share a transaction (group commit), so the
durable write a response waits for costs little more for ten requests than for one.

Every commit signs its last event in the same transaction (`audit_head`), so no event is ever outside a
signature; every `checkpoint_every` events (and at least every `checkpoint_seconds`) a checkpoint is also kept
for good in `audit_checkpoints`. After the commit the signed checkpoints go to the witness file, outside the
database. No wait is open-ended: a commit that does not happen within `commit_timeout_s` fails the request
with `AuditUnavailable`, and the database gives up waiting for a lock within the same time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from prometheus_client import Gauge, Histogram
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, event, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from privacy.audit.chain import GENESIS, canonical, hash_of_canonical, sign_checkpoint, time_text

log = logging.getLogger("vcv.audit")

metadata = MetaData()
events = Table(
    "audit_events", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
    # Copies of body fields, for searching; verification checks they still agree with the hashed body.
    Column("subject", String(200), nullable=True, index=True),
    Column("purpose", String(40), nullable=True),
    Column("outcome", String(16), nullable=False),
)
event_customers = Table(
    "audit_event_customers", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", String(32), primary_key=True, index=True),
)
checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)
# The signed head of the chain: one row, rewritten by every commit, so the newest events are always signed.
head = Table(
    "audit_head", metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)


COMMIT_SECONDS = Histogram("vcv_audit_commit_seconds", "Time to append and commit one batch of audit events "
                           "(retries included).", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
BACKLOG = Gauge("vcv_audit_backlog", "Audit events waiting for their commit (summed over a server's workers).",
                multiprocess_mode="livesum")


class AuditUnavailable(RuntimeError):
    """The audit store cannot take the event; the caller must not get the data (fail closed)."""


@dataclass(frozen=True, slots=True)
class AuditSettings:
    checkpoint_every: int = 100  # keep a checkpoint for good every this many events...
    checkpoint_seconds: float = 60.0  # ...and at least this often while events keep coming
    max_attempts: int = 50  # optimistic retries when other writers keep winning the race
    # The longest a request waits for its event's commit (and the database for a lock) before the caller is
    # answered AUDIT_UNAVAILABLE; also how long /readyz gives the store to prove it can take a write.
    commit_timeout_s: float = 3.0
    # Where each commit's signed checkpoints are appended after it (JSON lines), outside the database; None:
    # nowhere (then only `vcv audit witness` run from elsewhere can catch a cut tail).
    witness: Path | None = None


@dataclass(slots=True)
class _Commit:
    now: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)
    touched: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    top: dict[str, Any] | None = None
    seqs: list[int] = field(default_factory=list)

    @property
    def signed(self) -> list[dict[str, Any]]:
        """What the witness gets: the kept checkpoints and the head (once, when it is also a kept one)."""
        return self.kept + ([self.top] if self.top is not None and self.top not in self.kept else [])


# What a commit writes, by kind: the table and its columns (the head's without its one slot, always 1). Both
# drivers' statements are made from these, so a column added to a table reaches both writers.
_WRITTEN = {"events": events, "links": event_customers, "kept": checkpoints, "head": head}
_COLUMNS = {kind: [c.name for c in table.columns if c.name != "slot"] for kind, table in _WRITTEN.items()}


def _write_statement(kind: str, placeholders: list[str]) -> str:
    names = _COLUMNS[kind]
    if kind == "head":  # one row, rewritten by every commit
        return (f"INSERT INTO {head.name} (slot, {', '.join(names)}) VALUES (1, {', '.join(placeholders)}) "
                f"ON CONFLICT (slot) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names)}")
    return f"INSERT INTO {_WRITTEN[kind].name} ({', '.join(names)}) VALUES ({', '.join(placeholders)})"


# sqlite3 takes named parameters (rows as dicts), asyncpg numbered ones (rows as tuples in column order).
_SQLITE_WRITES = {kind: _write_statement(kind, [f":{n}" for n in names]) for kind, names in _COLUMNS.items()}
_POSTGRES_WRITES = {kind: _write_statement(kind, [f"${i}" for i in range(1, len(names) + 1)])
                    for kind, names in _COLUMNS.items()}


def _in_column_order(kind: str, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(row[n] for n in _COLUMNS[kind]) for row in rows]


class _SQLiteWriter:
    """Appends to a SQLite log on one connection of its own in one thread of its own, a whole commit per
    hand-off: through aiosqlite every statement (BEGIN, the last event, each insert, COMMIT) was a hand-off to
    its thread and back, and each cost about a millisecond of the event loop's time under load."""


    def __init__(self, path: str, timeout_s: float) -> None:
        self._path, self._timeout_s = path, timeout_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcv-audit-sqlite")
        self._db: sqlite3.Connection | None = None

    async def append(self, log: AuditLog, bodies: Sequence[dict[str, Any]]) -> tuple[list[int], list[dict[str, Any]]]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._append, log, bodies)

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            # isolation_level None: the module opens no transactions of its own; BEGIN IMMEDIATE below takes the
            # write lock first, waiting at most the commit bound (the busy timeout) for another writer.
            db = sqlite3.connect(self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            self._db = db
        return self._db

    def _append(self, log: AuditLog, bodies: Sequence[dict[str, Any]]) -> tuple[list[int], list[dict[str, Any]]]:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            last = db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, previous = (int(last[0]), str(last[1])) if last else (0, GENESIS)
            commit = log.chain(seq, previous, bodies)
            stamp = _sqlite_time(commit.now)  # the form SQLAlchemy's DateTime reads back on SQLite
            db.executemany(_SQLITE_WRITES["events"], [{**row, "recorded_at": stamp} for row in commit.rows])
            if commit.touched:
                db.executemany(_SQLITE_WRITES["links"], commit.touched)
            if commit.kept:
                db.executemany(_SQLITE_WRITES["kept"], [{**c, "signed_at": stamp} for c in commit.kept])
            if commit.top is not None:
                db.execute(_SQLITE_WRITES["head"], {**commit.top, "signed_at": stamp})
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return commit.seqs, commit.signed

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            self._thread.submit(db.close)  # in the thread that uses it, after a commit still running there
        self._thread.shutdown(wait=True)


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class _Pending:
    """One event waiting for its commit (an object, so that a caller who gave up can take its own out)."""

    __slots__ = ("body", "future")

    def __init__(self, body: dict[str, Any], future: asyncio.Future[int]) -> None:
        self.body, self.future = body, future



class _PostgresWriter:
    """Appends to a PostgreSQL log on asyncpg directly, a whole commit on one pooled connection: through
    SQLAlchemy's async layer each of a commit's seven statements cost a greenlet switch and its compilation,
    and the commit a request waits for was several milliseconds of the event loop's time."""

    def __init__(self, engine: AsyncEngine, timeout_s: float) -> None:
        self._engine = engine
        self._bound = str(max(1, int(timeout_s * 1000)))

    async def append(self, log: AuditLog, bodies: Sequence[dict[str, Any]]) -> tuple[list[int], list[dict[str, Any]]]:
        async with self._engine.connect() as conn:
            pg = (await conn.get_raw_connection()).driver_connection
            assert pg is not None
            async with pg.transaction():
                # Bounded waits, then the writers of every process queue on one lock (see `_bound_waits`).
                await pg.execute("SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $1, "
                                 "true), pg_advisory_xact_lock(7461030)", self._bound)
                last = await pg.fetchrow("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                seq, previous = (int(last[0]), str(last[1])) if last else (0, GENESIS)
                commit = log.chain(seq, previous, bodies)
                w = _POSTGRES_WRITES
                await pg.executemany(w["events"], _in_column_order("events", commit.rows))
                if commit.touched:
                    await pg.executemany(w["links"], _in_column_order("links", commit.touched))
                if commit.kept:
                    await pg.executemany(w["kept"], _in_column_order("kept", commit.kept))
                if commit.top is not None:
                    await pg.execute(w["head"], *_in_column_order("head", [commit.top])[0])
        return commit.seqs, commit.signed


class AuditLog:
    def __init__(self, engine: AsyncEngine, signing_key: Ed25519PrivateKey | None,
                 settings: AuditSettings | None = None) -> None:
        self._engine = engine
        self._key = signing_key
        self.settings = settings or AuditSettings()
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._schema_ready = False
        self._last_checkpoint = time.monotonic()
        # Opened now, so that a witness that cannot be written stops the start, not a later commit.
        self._witness_fd = None if self.settings.witness is None else \
            os.open(self.settings.witness, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._sqlite: _SQLiteWriter | None = None
        self._postgres = _PostgresWriter(engine, self.settings.commit_timeout_s) \
            if engine.dialect.driver == "asyncpg" else None
        if engine.dialect.name == "sqlite":
            _bound_sqlite_waits(engine, self.settings.commit_timeout_s)
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._sqlite = _SQLiteWriter(database, self.settings.commit_timeout_s)

    async def ensure_schema(self) -> None:
        """Create the tables if missing; safe when several processes start at once."""
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(7461029)"))
            await conn.run_sync(metadata.create_all, checkfirst=True)
        self._schema_ready = True

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        """What checks this log's checkpoints (None: this process does not sign them)."""
        return self._key.public_key() if self._key is not None else None

    async def ready(self) -> bool:
        return await self.writable() == "up"

    async def writable(self) -> str:
        """For /readyz: "up" when the store took a write (rolled back) within `commit_timeout_s`, "stalled"
        when it did not answer in that time (a lock held, a hung server), "down" when it refused."""
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._try_write())
        # Not cancelled on time-out: the database's own lock timeout ends it, and a probe still running is
        # the answer to the next /readyz as well ("stalled") instead of one more connection stuck behind it.
        done, _ = await asyncio.wait({self._probe}, timeout=self.settings.commit_timeout_s)
        if not done:
            return "stalled"
        exc = self._probe.exception()
        if exc is None:
            return "up"
        log.warning("audit store not writable: %s", _describe(exc))
        return "stalled" if _timed_out(exc) else "down"

    async def _try_write(self) -> None:
        if not self._schema_ready:
            await self.ensure_schema()
        async with self._engine.connect() as conn:
            await self._bound_waits(conn)
            # What an append does (a row in the events table), never committed: a read-only or locked store
            # fails here as an append would.
            await conn.execute(insert(events), {"seq": 0, "prev_hash": "readiness-probe", "hash": "",
                                                "recorded_at": datetime.now(UTC), "body": "{}", "outcome": "probe"})
            await conn.rollback()

    async def _bound_waits(self, conn: AsyncConnection, *, queue: bool = False) -> None:
        # PostgreSQL waits for a lock forever by default; SQLite's bound is its busy timeout (set on connect).
        if conn.dialect.name == "postgresql":
            ms = str(max(1, int(self.settings.commit_timeout_s * 1000)))
            # `queue`: writers of all processes then queue on one lock, as SQLite's BEGIN IMMEDIATE makes them,
            # instead of all reading the same last event and all but one failing on the primary key and trying
            # again (which under load took longer than a request may wait); the key on `seq` still guards
            # writers that do not queue. One statement: the target list is evaluated in order, so the lock is
            # waited for under the bound just set.
            await conn.execute(text("SELECT set_config('lock_timeout', :ms, true), "
                                    "set_config('statement_timeout', :ms, true)"
                                    + (", pg_advisory_xact_lock(7461030)" if queue else "")), {"ms": ms})

    async def record(self, body: dict[str, Any]) -> int:
        """Append one event and return its sequence number once it is durably committed.

        Raises `AuditUnavailable` when that does not happen within `commit_timeout_s`; an event still
        waiting for its turn is then withdrawn (its caller gets no data, so it released nothing)."""
        entry = _Pending(body, asyncio.get_running_loop().create_future())
        self._pending.append(entry)
        BACKLOG.inc()
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        try:
            return await asyncio.wait_for(asyncio.shield(entry.future), self.settings.commit_timeout_s)
        except TimeoutError:
            with contextlib.suppress(ValueError):  # already in a commit that may yet succeed
                self._pending.remove(entry)
            raise AuditUnavailable(f"audit store did not commit within {self.settings.commit_timeout_s:g} s") \
                from None
        finally:
            BACKLOG.dec()

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                with COMMIT_SECONDS.time():
                    seqs = await self.append([entry.body for entry in batch])
            except AuditUnavailable as exc:
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
                        entry.future.exception()  # retrieved: a caller who gave up must not cause a warning
            else:
                for entry, seq in zip(batch, seqs, strict=True):
                    if not entry.future.done():
                        entry.future.set_result(seq)

    async def append(self, bodies: Sequence[dict[str, Any]]) -> list[int]:
        """Chain and insert `bodies` in one transaction; returns their sequence numbers."""
        deadline = time.monotonic() + self.settings.commit_timeout_s
        for attempt in range(self.settings.max_attempts):
            try:
                if not self._schema_ready:  # lazily, so a gateway starts (and fails closed) with the store down
                    await self.ensure_schema()
                if self._sqlite is not None:
                    seqs, signed = await self._sqlite.append(self, bodies)
                elif self._postgres is not None:
                    seqs, signed = await self._postgres.append(self, bodies)
                else:
                    async with self._engine.begin() as conn:
                        seqs, signed = await self._append(conn, bodies)
                self._witness(signed)
                return seqs
            except (IntegrityError, OperationalError, sqlite3.IntegrityError, sqlite3.OperationalError,
                    asyncpg.UniqueViolationError) as exc:
                if isinstance(exc, OperationalError | sqlite3.OperationalError) and not _is_contention(exc):
                    raise AuditUnavailable(f"audit store unavailable: {_describe(exc)}") from exc
                if time.monotonic() >= deadline:  # each try already waited for the lock; that is enough
                    raise AuditUnavailable(f"audit store did not commit within {self.settings.commit_timeout_s:g} s"
                                           ) from exc
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another writer won the race
            except (DBAPIError, OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if _timed_out(exc):  # PostgreSQL gave up waiting for a lock within the bound
                    raise AuditUnavailable("audit store did not commit within "
                                           f"{self.settings.commit_timeout_s:g} s (lock wait)") from exc
                raise AuditUnavailable(f"audit store unavailable: {_describe(exc)}") from exc
        raise AuditUnavailable("audit store too contended: could not append")

    def chain(self, seq: int, previous: str, bodies: Sequence[dict[str, Any]]) -> _Commit:
        """The rows one commit writes after event `seq` (hash `previous`): events chained to it, their customer
        links, the checkpoints kept for good, and the signed head (None without a key)."""
        now = datetime.now(UTC)
        recorded = time_text(now)
        commit = _Commit(now)
        overdue = time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_seconds
        for index, body in enumerate(bodies):
            seq += 1
            text_body = canonical(body)
            current = hash_of_canonical(seq, previous, recorded, text_body)
            commit.rows.append({"seq": seq, "prev_hash": previous, "hash": current, "recorded_at": now,
                                "body": text_body.decode("utf-8"), **searchable(body)})
            commit.touched += [{"seq": seq, "customer_id": c} for c in sorted(set(body.get("customers") or []))]
            final = index == len(bodies) - 1
            if self._key is not None and (seq % self.settings.checkpoint_every == 0 or (overdue and final)):
                commit.kept.append({"seq": seq, "hash": current, "signature": sign_checkpoint(self._key, seq, current),
                                    "signed_at": now})
            previous = current
            commit.seqs.append(seq)
        if commit.kept:
            self._last_checkpoint = time.monotonic()
        if self._key is not None:
            commit.top = commit.kept[-1] if commit.kept and commit.kept[-1]["seq"] == seq else \
                {"seq": seq, "hash": previous, "signature": sign_checkpoint(self._key, seq, previous), "signed_at": now}
        return commit

    async def _append(self, conn: AsyncConnection, bodies: Sequence[dict[str, Any]]
                      ) -> tuple[list[int], list[dict[str, Any]]]:
        await self._bound_waits(conn, queue=True)
        last = (await conn.execute(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc())
                                   .limit(1))).first()
        seq, previous = (int(last.seq), str(last.hash)) if last is not None else (0, GENESIS)
        commit = self.chain(seq, previous, bodies)
        await conn.execute(insert(events), commit.rows)
        if commit.touched:
            await conn.execute(insert(event_customers), commit.touched)
        if commit.kept:
            await conn.execute(insert(checkpoints), commit.kept)
        if commit.top is not None:
            await conn.execute(_upsert_head(conn.dialect.name, commit.top))
        return commit.seqs, commit.signed

    def _witness(self, signed: list[dict[str, Any]]) -> None:
        """Append this commit's checkpoints to the witness file: one write of whole lines with O_APPEND, so the
        lines of several worker processes never interleave. Not fsynced: a line lost in a crash only leaves
        the witness a little behind the log, never ahead of it (it is written after the commit)."""
        if self.settings.witness is None or not signed:
            return
        data = "".join(json.dumps({"seq": c["seq"], "hash": c["hash"], "signature": c["signature"]}) + "\n"
                       for c in signed).encode("ascii")
        try:
            if self._witness_fd is None:  # closed, then written to again (a test's log outliving its app)
                self._witness_fd = os.open(self.settings.witness, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._witness_fd, data)
        except OSError as exc:  # the events are committed and signed; only the outside copy lags
            log.error("audit witness %s not written: %s", self.settings.witness, exc)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._witness_fd is not None:
            os.close(self._witness_fd)
            self._witness_fd = None

    async def read(self, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        return await self.search(AuditQuery(after_seq=after_seq, limit=limit))

    async def search(self, q: AuditQuery) -> list[dict[str, Any]]:
        """Events matching every given criterion, oldest first, after `after_seq`."""
        query = select(events).where(events.c.seq > q.after_seq).order_by(events.c.seq)
        if q.customer_id is not None:
            query = query.where(events.c.seq.in_(select(event_customers.c.seq)
                                                 .where(event_customers.c.customer_id == q.customer_id)))
        if q.subject is not None:
            query = query.where(events.c.subject == q.subject)
        if q.purpose is not None:
            query = query.where(events.c.purpose == q.purpose)
        if q.outcome is not None:
            query = query.where(events.c.outcome == q.outcome)
        if q.since is not None:
            query = query.where(events.c.recorded_at >= q.since)
        if q.until is not None:
            query = query.where(events.c.recorded_at < q.until)
        if q.limit is not None:
            query = query.limit(q.limit)
        if not self._schema_ready:
            await self.ensure_schema()
        async with self._engine.connect() as conn:
            return [{"seq": row.seq, "hash": row.hash, "recorded_at": _utc(row.recorded_at),
                     "body": json.loads(row.body)} for row in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    after_seq: int = 0
    limit: int | None = None
    customer_id: str | None = None
    subject: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def searchable(body: dict[str, Any]) -> dict[str, Any]:
    """The body fields copied into their own columns for searching."""
    return {"subject": (body.get("caller") or {}).get("subject"), "purpose": body.get("purpose"),
            "outcome": body.get("outcome") or "unknown"}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite keeps no offset: it was UTC


def _upsert_head(dialect: str, checkpoint: dict[str, Any]) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    # Both dialects' insert offer the same upsert; which one depends on the store.
    dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"seq": checkpoint["seq"], "hash": checkpoint["hash"], "signature": checkpoint["signature"],
              "signed_at": checkpoint["signed_at"]}
    return dialect_insert(head).values(slot=1, **values).on_conflict_do_update(index_elements=[head.c.slot],
                                                                                set_=values)


def _bound_sqlite_waits(engine: AsyncEngine, seconds: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        # After create_engine's own listener, so this bound replaces its general one for the audit store.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={max(1, int(seconds * 1000))}")
        finally:
            cursor.close()


def _describe(exc: BaseException) -> str:
    """The kind of failure, never its text (which may hold a host name, a user or SQL)."""
    return type(getattr(exc, "orig", None) or exc).__name__


def _timed_out(exc: BaseException) -> bool:
    message = str(getattr(exc, "orig", None) or exc).lower()
    return isinstance(exc, TimeoutError) or "timeout" in message or "locked" in message or "busy" in message


def _is_contention(exc: Exception) -> bool:
    # SQLite: another process holds the write lock or moved the snapshot on; retrying is the answer.
    message = str(getattr(exc, "orig", None) or exc).lower()
    return "locked" in message or "busy" in message
