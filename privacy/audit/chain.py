"""The hash chain: each event's hash covers the previous event's hash and the event's canonical bytes, so
editing, deleting, inserting or reordering any event changes every hash after it. Checkpoints sign the
hash at a sequence number with Ed25519, so a forger who rewrites the whole tail still cannot produce them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64  # the "previous hash" of the first event


def canonical(body: dict[str, Any]) -> bytes:
    """One byte string per event, whatever the dict order or the database's JSON formatting."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(seq: int, previous: str, body: dict[str, Any]) -> str:
    return hash_of_canonical(seq, previous, canonical(body))


def hash_of_canonical(seq: int, previous: str, canonical_body: bytes) -> str:
    """`event_hash` for a body already in canonical form (as the log stores it)."""
    digest = hashlib.sha256()
    digest.update(f"vcv-audit/1\n{seq}\n{previous}\n".encode("ascii"))
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
