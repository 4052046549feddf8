"""Proving the audit log complete and unaltered: every event chains to the one before and hashes to what it
says (its recorded time included), every checkpoint and the signed head are the audit key's signatures over
hashes the log has, the head signs the last event (no commit outside a signature), and every checkpoint in a
witness file kept outside the database is still there.

The first sequence number where this fails is reported: that is where an event was edited, deleted, inserted,
reordered or re-timed, where a signature was forged, where events stop being covered by a signature (the
checkpoints deleted and the events after them rewritten), or, against the witness, where the tail was cut.

Rows are read in chunks straight from the driver (no ORM rows, no write lock on SQLite, the next chunk read
while this one is hashed), and a chunk in which every event passes is taken over with a few list operations
(one hash and one JSON parse per event, nothing else per event in Python); only a chunk where something fails
is gone over event by event, to name the first event that fails and why.

Given `workers`, a long log is split into ranges of sequence numbers that forked worker processes, each with
its own connection, read and check at once. A range depends on the ones before it only through its first
event's sequence number and stored `prev_hash`, and the ranges are joined in order: the first that does not
start where the one before it ended, stops at a missing event or fails to read hands over to the sequential
read from where the last joined range ended, so what is reported is always what the sequential read
reports."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import multiprocessing
import os
import sqlite3
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncEngine

from privacy.audit.chain import GENESIS, canonical, checkpoint_valid, legacy_hash_of_canonical, time_text

CHUNK = 10_000  # events per read: big enough to amortise a round trip, small enough to keep memory flat
_EVENTS = "SELECT seq, prev_hash, hash, recorded_at, body, subject, purpose, outcome FROM audit_events"


@dataclass(frozen=True, slots=True)
class Verdict:
    intact: bool  # consistent and every signature checked with the audit key
    events: int
    checkpoints: int
    broken_at: int | None = None
    reason: str = ""
    signed: bool = True  # False: told not to check signatures ("unsigned", never "intact")
    legacy: int = 0  # events in the older format, whose recorded time the hash does not cover

    @property
    def consistent(self) -> bool:
        return self.broken_at is None

    def __str__(self) -> str:
        if self.broken_at is not None:
            return f"broken at sequence number {self.broken_at}: {self.reason}"
        older = (f"; {self.legacy} events in the older format (before vcv-audit/2): their recorded time is not "
                 "covered by the hash" if self.legacy else "")
        if not self.signed:
            return (f"unsigned: {self.events} events chain together and {self.checkpoints} checkpoints match them; "
                    f"signatures not checked (no public key){older}")
        return f"intact: {self.events} events, {self.checkpoints} signed checkpoints{older}"


PublicKeys = Ed25519PublicKey | list[Ed25519PublicKey] | None


@dataclass(frozen=True, slots=True)
class _Expected:
    """What a sequence number must hash to, and who says so (the signature is checked when it is reached)."""
    kind: str  # "checkpoint", "head" or "witness"
    hash: str
    signature: str | None = None  # None: nothing to check (a witness line only repeats a checkpoint's hash)


def _expectations(signed: Iterable[Any], top: Any | None, witness: list[dict[str, Any]] | None
                  ) -> dict[int, list[_Expected]]:
    expected: dict[int, list[_Expected]] = {}
    for checkpoint in signed:
        expected.setdefault(checkpoint.seq, []).append(_Expected("checkpoint", checkpoint.hash, checkpoint.signature))
    if top is not None:
        expected.setdefault(top.seq, []).append(_Expected("head", top.hash, top.signature))
    for kept in witness or []:
        expected.setdefault(kept["seq"], []).append(_Expected("witness", kept["hash"]))
    return expected


@dataclass(frozen=True, slots=True)
class _Part:
    """A range of events a worker checked: where it starts, and the scan's state after it (up to its first
    break). `first` None: the range holds no events."""
    first: Any = None
    first_prev: Any = None
    previous: str = ""
    next_seq: int = 0
    count: int = 0
    legacy: int = 0
    checkpoints: int = 0
    covered: int = 0  # the last sequence number in the range a checkpoint or the head signs (0: none)
    legacy_since_covered: bool = True
    broken: tuple[int, str] | None = None
    failed: bool = False  # raised (a read or a value the sequential read should meet itself)


class _Scan:
    """The state of one pass over the events, fed chunk by chunk (or joined range by range)."""

    def __init__(self, expected: dict[int, list[_Expected]], keys: Sequence[Ed25519PublicKey], check: bool,
                 check_links: bool = True) -> None:
        self.expected = expected
        self.keys, self.check = list(keys), check
        self.check_links = check_links
        self.previous, self.next_seq, self.count, self.legacy = GENESIS, 1, 0, 0
        self.covered = 0  # the last sequence number a (valid) checkpoint or the head signs
        self.legacy_since_covered = True  # every event after `covered` is in the older format
        self.broken: tuple[int, str] | None = None
        self.checkpoints = 0

    def feed(self, rows: Sequence[Sequence[Any]], links: dict[int, list[str]]) -> bool:
        """Check `rows` (seq, prev_hash, hash, recorded_at, body, subject, purpose, outcome); False once broken."""
        sha256, loads, columns, expected = hashlib.sha256, _decode, _COLUMNS.decode, self.expected
        check_links = self.check_links
        previous, next_seq, count, legacy_count = self.previous, self.next_seq, self.count, self.legacy
        covered, legacy_since_covered, checkpoints = self.covered, self.legacy_since_covered, self.checkpoints
        stamp: Any = _UNSET
        stamped = ""  # the events of one commit share their recorded time: convert it once
        broken: tuple[int, str] | None = None
        for seq, prev_hash, hash_, recorded_at, body, subject, purpose, outcome in rows:
            if seq != next_seq:
                broken = (next_seq, f"event {next_seq} is missing (next is {seq})")
                break
            if prev_hash != previous:
                broken = (seq, "does not chain to the event before it")
                break
            if recorded_at != stamp:
                stamp, stamped = recorded_at, _time(recorded_at)
                if not stamped.isascii():
                    stamped.encode("ascii")  # raises, as encoding the header would
            # One string, one encoding: the header is ASCII (`previous` is a hash this scan has checked).
            if sha256(f"vcv-audit/2\n{seq}\n{previous}\n{stamped}\n{body}".encode()).hexdigest() == hash_:
                legacy = False
            else:
                data = body.encode("utf-8")
                if legacy_hash_of_canonical(seq, previous, data) == hash_:
                    legacy = True  # written before the recorded time was hashed
                else:
                    parsed = loads(body)
                    # The log stores each body in the canonical form it was hashed in; only a body stored in
                    # another form (none the store writes) is re-serialised before giving up.
                    if parsed is _NOT_JSON or _hash_v2(seq, previous, recorded_at, canonical(parsed)) != hash_:
                        broken = (seq, "the event's body is not JSON" if parsed is _NOT_JSON else
                                  "the event's content or recorded time does not match its hash")
                        break
                    legacy = False
            try:
                # Only the four fields the columns copy, read without building the rest of the body; the JSON is
                # still checked whole. What this reader refuses (not an object, a caller that is not one, NaN,
                # a lone surrogate, nesting too deep) goes the general way below.
                view: _Columns | None = columns(body)
            except Exception:
                view = None
            if view is not None:
                agrees = subject == (view.caller.subject if view.caller is not None else None) \
                    and purpose == view.purpose and outcome == (view.outcome or "unknown") \
                    and (not check_links or links.get(seq, []) == sorted(set(view.customers or [])))
            else:
                parsed = loads(body)
                if parsed is _NOT_JSON or not isinstance(parsed, dict):
                    broken = (seq, "the event's body is not a JSON object")
                    break
                caller = parsed.get("caller") or {}
                agrees = subject == caller.get("subject") and purpose == parsed.get("purpose") \
                    and outcome == (parsed.get("outcome") or "unknown") \
                    and (not check_links or links.get(seq, []) == sorted(set(parsed.get("customers") or [])))
            if not agrees:
                broken = (seq, "the search columns disagree with the event (an access report could be made to "
                               "miss it)")
                break
            if legacy:
                legacy_count += 1
            else:
                legacy_since_covered = False
            claims = expected.get(seq)
            if claims is not None:
                broken = self._claims(seq, hash_, claims)
                if broken is not None:
                    break
                if any(claim.kind != "witness" for claim in claims):
                    covered, legacy_since_covered = seq, True
                    checkpoints += 1
            previous, next_seq = hash_, seq + 1
            count += 1
        self.previous, self.next_seq, self.count, self.legacy = previous, next_seq, count, legacy_count
        self.covered, self.legacy_since_covered, self.checkpoints = covered, legacy_since_covered, checkpoints
        if broken is not None:
            self.broken = broken
            return False
        return True

    def _claims(self, seq: int, hash_: str, claims: list[_Expected]) -> tuple[int, str] | None:
        for claim in claims:
            if claim.hash != hash_:
                return (seq, {"checkpoint": "a checkpoint signs a hash the log does not have here",
                              "head": "the signed head signs a hash the log does not have here",
                              "witness": "the log differs from the witness"}[claim.kind])
            if claim.signature is not None and self.check and \
                    not any(checkpoint_valid(k, seq, claim.hash, claim.signature) for k in self.keys):
                return (seq, f"the {'checkpoint' if claim.kind == 'checkpoint' else 'signed head'}"
                             "'s signature is not the audit key's")
        return None

    def part(self, first: Any, first_prev: Any) -> _Part:
        return _Part(first, first_prev, self.previous, self.next_seq, self.count, self.legacy, self.checkpoints,
                     self.covered, self.legacy_since_covered, self.broken)

    def join(self, part: _Part) -> bool:
        """Take over a range checked on its own; False when the ranges end here: broken, or left to the
        sequential read (empty, not following on from where this scan is, or failed)."""
        if part.failed or part.first is None or part.first != self.next_seq or part.first_prev != self.previous:
            return False
        self.previous, self.next_seq = part.previous, part.next_seq
        self.count, self.legacy, self.checkpoints = (self.count + part.count, self.legacy + part.legacy,
                                                     self.checkpoints + part.checkpoints)
        if part.covered:
            self.covered, self.legacy_since_covered = part.covered, part.legacy_since_covered
        else:
            self.legacy_since_covered = self.legacy_since_covered and part.legacy_since_covered
        self.broken = part.broken
        return part.broken is None

    def finish(self, signed: bool) -> None:
        """After the last event: nothing may claim events the log lacks, and (when signatures are checked, so
        that coverage means something) a signature covers the end."""
        last = self.next_seq - 1
        beyond = sorted((seq, claim.kind) for seq, claims in self.expected.items() if seq > last for claim in claims)
        if beyond:
            seq, kind = beyond[0]
            what = {"witness": "a witnessed checkpoint", "checkpoint": "a signed checkpoint", "head": "its signed head"}
            self.broken = (last + 1, f"the log ends at {last}, but {what[kind]} is at {seq} (its tail was cut)")
        elif signed and self.covered < last and not self.legacy_since_covered:
            self.broken = (self.covered + 1, f"events {self.covered + 1}–{last} are not covered by a signed "
                                             "checkpoint (a commit without its checkpoint, or events rewritten "
                                             "after the checkpoints were deleted)")


_UNSET = object()


def _time(value: Any) -> str:
    """The recorded time as hashed, from what the driver returns (SQLite: text without offset, UTC)."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # SQLAlchemy's SQLite form, 'YYYY-MM-DD HH:MM:SS.ffffff'
            return f"{value[:10]}T{value[11:]}+00:00"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return time_text(value)


