"""Proving the audit log complete and unaltered: every event chains to the one before, every checkpoint is
signed by the audit key, and every checkpoint kept in a witness file outside the database is still there.

The first sequence number where this fails is reported: that is where an event was edited, deleted,
inserted or reordered, where a signature was forged, or (against the witness) where the tail was cut."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from privacy.audit.chain import GENESIS, checkpoint_valid, event_hash, hash_of_canonical
from privacy.audit.store import checkpoints, event_customers, events, searchable


@dataclass(frozen=True, slots=True)
class Verdict:
    intact: bool
    events: int
    checkpoints: int
    broken_at: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.intact:
            return f"intact: {self.events} events, {self.checkpoints} signed checkpoints"
        return f"broken at sequence number {self.broken_at}: {self.reason}"


PublicKeys = Ed25519PublicKey | list[Ed25519PublicKey] | None


def verify_rows(rows: Iterable[Sequence[Any]], signed: Iterable[Any], public_key: PublicKeys,
                witness: list[dict[str, Any]] | None = None, touched: dict[int, list[str]] | None = None) -> Verdict:
    """`rows`: (seq, prev_hash, hash, body, subject, purpose, outcome) in sequence order, as `verify` reads them."""
    # Several keys: after a rotation, older checkpoints carry the old key's signatures.
    keys = public_key if isinstance(public_key, list) else [public_key] if public_key is not None else []
    hashes: dict[int, str] = {}
    previous, expected, count = GENESIS, 1, 0
    for seq, prev_hash, hash_, text, subject, purpose, outcome in rows:
        if seq != expected:
            return Verdict(False, count, 0, expected, f"event {expected} is missing (next is {seq})")
        if prev_hash != previous:
            return Verdict(False, count, 0, seq, "does not chain to the event before it")
        body = _decode(text)
        if body is _NOT_JSON:
            return Verdict(False, count, 0, seq, "the event's body is not JSON")
        # The log stores each body in the canonical form it was hashed in, so the stored bytes are hashed as
        # they are; only a body stored in another form (none the store writes) is re-serialised first.
        if hash_of_canonical(seq, previous, text.encode("utf-8")) != hash_ \
                and event_hash(seq, previous, body) != hash_:
            return Verdict(False, count, 0, seq, "the event's content does not match its hash")
        if {"subject": subject, "purpose": purpose, "outcome": outcome} != searchable(body) \
                or (touched is not None and touched.get(seq, []) != sorted(set(body.get("customers") or []))):
            return Verdict(False, count, 0, seq, "the search columns disagree with the event (an access "
                           "report could be made to miss it)")
        hashes[seq] = previous = hash_
        expected, count = expected + 1, count + 1
    signed_count = 0
    for checkpoint in signed:
        if hashes.get(checkpoint.seq) != checkpoint.hash:
            return Verdict(False, count, signed_count, checkpoint.seq, "a checkpoint signs a hash the log lacks")
        if keys and not any(checkpoint_valid(k, checkpoint.seq, checkpoint.hash, checkpoint.signature) for k in keys):
            return Verdict(False, count, signed_count, checkpoint.seq,
                           "the checkpoint's signature is not the audit key's")
        signed_count += 1
    for kept in sorted(witness or [], key=lambda k: k["seq"]):
        if kept["seq"] not in hashes:
            return Verdict(False, count, signed_count, kept["seq"], "the log ends before a witnessed checkpoint "
                           "(its tail was cut)")
        if hashes[kept["seq"]] != kept["hash"]:
            return Verdict(False, count, signed_count, kept["seq"], "the log differs from the witness")
    return Verdict(True, count, signed_count)


async def verify(engine: AsyncEngine, public_key: PublicKeys,
                 witness: Path | None = None) -> Verdict:
    async with engine.connect() as conn:
        # Not recorded_at, which nothing checks (and which SQLite would parse into a datetime for each row).
        e = events.c
        rows = list(await conn.execute(select(e.seq, e.prev_hash, e.hash, e.body, e.subject, e.purpose, e.outcome)
                                       .order_by(e.seq)))
        signed = list(await conn.execute(select(checkpoints).order_by(checkpoints.c.seq)))
        touched: dict[int, list[str]] = {}
        for link in await conn.execute(select(event_customers).order_by(event_customers.c.seq,
                                                                        event_customers.c.customer_id)):
            touched.setdefault(link.seq, []).append(link.customer_id)
    return verify_rows(rows, signed, public_key, read_witness(witness) if witness else None, touched)


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
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def witness_lines(signed: Iterable[Any]) -> Iterator[str]:
    for checkpoint in signed:
        yield json.dumps({"seq": checkpoint.seq, "hash": checkpoint.hash, "signature": checkpoint.signature})


async def export_witness(engine: AsyncEngine, path: Path) -> int:
    """Append the checkpoints not yet in the witness file; returns how many were added."""
    known = {k["seq"] for k in read_witness(path)} if path.exists() else set()
    async with engine.connect() as conn:
        signed = [c for c in await conn.execute(select(checkpoints).order_by(checkpoints.c.seq)) if c.seq not in known]
    with path.open("a", encoding="utf-8") as out:
        for line in witness_lines(signed):
            out.write(line + "\n")
    return len(signed)
