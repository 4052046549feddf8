"""Who is calling: a bearer JWT verified against the identity provider's public keys, its issuer, audience and
lifetime checked, its claims mapped to a role, purposes and IDs (gateway/claims.py), and the purpose the
request declares.

Only public keys are configured here. The gateway never holds an identity provider's private key; the
demo key in `tokens.py` is the one exception, and it lives in the demo's data directory only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from gateway.claims import ROLE_SUBJECT_CLAIM, Caller, ClaimMapping, Identity, identity
from gateway.errors import AuthError, VcvError
from gateway.idp import RemoteKeys, StaticKeys
from gateway.token_cache import TokenCache

__all__ = ["ROLE_SUBJECT_CLAIM", "Caller", "IdentitySettings", "Verifier"]


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """Where keys come from (one of a JWKS file, a JWKS URL, an issuer's discovery) and what a token must say."""

    jwks_file: Path | None = None
    jwks_url: str | None = None
    issuer: str | None = None  # checked against `iss`; with no jwks_url and no file, also the discovery URL
    audience: str | None = None  # must be among `aud`
    max_token_lifetime_s: int | None = 24 * 3600  # exp - iat; None: not checked
    leeway_s: int = 30
    claims: ClaimMapping = field(default_factory=ClaimMapping)
    jwks_refresh_s: float = 300.0
    jwks_refetch_min_s: float = 10.0
    token_cache_size: int = 10_000


class IdentityUnavailable(VcvError):
    """No key of the provider has been fetched yet: the caller is not at fault, and may try again."""

    code = "IDENTITY_UNAVAILABLE"
    http_status = 503


class _UnknownKey(AuthError):
    def __init__(self) -> None:
        super().__init__("the token is not signed by a trusted key")


class Verifier:
    """Verifies bearer tokens: the key named by `kid` decides the algorithm, then issuer, audience, lifetime
    and the claim mapping. A verified token's identity is cached until it expires (see token_cache.py)."""

    def __init__(self, keys: StaticKeys | RemoteKeys | dict[str, Any], *, issuer: str | None = None,
                 audience: str | None = None, max_token_lifetime_s: int | None = None, leeway_s: int = 30,
                 claims: ClaimMapping | None = None, cache_size: int = 10_000) -> None:
        self._keys = StaticKeys(keys) if isinstance(keys, dict) else keys
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_token_lifetime_s
        self._leeway = leeway_s
        self._mapping = claims or ClaimMapping()
        self._cache = TokenCache(cache_size)
        required = ["exp"] + (["iat"] if max_token_lifetime_s else []) + (["iss"] if issuer else [])
        self._options: jwt.types.Options = {"require": required}

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> Verifier:
        return cls(StaticKeys.from_file(path), **kwargs)

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> Verifier:
        keys: StaticKeys | RemoteKeys
        if settings.jwks_file is not None:
            keys = StaticKeys.from_file(settings.jwks_file)
        else:
            keys = RemoteKeys(issuer=settings.issuer, jwks_url=settings.jwks_url, refresh_s=settings.jwks_refresh_s,
                              refetch_min_s=settings.jwks_refetch_min_s)
        return cls(keys, issuer=settings.issuer, audience=settings.audience,
                   max_token_lifetime_s=settings.max_token_lifetime_s, leeway_s=settings.leeway_s,
                   claims=settings.claims, cache_size=settings.token_cache_size)

    @property
    def keys(self) -> StaticKeys | RemoteKeys:
        return self._keys

    def state(self) -> str:
        """For /readyz: up, stale (provider unreachable, last good keys in use) or down (no keys)."""
        return self._keys.state()

    def running(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: fetches and refreshes the provider's keys while the app runs."""
        return self._keys.running(app)

    async def authenticate(self, authorization: str | None, purpose: str | None) -> Caller:
        """`verify`, plus one fetch of the provider's keys (rate-limited) when the token names a key not yet
        known: a key the provider has just rotated in is accepted without a restart."""
        try:
            return self.verify(authorization, purpose)
        except (_UnknownKey, IdentityUnavailable):
            if not await self._keys.fetch_for_unknown_kid():
                raise
            return self.verify(authorization, purpose)

    def verify(self, authorization: str | None, purpose: str | None) -> Caller:
        token = _bearer(authorization)
        keys = self._keys.keys
        known = self._cache.get(token, keys)
        if known is not None:
            return known.caller(purpose)
        return self._verified(token, keys).caller(purpose)

    def _verified(self, token: str, keys: dict[str, Any]) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("the token is not a well-formed JWT") from None
        kid = header.get("kid")
        key = keys.get(kid) if isinstance(kid, str) else None
        if key is None or not isinstance(kid, str):
            if not keys:
                raise IdentityUnavailable("the identity provider's keys are not available yet; try again shortly")
            raise _UnknownKey()
        # The key, not the token, decides the algorithm: this is what stops `alg: none` and HS256-with-
        # the-public-key confusion.
        if header.get("alg") != key.algorithm_name:
            raise AuthError("the token is not signed by a trusted key")
        try:
            claims = jwt.decode(token, key=key, algorithms=[key.algorithm_name], audience=self._audience,
                                issuer=self._issuer, leeway=self._leeway, options=self._options)
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise AuthError(f"the token's issuer (iss) is not {self._issuer}") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"the token's audience (aud) does not include {self._audience}" if self._audience else
                            "the token names an audience (aud) and this gateway has none configured") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the token has no '{exc.claim}' claim") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token was rejected: {_safe(exc)}") from None
        expires = claims["exp"]
        if self._max_lifetime is not None:
            lifetime = expires - claims["iat"]
            if lifetime > self._max_lifetime:
                raise AuthError(f"the token's lifetime (exp - iat) of {int(lifetime)} s exceeds the maximum of "
                                f"{self._max_lifetime} s")
        found = identity(claims, self._mapping)
        self._cache.put(token, found, expires=float(expires), kid=kid, key=key)
        return found


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return token


def _safe(exc: Exception) -> str:
    # PyJWT messages name claims, never token contents; keep them short anyway.
    return str(exc)[:120]