def _hash_v2(seq: int, previous: str, recorded_at: Any, data: bytes) -> str:
    return hashlib.sha256(f"vcv-audit/2\n{seq}\n{previous}\n{_time(recorded_at)}\n".encode("ascii") + data).hexdigest()


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    hash: str
    signature: str


class _Reader:
    """Plain SQL on the driver's own connection: no per-row ORM work, and on SQLite no transaction (the audit
    engine would open a write-locking one), so verifying a live log never holds its writers up."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self._raw, self._pg = raw, dialect == "postgresql"

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        if self._pg:
            for n in range(len(args)):
                sql = sql.replace("?", f"${n + 1}", 1)
            return list(await self._raw.fetch(sql, *args))
        cursor = await self._raw.execute(sql, args)
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()

    async def table_exists(self, name: str) -> bool:
        if self._pg:
            return bool(await self._raw.fetchval("SELECT to_regclass($1) IS NOT NULL", name))
        return bool(await self.fetch("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name))

    async def events(self, after: int, limit: int) -> list[Sequence[Any]]:
        return await self.fetch(f"{_EVENTS} WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)

    async def links(self, after: int, upto: int) -> dict[int, list[str]]:
        return _group(await self.fetch("SELECT seq, customer_id FROM audit_event_customers WHERE seq > ? "
                                       "AND seq <= ? ORDER BY seq, customer_id", after, upto))

    async def head(self) -> _Row | None:
        if not await self.table_exists("audit_head"):  # a log last written before signed heads existed
            return None
        rows = await self.fetch("SELECT seq, hash, signature FROM audit_head WHERE slot = 1")
        return _Row(*rows[0]) if rows else None

    async def source(self, engine: AsyncEngine) -> tuple[_Source, int] | None:
        """Where worker processes read this log from, and how far the ranges go (the largest sequence number
        now); None when they cannot (an in-memory database)."""
        if self._pg:
            args, kwargs = engine.dialect.create_connect_args(engine.url)
            if args:
                return None
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith("prepared_statement")}
            search_path = await self._raw.fetchval("SELECT current_setting('search_path')")
            kwargs["server_settings"] = {**kwargs.get("server_settings", {}), "search_path": search_path}
            source = _Source(None, kwargs)
        else:
            database = engine.url.database
            if not database or database == ":memory:" or database.startswith("file:"):
                return None
            source = _Source(database, None)
        top = (await self.fetch("SELECT max(seq) FROM audit_events"))[0][0]
        return source, top if isinstance(top, int) else 0


def _group(pairs: Iterable[Sequence[Any]]) -> dict[int, list[str]]:
    touched: dict[int, list[str]] = {}
    for seq, customer in pairs:
        touched.setdefault(seq, []).append(customer)
    return touched


def default_workers() -> int:
    """Worker processes for a long log: one per CPU this process may use (none where it cannot fork)."""
    if sys.platform != "linux":
        return 0
    return min(len(os.sched_getaffinity(0)), 8)


async def verify(engine: AsyncEngine, public_key: PublicKeys, witness: Path | None = None, *,
                 check_signatures: bool = True, workers: int = 0, chunk: int = CHUNK) -> Verdict:
    """The log's verdict. Without a public key, only `check_signatures=False` verifies, and says "unsigned".

    `workers` > 0: check a log of more than two chunks in that many forked processes at once (the caller must
    be a process that can fork safely: one whose other threads hold no locks, as the CLI); the verdict is the
    same either way."""
    keys = public_key if isinstance(public_key, list) else [public_key] if public_key is not None else []
    if check_signatures and not keys:
        raise ValueError("no public key to check the checkpoints' signatures with; an unchecked log is not "
                         "called intact (check_signatures=False to check only the chain)")
    kept = read_witness(witness) if witness is not None else None
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        reader = _Reader(raw, engine.dialect.name)
        if not await reader.table_exists("audit_events"):
            return Verdict(check_signatures, 0, 0, signed=check_signatures)
        signed = [_Row(*row) for row in await reader.fetch("SELECT seq, hash, signature FROM audit_checkpoints "
                                                             "ORDER BY seq")]
        top = await reader.head()
        scan = _Scan(_expectations(signed, top, kept), keys, check_signatures)
        if workers > 0:
            found = await reader.source(engine)
            if found is not None and found[1] > 2 * chunk:
                await _ranges(scan, found[0], found[1], workers, chunk)
        if scan.broken is None:
            await _sequential(scan, reader, top, chunk)
    if scan.broken is None:
        scan.finish(check_signatures)
    if scan.broken is not None:
        return Verdict(False, scan.count, scan.checkpoints, scan.broken[0], scan.broken[1], check_signatures,
                       scan.legacy)
    return Verdict(check_signatures, scan.count, scan.checkpoints, signed=check_signatures, legacy=scan.legacy)


async def _sequential(scan: _Scan, reader: _Reader, top: _Row | None, chunk: int) -> None:
    """Read on from where `scan` is, one chunk after another in `seq` order, until the end of the log."""
    after = scan.next_seq - 1
    reading = asyncio.ensure_future(reader.events(after, chunk))
    while True:
        rows = await reading
        if not rows:
            # Writers may have committed (and moved the head on) while we read: follow them to the head
            # read now, which every commit moves in the same transaction as its events.
            moved = await reader.head()
            if moved is not None and (top is None or moved.seq > top.seq) and moved.seq >= scan.next_seq:
                top = moved
                scan.expected.setdefault(moved.seq, []).append(_expectations([], moved, None)[moved.seq][0])
                reading = asyncio.ensure_future(reader.events(after, chunk))
                continue
            break
        upto = rows[-1][0]
        links = await reader.links(after, upto)
        reading = asyncio.ensure_future(reader.events(upto, chunk))  # read on while these are checked...
        await asyncio.sleep(0)  # ...once the read has been handed to the driver
        if not scan.feed(rows, links):
            await reading
            break
        after = upto


# --- checking ranges in worker processes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    sqlite: str | None  # the SQLite file, or
    postgresql: dict[str, Any] | None  # asyncpg.connect's arguments


async def _ranges(scan: _Scan, source: _Source, top: int, workers: int, chunk: int) -> None:
    """Check the log in ranges of `chunk` sequence numbers up to `top` in `workers` forked processes, joining
    them to `scan` in order until one does not follow on."""
    loop = asyncio.get_running_loop()
    # Forked, not spawned: a worker starts in milliseconds with everything (the claims, the keys) in place.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker,
                               initargs=(source, scan.expected, scan.keys, scan.check))
    pending: deque[tuple[int, asyncio.Future[_Part]]] = deque()
    low = 0
    try:
        while True:
            while len(pending) < 2 * workers and low < top:
                high = min(low + chunk, top)
                pending.append((high, loop.run_in_executor(pool, _check_range, low, high)))
                low = high
            if not pending:
                return
            high, future = pending.popleft()
            try:
                part = await future
            except Exception:  # a worker died (BrokenProcessPool): the sequential read takes over from here
                return
            if not scan.join(part) or scan.next_seq <= high:
                # Broken; or fewer events than sequence numbers in the range: the end, or an event missing
                # that the range after would not start with (the sequential read names what comes next).
                return
    finally:
        for _, future in pending:
            future.cancel()
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


class _Worker:
    """A worker process's connection and what it checks the events against."""

    def __init__(self, source: _Source, expected: dict[int, list[_Expected]], keys: list[Ed25519PublicKey],
                 check: bool) -> None:
        self.source, self.expected, self.keys, self.check = source, expected, keys, check
        self._db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pg: Any = None

    def read(self, low: int, high: int) -> tuple[list[Sequence[Any]], dict[int, list[str]]]:
        """The events with sequence numbers in (low, high], in order, and their customer links."""
        if self.source.sqlite is not None:
            if self._db is None:
                self._db = sqlite3.connect(self.source.sqlite, timeout=10)
                self._db.execute("PRAGMA query_only=ON")  # a reader: nothing it runs may write
            rows = self._db.execute(f"{_EVENTS} WHERE seq > ? AND seq <= ? ORDER BY seq", (low, high)).fetchall()
            pairs = self._db.execute("SELECT seq, customer_id FROM audit_event_customers WHERE seq > ? AND "
                                     "seq <= ? ORDER BY seq, customer_id", (low, high)).fetchall()
            return rows, _group(pairs)
        read: tuple[list[Sequence[Any]], dict[int, list[str]]] = self._run(self._read_pg(low, high))
        return read

    async def _read_pg(self, low: int, high: int) -> tuple[list[Sequence[Any]], dict[int, list[str]]]:
        import asyncpg

        if self._pg is None:
            self._pg = await asyncpg.connect(**(self.source.postgresql or {}))
        # No ORDER BY: the server would sort what its index scan (or a bitmap scan, on a table not yet
        # analysed) returns, and Python sorts rows that come almost in order in one pass.
        rows = await self._pg.fetch(f"{_EVENTS} WHERE seq > $1 AND seq <= $2", low, high)
        rows.sort(key=itemgetter(0))
        pairs = await self._pg.fetch("SELECT seq, customer_id FROM audit_event_customers WHERE seq > $1 AND "
                                     "seq <= $2 ORDER BY seq, customer_id", low, high)
        return rows, _group(pairs)

    def _run(self, step: Any) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(step)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._pg is not None:
            self._run(self._pg.close())
        if self._loop is not None:
            self._loop.close()


