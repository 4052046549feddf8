"""Proving the audit log complete and unaltered: every event chains to the one before and hashes to what it
says (its recorded time included), every checkpoint and the signed head are the audit key's signatures over
hashes the log has, the head signs the last event (no commit outside a signature), and every checkpoint in a
witness file kept outside the database is still there.

The first sequence number where this fails is reported: that is where an event was edited, deleted, inserted,
reordered or re-timed, where a signature was forged, where events stop being covered by a signature (the
checkpoints deleted and the events after them rewritten), or, against the witness, where the tail was cut.

Rows are read in chunks straight from the driver (no ORM rows, no write lock on SQLite, the next chunk read
while this one is hashed), so a long log verifies at the speed of hashing and parsing."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncEngine

from privacy.audit.chain import GENESIS, canonical, checkpoint_valid, legacy_hash_of_canonical, time_text

CHUNK = 20_000  # events per read: big enough to amortise a round trip, small enough to keep memory flat


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
    """What a sequence number must hash to, and who says so."""
    kind: str  # "checkpoint", "head" or "witness"
    hash: str
    signature_ok: bool = True


def _expectations(signed: Iterable[Any], top: Any | None, witness: list[dict[str, Any]] | None,
                  keys: list[Ed25519PublicKey], check: bool) -> dict[int, list[_Expected]]:
    expected: dict[int, list[_Expected]] = {}

    def valid(c: Any) -> bool:
        return not check or any(checkpoint_valid(k, c.seq, c.hash, c.signature) for k in keys)

    for checkpoint in signed:
        expected.setdefault(checkpoint.seq, []).append(_Expected("checkpoint", checkpoint.hash, valid(checkpoint)))
    if top is not None:
        expected.setdefault(top.seq, []).append(_Expected("head", top.hash, valid(top)))
    for kept in witness or []:
        expected.setdefault(kept["seq"], []).append(_Expected("witness", kept["hash"]))
    return expected


class _Scan:
    """The state of one pass over the events, fed chunk by chunk."""

    def __init__(self, expected: dict[int, list[_Expected]], check_links: bool) -> None:
        self.expected = expected
        self.check_links = check_links
        self.previous, self.next_seq, self.count, self.legacy = GENESIS, 1, 0, 0
        self.covered = 0  # the last sequence number a (valid) checkpoint or the head signs
        self.legacy_since_covered = True  # every event after `covered` is in the older format
        self.broken: tuple[int, str] | None = None
        self.checkpoints = 0

    def feed(self, rows: Sequence[Sequence[Any]], links: dict[int, list[str]]) -> bool:
        """Check `rows` (seq, prev_hash, hash, recorded_at, body, subject, purpose, outcome); False once broken."""
        sha256, loads, expected = hashlib.sha256, _decode, self.expected
        previous, next_seq = self.previous, self.next_seq
        stamp, stamped = None, ""  # the events of one commit share their recorded time: convert it once
        for seq, prev_hash, hash_, recorded_at, body, subject, purpose, outcome in rows:
            if seq != next_seq:
                return self._break(next_seq, f"event {next_seq} is missing (next is {seq})")
            if prev_hash != previous:
                return self._break(seq, "does not chain to the event before it")
            if recorded_at != stamp:
                stamp, stamped = recorded_at, _time(recorded_at)
            data = body.encode("utf-8")
            digest = sha256(f"vcv-audit/2\n{seq}\n{previous}\n{stamped}\n".encode("ascii"))
            digest.update(data)
            if digest.hexdigest() == hash_:
                legacy = False
            elif legacy_hash_of_canonical(seq, previous, data) == hash_:
                legacy = True  # written before the recorded time was hashed
            else:
                parsed = loads(body)
                # The log stores each body in the canonical form it was hashed in; only a body stored in another
                # form (none the store writes) is re-serialised before giving up.
                if parsed is _NOT_JSON or _hash_v2(seq, previous, recorded_at, canonical(parsed)) != hash_:
                    what = "the event's body is not JSON" if parsed is _NOT_JSON else \
                        "the event's content or recorded time does not match its hash"
                    return self._break(seq, what)
                legacy = False
            parsed = loads(body)
            if parsed is _NOT_JSON or not isinstance(parsed, dict):
                return self._break(seq, "the event's body is not a JSON object")
            caller = parsed.get("caller") or {}
            if subject != caller.get("subject") or purpose != parsed.get("purpose") \
                    or outcome != (parsed.get("outcome") or "unknown") \
                    or (self.check_links and links.get(seq, []) != sorted(set(parsed.get("customers") or []))):
                return self._break(seq, "the search columns disagree with the event (an access report could be "
                                        "made to miss it)")
            if legacy:
                self.legacy += 1
            else:
                self.legacy_since_covered = False
            claims = expected.get(seq)
            if claims is not None:
                for claim in claims:
                    if claim.hash != hash_:
                        return self._break(seq, {"checkpoint": "a checkpoint signs a hash the log does not have here",
                                                 "head": "the signed head signs a hash the log does not have here",
                                                 "witness": "the log differs from the witness"}[claim.kind])
                    if not claim.signature_ok:
                        return self._break(seq, f"the {'checkpoint' if claim.kind == 'checkpoint' else 'signed head'}"
                                                "'s signature is not the audit key's")
                if any(claim.kind != "witness" for claim in claims):
                    self.covered, self.legacy_since_covered = seq, True
                    self.checkpoints += 1
            previous, next_seq = hash_, seq + 1
            self.previous, self.next_seq, self.count = previous, next_seq, self.count + 1
        return True

    def _break(self, seq: int, reason: str) -> bool:
        self.broken = (seq, reason)
        return False

    def finish(self, signed: bool) -> None:
        """After the last event: nothing may claim events the log lacks, and (when signatures are checked, so
        that coverage means something) a signature covers the end."""
        last = self.next_seq - 1
        beyond = sorted((seq, claim.kind) for seq, claims in self.expected.items() if seq > last for claim in claims)
        if beyond:
            seq, kind = beyond[0]
            what = {"witness": "a witnessed checkpoint", "checkpoint": "a signed checkpoint", "head": "its signed head"}
            self._break(last + 1, f"the log ends at {last}, but {what[kind]} is at {seq} (its tail was cut)")
        elif signed and self.covered < last and not self.legacy_since_covered:
            self._break(self.covered + 1, f"events {self.covered + 1}–{last} are not covered by a signed checkpoint "
                                          "(a commit without its checkpoint, or events rewritten after the "
                                          "checkpoints were deleted)")


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
        return await self.fetch("SELECT seq, prev_hash, hash, recorded_at, body, subject, purpose, outcome "
                                "FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)

    async def links(self, after: int, upto: int) -> dict[int, list[str]]:
        touched: dict[int, list[str]] = {}
        for seq, customer in await self.fetch("SELECT seq, customer_id FROM audit_event_customers WHERE seq > ? "
                                              "AND seq <= ? ORDER BY seq, customer_id", after, upto):
            touched.setdefault(seq, []).append(customer)
        return touched

    async def head(self) -> _Row | None:
        if not await self.table_exists("audit_head"):  # a log last written before signed heads existed
            return None
        rows = await self.fetch("SELECT seq, hash, signature FROM audit_head WHERE slot = 1")
        return _Row(*rows[0]) if rows else None


async def verify(engine: AsyncEngine, public_key: PublicKeys, witness: Path | None = None, *,
                 check_signatures: bool = True) -> Verdict:
    """The log's verdict. Without a public key, only `check_signatures=False` verifies, and says "unsigned"."""
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
        scan = _Scan(_expectations(signed, top, kept, keys, check_signatures), check_links=True)
        after, chunk = 0, asyncio.ensure_future(reader.events(0, CHUNK))
        while True:
            rows = await chunk
            if not rows:
                # Writers may have committed (and moved the head on) while we read: follow them to the head
                # read now, which every commit moves in the same transaction as its events.
                moved = await reader.head()
                if moved is not None and (top is None or moved.seq > top.seq) and moved.seq >= scan.next_seq:
                    top = moved
                    scan.expected.setdefault(moved.seq, []).append(
                        _expectations([], moved, None, keys, check_signatures)[moved.seq][0])
                    chunk = asyncio.ensure_future(reader.events(after, CHUNK))
                    continue
                break
            upto = rows[-1][0]
            links = await reader.links(after, upto)
            chunk = asyncio.ensure_future(reader.events(upto, CHUNK))  # read on while these are checked...
            await asyncio.sleep(0)  # ...once the read has been handed to the driver
            if not scan.feed(rows, links):
                await chunk
                break
            after = upto
    if scan.broken is None:
        scan.finish(check_signatures)
    if scan.broken is not None:
        return Verdict(False, scan.count, scan.checkpoints, scan.broken[0], scan.broken[1], check_signatures,
                       scan.legacy)
    return Verdict(check_signatures, scan.count, scan.checkpoints, signed=check_signatures, legacy=scan.legacy)


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
