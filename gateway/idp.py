"""The identity provider's public keys: from a JWKS file, or fetched from the provider and kept fresh.

A provider publishes its keys at a `jwks_uri` (found through OpenID Connect discovery from its issuer URL)
and rotates them: a new key appears, tokens start naming it, the old key disappears. `RemoteKeys` fetches
the set at start, again on a schedule, and once (rate-limited) when a token names a `kid` it does not know.
A failed fetch keeps the last good keys: an outage of the provider does not lock every caller out, and shows
in `/readyz` ("stale") and `/metrics` (`vcv_identity_keys_up 0`). A key the provider removed stops being
accepted after the next successful fetch, cached tokens included (they are tied to the key object that
verified them, see gateway/identity.py).

Fetching is asynchronous (aiohttp) and happens beside request handling; a request waits only when its token
names an unknown key and a fetch for it is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from gateway.metrics import IDENTITY_KEY_FETCHES, IDENTITY_KEYS, IDENTITY_KEYS_REFRESHED, IDENTITY_KEYS_UP

log = logging.getLogger("vcv.identity")

# Algorithms a provider's key may carry. Symmetric (HS*) keys are never taken from a JWKS: anyone holding
# the set could sign with them.
ALGORITHMS = ("EdDSA", "RS256", "PS256", "ES256")
DISCOVERY_PATH = "/.well-known/openid-configuration"


class ProviderKey(jwt.PyJWK):
    """A PyJWK that remembers the JWK it was made from, to tell an unchanged key on the next fetch."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.data = data


class KeyFetchError(Exception):
    """The provider's keys could not be fetched or read; the message says where and why, never a secret."""


def usable_keys(jwks: Any, previous: Mapping[str, jwt.PyJWK] | None = None) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by `kid`. Keys for encryption, symmetric keys, keys without a
    `kid` and algorithms outside `ALGORITHMS` are left out. A key identical to one in `previous` is kept as
    the same object, so tokens verified with it stay cached across a refresh that did not change it."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise KeyFetchError("not a JWKS document (an object with a 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for data in jwks["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig" or data.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        kid = data.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        old = (previous or {}).get(kid)
        if isinstance(old, ProviderKey) and old.data == data:
            keys[kid] = old
            continue
        try:
            key = ProviderKey(data)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[kid] = key
    return keys


class StaticKeys:
    """Keys from a JWKS file (the demo, air-gapped set-ups): read once, never refreshed."""

    source = "file"

    def __init__(self, jwks: Any) -> None:
        try:
            self.keys = usable_keys(jwks)
        except KeyFetchError as exc:
            raise ValueError(f"the JWKS is {exc}") from None
        if not self.keys:
            raise ValueError("the JWKS holds no usable signing key (asymmetric, with a kid)")

    @classmethod
    def from_file(cls, path: Path) -> StaticKeys:
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the JWKS file {path}: {exc}") from None

    def state(self) -> str:
        return "up"

    async def fetch_for_unknown_kid(self) -> bool:
        return False

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        IDENTITY_KEYS_UP.set(1)
        IDENTITY_KEYS.set(len(self.keys))
        yield


class RemoteKeys:
    """Keys fetched from the provider: `jwks_url`, or discovered from `issuer`'s OpenID configuration."""

    source = "remote"

    def __init__(self, *, issuer: str | None = None, jwks_url: str | None = None, refresh_s: float = 300.0,
                 refetch_min_s: float = 10.0, timeout_s: float = 5.0) -> None:
        if not issuer and not jwks_url:
            raise ValueError("remote keys need an issuer URL (discovery) or a JWKS URL")
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._refresh_s = refresh_s
        self._refetch_min_s = refetch_min_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.keys: dict[str, jwt.PyJWK] = {}
        self._ok = False  # the last fetch succeeded
        self._last_unknown_kid_fetch = -float("inf")
        self._inflight: asyncio.Task[bool] | None = None
        self._session: aiohttp.ClientSession | None = None

    def state(self) -> str:
        """up: the last fetch succeeded; stale: it failed, the last good keys are used; down: no keys yet."""
        if not self.keys:
            return "down"
        return "up" if self._ok else "stale"

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the first fetch before the gateway serves, then the refresh schedule."""
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        IDENTITY_KEYS_UP.set(0)
        IDENTITY_KEYS.set(0)
        await self.refresh("start")
        poller = asyncio.create_task(self._poll())
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await self._session.close()

    async def _poll(self) -> None:
        while True:
            # Until the first success, try sooner: a gateway started during an outage becomes ready soon after.
            await asyncio.sleep(self._refresh_s if self.keys else min(self._refresh_s, self._refetch_min_s))
            try:
                await self.refresh("schedule")
            except Exception:  # a surprise must not end the schedule: the keys would silently stop following
                log.exception("identity provider keys: refresh failed unexpectedly")

    async def fetch_for_unknown_kid(self) -> bool:
        """One fetch for a token naming a key we do not hold, at most every `refetch_min_s` (tokens with
        made-up kids cannot make the gateway hammer the provider). Requests arriving meanwhile wait for the
        same fetch. True when a fetch happened and succeeded."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        now = time.monotonic()
        if now - self._last_unknown_kid_fetch < self._refetch_min_s:
            return False
        self._last_unknown_kid_fetch = now
        self._inflight = asyncio.create_task(self.refresh("unknown_kid"))
        try:
            return await asyncio.shield(self._inflight)
        finally:
            self._inflight = None

    async def refresh(self, trigger: str) -> bool:
        try:
            jwks_url = self._jwks_url or await self._discover()
            keys = usable_keys(await self._get_json(jwks_url), self.keys)
            if not keys:
                raise KeyFetchError(f"{jwks_url} holds no usable signing key")
        except KeyFetchError as exc:
            self._ok = False
            IDENTITY_KEYS_UP.set(0)
            IDENTITY_KEY_FETCHES.labels(trigger, "error").inc()
            log.warning("identity provider keys not refreshed (%s), %s: %s", trigger,
                        f"keeping the last {len(self.keys)} good keys" if self.keys else "no keys yet", exc)
            return False
        removed, added = self.keys.keys() - keys.keys(), keys.keys() - self.keys.keys()
        self.keys, self._ok = keys, True
        IDENTITY_KEYS_UP.set(1)
        IDENTITY_KEYS.set(len(keys))
        IDENTITY_KEYS_REFRESHED.set(time.time())
        IDENTITY_KEY_FETCHES.labels(trigger, "ok").inc()
        if added or removed:
            log.info("identity provider keys (%s): %d held, added %s, removed %s", trigger, len(keys),
                     sorted(added) or "none", sorted(removed) or "none")
        return True

    async def _discover(self) -> str:
        # Read again on every refresh: cheap, and it follows a provider that moves its jwks_uri.
        assert self._issuer is not None
        url = self._issuer.rstrip("/") + DISCOVERY_PATH
        document = await self._get_json(url)
        if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
            raise KeyFetchError(f"{url} names no jwks_uri")
        # OpenID Connect Discovery 1.0 §4.3: the document must be the issuer's own.
        if document.get("issuer") != self._issuer:
            raise KeyFetchError(f"{url} is the configuration of issuer {str(document.get('issuer'))[:200]!r}, "
                                f"not {self._issuer!r}")
        return document["jwks_uri"]

    async def _get_json(self, url: str) -> Any:
        assert self._session is not None, "keys are fetched only while the gateway runs"
        try:
            async with self._session.get(url, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise KeyFetchError(f"{url} answered HTTP {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise KeyFetchError(f"{url}: {type(exc).__name__} {str(exc)[:200]}") from None