_WORKER: _Worker | None = None


def _start_worker(source: _Source, expected: dict[int, list[_Expected]], keys: list[Ed25519PublicKey],
                  check: bool) -> None:
    from multiprocessing.util import Finalize

    global _WORKER
    # What the fork copied stays as it is: the collector neither walks it nor (by touching it) copies its pages.
    gc.freeze()
    _WORKER = _Worker(source, expected, keys, check)
    Finalize(_WORKER, _WORKER.close, exitpriority=10)  # the connection closed cleanly when the pool shuts down


def _check_range(low: int, high: int) -> _Part:
    worker = _WORKER
    assert worker is not None
    try:
        rows, links = worker.read(low, high)
        if not rows:
            return _Part()
        scan = _Scan(worker.expected, worker.keys, worker.check)
        first, first_prev = rows[0][0], rows[0][1]
        scan.previous, scan.next_seq = first_prev, first  # the join checks these against the range before
        scan.feed(rows, links)
        return scan.part(first, first_prev)
    except Exception:  # whatever it was, the sequential read meets it again and answers as it always has
        return _Part(failed=True)


def _decode(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses and the json module accepts (NaN, integers beyond 64 bits)
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


class _Caller(msgspec.Struct, gc=False):
    subject: Any = None


class _Columns(msgspec.Struct, gc=False):
    """The fields of an event's body that the search columns and the customer links copy."""
    caller: _Caller | None = None
    customers: Any = None
    outcome: Any = None
    purpose: Any = None


_COLUMNS = msgspec.json.Decoder(_Columns)


def read_witness(path: Path) -> list[dict[str, Any]]:
    kept = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            kept.append({"seq": int(entry["seq"]), "hash": str(entry["hash"])})
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}:{number}: not a witness line (JSON with seq, hash, signature)") from None
    return kept


def witness_lines(signed: Iterable[Any]) -> Iterator[str]:
    for checkpoint in signed:
        yield json.dumps({"seq": checkpoint.seq, "hash": checkpoint.hash, "signature": checkpoint.signature})


async def export_witness(engine: AsyncEngine, path: Path) -> int:
    """Append the checkpoints (and the signed head) not yet in the witness file; returns how many were added."""
    known = {k["seq"] for k in read_witness(path)} if path.exists() else set()
    async with engine.connect() as conn:
        reader = _Reader((await conn.get_raw_connection()).driver_connection, engine.dialect.name)
        signed = [_Row(*row) for row in await reader.fetch("SELECT seq, hash, signature FROM audit_checkpoints "
                                                             "ORDER BY seq")]
        top = await reader.head()
    if top is not None and all(c.seq != top.seq for c in signed):
        signed.append(top)
    new = [c for c in signed if c.seq not in known]
    with path.open("a", encoding="utf-8") as out:
        for line in witness_lines(new):
            out.write(line + "\n")
    return len(new)
