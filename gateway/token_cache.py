"""Verified tokens, remembered until they expire: a bounded LRU map from token to the identity it proved.

A front end sends the same bearer token with every request for its lifetime; verifying its signature each
time (tens to hundreds of microseconds for RSA and Ed25519) is work the answer does not need. An entry is
used only while the token has not expired and while the very key object that verified it is still among
the provider's keys, so a key removed at the provider ends its tokens' cache entries at the refresh that
removed it."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.claims import Identity


@dataclass(frozen=True, slots=True)
class _Entry:
    identity: Identity
    expires: float
    kid: str
    key: Any


class TokenCache:
    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, keys: Mapping[str, Any]) -> Identity | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if time.time() >= entry.expires or keys.get(entry.kid) is not entry.key:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry.identity

    def put(self, token: str, identity: Identity, *, expires: float, kid: str, key: Any) -> None:
        if self._size <= 0:
            return
        self._entries[token] = _Entry(identity, expires, kid, key)
        self._entries.move_to_end(token)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
