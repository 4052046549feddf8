"""The hash chain: each event's hash covers its sequence number, the previous event's hash, the time it was
recorded and the event's canonical bytes, so editing, deleting, inserting, reordering or re-timing any event
changes every hash after it. Checkpoints sign the hash at a sequence number with Ed25519, so a forger who
rewrites the whole tail still cannot produce them.

Two formats: `vcv-audit/2` (written now) puts the recorded time inside the hashed bytes; `vcv-audit/1`
(logs written before) did not. An event's stored hash says which one it was written in, so an event cannot
be moved from one to the other without changing its hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64  # the "previous hash" of the first event


def canonical(body: dict[str, Any]) -> bytes:
    """One byte string per event, whatever the dict order or the database's JSON formatting: keys sorted, no
    spaces, UTF-8. Written by orjson, ~14× faster than the json module (1 against 14 µs for the event of a
    customer view, in the audit writer's thread), and byte for byte what the json module wrote for everything
    an event holds (tests/test_audit_log.py); what orjson refuses (an integer beyond 64 bits, a key that is
    not a string, a lone surrogate) goes the json module's way, as before. Either way the log stores these
    bytes and verification hashes what is stored."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def time_text(moment: datetime) -> str:
    """The recorded time as hashed: UTC, microseconds, ISO 8601 — what both databases keep exactly."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(seq: int, previous: str, recorded_at: datetime, body: dict[str, Any]) -> str:
    return hash_of_canonical(seq, previous, time_text(recorded_at), canonical(body))


def hash_of_canonical(seq: int, previous: str, recorded_at: str, canonical_body: bytes) -> str:
    """`event_hash` for a body already in canonical form (as the log stores it) and a time from `time_text`."""
    digest = hashlib.sha256(f"vcv-audit/2\n{seq}\n{previous}\n{recorded_at}\n".encode("ascii"))
    digest.update(canonical_body)
    return digest.hexdigest()


def legacy_hash_of_canonical(seq: int, previous: str, canonical_body: bytes) -> str:
    """The format-1 hash (logs written before the recorded time was hashed): verified, never written."""
    digest = hashlib.sha256(f"vcv-audit/1\n{seq}\n{previous}\n".encode("ascii"))
    digest.update(canonical_body)
    return digest.hexdigest()


def checkpoint_message(seq: int, hash_: str) -> bytes:
    return f"vcv-audit-checkpoint/1\n{seq}\n{hash_}".encode("ascii")


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, hash_: str) -> str:
    return key.sign(checkpoint_message(seq, hash_)).hex()


def checkpoint_valid(key: Ed25519PublicKey, seq: int, hash_: str, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(bytes.fromhex(signature), checkpoint_message(seq, hash_))
    except (InvalidSignature, ValueError):
        return False
    return True
