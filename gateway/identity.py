"""Who is calling: JWT verification against a JWKS file, and the purpose the request declares.

Only public keys are configured here. The gateway never holds an identity provider's private key; the
demo key in `tokens.py` is the one exception, and it lives in the demo's data directory only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from gateway.errors import AuthError, PurposeError
from privacy.vocabulary import ROLES

# The claim that ties each role to the rows it may see (SPEC §5).
ROLE_SUBJECT_CLAIM = {"consultant": "consultant_id", "customer": "customer_id", "partner": "partner_id"}
ALGORITHMS = ["EdDSA", "RS256"]


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str
    role: str
    purposes: tuple[str, ...]
    purpose: str
    consultant_id: str | None = None
    customer_id: str | None = None
    partner_id: str | None = None
    organisation: str = "rm"

    @property
    def consumer(self) -> str:
        """The consumer name agreements are written against: a partner by its ID, anyone else by role."""
        return self.partner_id if self.role == "partner" and self.partner_id else self.role


class Verifier:
    """Verifies bearer tokens with the public keys of a JWKS file (kid-selected, algorithm pinned per key)."""

    def __init__(self, jwks: dict[str, Any], *, audience: str | None = None, leeway_s: int = 30) -> None:
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
        if not self._keys:
            raise ValueError("the JWKS holds no usable key")
        self._audience = audience
        self._leeway = leeway_s

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> Verifier:
        return cls(json.loads(path.read_text()), **kwargs)

    def verify(self, authorization: str | None, purpose: str | None) -> Caller:
        claims = self._claims(authorization)
        return _caller(claims, purpose)

    def _claims(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise AuthError("missing Authorization header; send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        try:
            header = jwt.get_unverified_header(token.strip())
        except jwt.InvalidTokenError:
            raise AuthError("the token is not a well-formed JWT") from None
        key = self._keys.get(header.get("kid"))
        # The key, not the token, decides the algorithm: this is what stops `alg: none` and HS256-with-
        # the-public-key confusion.
        if key is None or header.get("alg") != key.algorithm_name:
            raise AuthError("the token is not signed by a trusted key")
        try:
            return jwt.decode(
                token.strip(), key=key, algorithms=[key.algorithm_name], audience=self._audience,
                leeway=self._leeway, options={"require": ["exp", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token was rejected: {_safe(exc)}") from None


def _safe(exc: Exception) -> str:
    # PyJWT messages name claims, never token contents; keep them short anyway.
    return str(exc)[:120]


def _caller(claims: dict[str, Any], purpose: str | None) -> Caller:
    role = claims.get("role")
    if role not in ROLES:
        raise AuthError(f"the token's role must be one of {', '.join(ROLES)}")
    purposes = claims.get("purposes") or []
    if not isinstance(purposes, list) or not all(isinstance(p, str) for p in purposes):
        raise AuthError("the token's 'purposes' claim must be a list of strings")
    subject_claim = ROLE_SUBJECT_CLAIM.get(role)
    if subject_claim and not isinstance(claims.get(subject_claim), str):
        raise AuthError(f"a {role} token needs the '{subject_claim}' claim")
    if not purpose:
        raise PurposeError("PURPOSE_REQUIRED", "declare the purpose of this request in the X-Purpose header")
    if purpose not in purposes:
        raise PurposeError("PURPOSE_NOT_ALLOWED", f"purpose '{purpose}' is not among this token's purposes")
    return Caller(
        subject=str(claims["sub"]), role=role, purposes=tuple(purposes), purpose=purpose,
        consultant_id=claims.get("consultant_id") if role == "consultant" else None,
        customer_id=claims.get("customer_id") if role == "customer" else None,
        partner_id=claims.get("partner_id") if role == "partner" else None,
        organisation=claims.get("partner_id") if role == "partner" else str(claims.get("org", "rm")),
    )
