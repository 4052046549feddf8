"""Appending to the audit log in SQLite or PostgreSQL, from any number of gateway processes at once.

Each append reads the last event, chains the new ones to it and inserts them; the primary key on `seq`
makes a second writer that read the same last event fail instead of forking the chain, and it simply tries
again from the new end. Concurrent requests in one process share a transaction (group commit), so the
durable write a response waits for costs little more for ten requests than for one."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from prometheus_client import Gauge, Histogram
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from privacy.audit.chain import GENESIS, canonical, event_hash, sign_checkpoint

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


COMMIT_SECONDS = Histogram("vcv_audit_commit_seconds", "Time to append and commit one batch of audit events "
                           "(retries included).", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
BACKLOG = Gauge("vcv_audit_backlog", "Audit events waiting for their commit (summed over a server's workers).",
                multiprocess_mode="livesum")


class AuditUnavailable(RuntimeError):
    """The audit store cannot take the event; the caller must not get the data (fail closed)."""


@dataclass(frozen=True, slots=True)
class AuditSettings:
    checkpoint_every: int = 100  # sign the chain's head every this many events...
    checkpoint_seconds: float = 60.0  # ...and at least this often while events keep coming
    max_attempts: int = 50  # optimistic retries when other writers keep winning the race


class AuditLog:
    def __init__(self, engine: AsyncEngine, signing_key: Ed25519PrivateKey | None,
                 settings: AuditSettings | None = None) -> None:
        self._engine = engine
        self._key = signing_key
        self.settings = settings or AuditSettings()
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._schema_ready = False
        self._last_checkpoint = time.monotonic()

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
        """Whether the store answers (for /readyz): a gateway that cannot write the log answers nothing."""
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    async def record(self, body: dict[str, Any]) -> int:
        """Append one event and return its sequence number once it is durably committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((body, future))
        BACKLOG.inc()
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        try:
            return await future
        finally:
            BACKLOG.dec()

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                with COMMIT_SECONDS.time():
                    seqs = await self.append([body for body, _ in batch])
            except AuditUnavailable as exc:
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, future), seq in zip(batch, seqs, strict=True):
                    future.set_result(seq)

    async def append(self, bodies: Sequence[dict[str, Any]]) -> list[int]:
        """Chain and insert `bodies` in one transaction; returns their sequence numbers."""
        for attempt in range(self.settings.max_attempts):
            try:
                if not self._schema_ready:  # lazily, so a gateway starts (and fails closed) with the store down
                    await self.ensure_schema()
                async with self._engine.begin() as conn:
                    return await self._append(conn, bodies)
            except (IntegrityError, OperationalError) as exc:
                if isinstance(exc, OperationalError) and not _is_contention(exc):
                    raise AuditUnavailable(f"audit store unavailable: {type(exc.orig).__name__}") from exc
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another writer won the race
            except (DBAPIError, OSError) as exc:
                raise AuditUnavailable(f"audit store unavailable: {type(exc).__name__}") from exc
        raise AuditUnavailable("audit store too contended: could not append")

    async def _append(self, conn: AsyncConnection, bodies: Sequence[dict[str, Any]]) -> list[int]:
        last = (await conn.execute(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc())
                                   .limit(1))).first()
        seq, previous = (last.seq, last.hash) if last is not None else (0, GENESIS)
        now = datetime.now(UTC)
        rows, signed, seqs, touched = [], [], [], []
        overdue = time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_seconds
        for index, body in enumerate(bodies):
            seq += 1
            current = event_hash(seq, previous, body)
            rows.append({"seq": seq, "prev_hash": previous, "hash": current, "recorded_at": now,
                         "body": canonical(body).decode("utf-8"), **searchable(body)})
            touched += [{"seq": seq, "customer_id": c} for c in sorted(set(body.get("customers") or []))]
            last = index == len(bodies) - 1
            if self._key is not None and (seq % self.settings.checkpoint_every == 0 or (overdue and last)):
                signed.append({"seq": seq, "hash": current, "signature": sign_checkpoint(self._key, seq, current),
                               "signed_at": now})
            previous = current
            seqs.append(seq)
        await conn.execute(insert(events), rows)
        if signed:
            self._last_checkpoint = time.monotonic()
        if touched:
            await conn.execute(insert(event_customers), touched)
        if signed:
            await conn.execute(insert(checkpoints), signed)
        return seqs

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


def _is_contention(exc: OperationalError) -> bool:
    # SQLite: another process holds the write lock or moved the snapshot on; retrying is the answer.
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message
