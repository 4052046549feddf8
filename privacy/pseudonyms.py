"""Pseudonym keys: one secret per agreement (owner), held outside the database, narrowed to one key per
(owner, consumer) for every pseudonym shown (SPEC §6).

A key comes from the environment (`VCV_PSEUDONYM_KEY_<OWNER>`, hex) or from `<directory>/<owner>.key`
(hex, one line); the environment wins so production can inject secrets without files. Without the key a
consumer cannot recompute or invert a pseudonym; with a different owner's key the same ID gives an
unrelated pseudonym, so two owners' pseudonyms cannot be joined.

Every pseudonym is computed with the owner's key narrowed to the consumer (a partner, or a role): the bank
and the life insurer see different pseudonyms for the same customer and cannot join their data on them,
while each one's pseudonyms stay stable from one request to the next. (`{pseudonymize: {per: consumer}}`,
the older explicit spelling, means the same.)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from privacy.treatments import PSEUDONYM_BYTES, PSEUDONYM_PREFIX

ENV_PREFIX = "VCV_PSEUDONYM_KEY_"
MIN_KEY_BYTES = 16
DEMO_KEY_BYTES = 32


class PseudonymKeyError(ValueError):
    """A key is missing or unusable; the message says where it was looked for."""


def env_name(owner: str) -> str:
    """`property` -> `VCV_PSEUDONYM_KEY_PROPERTY`."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", owner).upper()


class PseudonymKeys:
    def __init__(self, keys: Mapping[str, bytes]) -> None:
        for owner, key in keys.items():
            if len(key) < MIN_KEY_BYTES:
                raise PseudonymKeyError(f"the pseudonym key of {owner} is shorter than {MIN_KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._derived: dict[tuple[str, str], bytes] = {}  # bounded by owners x consumers (partners and roles)

    @classmethod
    def load(cls, owners: Iterable[str], *, directory: Path | None = None,
             environ: Mapping[str, str] | None = None) -> PseudonymKeys:
        """Keys for every owner given (typically PolicySet.pseudonymizing_owners()); raises naming every
        owner whose key is missing or malformed, so the gateway refuses to start rather than fail later."""
        env = os.environ if environ is None else environ
        keys: dict[str, bytes] = {}
        problems: list[str] = []
        for owner in sorted(owners):
            path = directory / f"{owner}.key" if directory is not None else None
            if env_name(owner) in env:
                text, origin = env[env_name(owner)], f"${env_name(owner)}"
            elif path is not None and path.is_file():
                text, origin = path.read_text(encoding="ascii"), str(path)
            else:
                places = f"${env_name(owner)}" + (f" or {path}" if path is not None else "")
                problems.append(f"no pseudonym key for {owner}: set {places}")
                continue
            try:
                key = bytes.fromhex(text.strip())
            except ValueError:
                problems.append(f"the pseudonym key for {owner} in {origin} is not hex")
                continue
            if len(key) < MIN_KEY_BYTES:
                problems.append(f"the pseudonym key for {owner} in {origin} is shorter than {MIN_KEY_BYTES} bytes")
                continue
            keys[owner] = key
        if problems:
            raise PseudonymKeyError("; ".join(problems))
        return cls(keys)

    def get(self, owner: str) -> bytes | None:
        """The key, or None for an owner that pseudonymises nothing; treatments.apply refuses a
        pseudonymize without a key, so passing this along can never produce an unkeyed pseudonym."""
        return self._keys.get(owner)

    def for_consumer(self, owner: str, consumer: str) -> bytes | None:
        """The owner's key narrowed to one consumer (HMAC-SHA256 key derivation); None like `get`."""
        key = self._keys.get(owner)
        if key is None:
            return None
        derived = self._derived.get((owner, consumer))
        if derived is None:
            derived = hmac.new(key, b"vcv/pseudonym/consumer/" + consumer.encode("utf-8"), hashlib.sha256).digest()
            self._derived[owner, consumer] = derived
        return derived

    def __contains__(self, owner: object) -> bool:
        return owner in self._keys


def index_token(key: bytes, shown: str) -> str:
    """What the pseudonym index stores for the pseudonym `shown` (resolvers/pseudonym_index.py): a keyed HMAC of
    it under a key derived from the consumer's, so someone reading the database learns neither the pseudonym
    a consumer sees nor anything to compute one with."""
    derived = hmac.new(key, b"vcv/pseudonym-index", hashlib.sha256).digest()
    return hmac.new(derived, shown.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def index_tokens(key: bytes, values: Iterable[str]) -> list[str]:
    """`index_token(key, pseudonym(value, key))` for each value, as building the index needs them by the
    hundred thousand, at a third of the cost: both HMACs start from SHA-256 states with the padded key
    already absorbed (RFC 2104, what `hmac` does inside, set up once here instead of once per value), and
    the pseudonym's base32 is spelt from a table of character pairs (what `base64.b32encode` does, without
    its per-call checks). Equal to the one-at-a-time functions (tests/test_index_ahead.py)."""
    shown_inner, shown_outer = _hmac_states(key)
    token_inner, token_outer = _hmac_states(hmac.new(key, b"vcv/pseudonym-index", hashlib.sha256).digest())
    prefix, pairs = PSEUDONYM_PREFIX.encode("ascii"), _B32_PAIRS
    assert PSEUDONYM_BYTES == 10  # the spelling below covers exactly 80 bits, 16 characters
    tokens: list[str] = []
    for value in values:
        inner = shown_inner.copy()
        inner.update(value.encode("utf-8"))
        outer = shown_outer.copy()
        outer.update(inner.digest())
        n = int.from_bytes(outer.digest()[:10], "big")
        inner = token_inner.copy()
        inner.update(prefix + pairs[n >> 70] + pairs[(n >> 60) & 0x3FF] + pairs[(n >> 50) & 0x3FF]
                     + pairs[(n >> 40) & 0x3FF] + pairs[(n >> 30) & 0x3FF] + pairs[(n >> 20) & 0x3FF]
                     + pairs[(n >> 10) & 0x3FF] + pairs[n & 0x3FF])
        outer = token_outer.copy()
        outer.update(inner.digest())
        tokens.append(outer.digest()[:16].hex())
    return tokens


_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648, as base64.b32encode
_B32_PAIRS = [bytes((a, b)) for a in _B32 for b in _B32]  # index: 10 bits


def _hmac_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hash with the padded key absorbed: copy, feed the message (inner) or
    the inner digest (outer), and the outer digest is `hmac.new(key, message, sha256).digest()`."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_SHA256_BLOCK, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in padded)), hashlib.sha256(bytes(b ^ 0x5C for b in padded)))


_SHA256_BLOCK = 64


def key_fingerprint(key: bytes) -> str:
    """Tells one key from another (an index built with an older key is rebuilt) and nothing about the key."""
    return hmac.new(key, b"vcv/pseudonym-index/fingerprint", hashlib.sha256).hexdigest()[:16]


def ensure_demo_pseudonym_keys(directory: Path, owners: Iterable[str]) -> Path:
    """Create a random key file for each owner that has none (existing keys are never replaced, so
    pseudonyms stay stable across demo restarts). Returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for owner in owners:
        path = directory / f"{owner}.key"
        if path.exists():
            continue
        # Created with owner-only permissions from the start, not chmod-ed afterwards.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(DEMO_KEY_BYTES) + "\n")
    return directory
