"""The verified-token cache: a token's signature and claims are checked once, then its identity is reused
until it expires; the cache is bounded (least recently used goes first); a key removed from the provider's
set ends its tokens' entries; the purpose is still checked on every request."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

import gateway.identity
from gateway.errors import AuthError, PurposeError
from gateway.identity import Verifier
from gateway.idp import usable_keys


@pytest.fixture
def signing() -> tuple[ed25519.Ed25519PrivateKey, dict[str, Any]]:
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="k1", alg="EdDSA")
    return private, {"keys": [jwk]}


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full verification (signature and claims) the verifier performs, by token."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(gateway.identity.jwt, "decode", counting)
    return seen


def _token(private: ed25519.Ed25519PrivateKey, subject: str = "agent-1", ttl_s: int = 600) -> str:
    claims = {"sub": subject, "role": "service_agent", "purposes": ["service", "complaint"],
              "iat": int(time.time()), "exp": int(time.time()) + ttl_s}
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": "k1"})


def test_a_token_is_verified_once_then_reused_with_the_purpose_checked_each_time(signing: Any,
                                                                                 decodes: list[str]) -> None:
    private, jwks = signing
    verifier, token = Verifier(jwks), _token(private)
    assert verifier.verify(f"Bearer {token}", "service").subject == "agent-1"
    assert verifier.verify(f"Bearer {token}", "complaint").purpose == "complaint"
    with pytest.raises(PurposeError):
        verifier.verify(f"Bearer {token}", "advisory")
    assert decodes == [token]


def test_an_expired_token_is_not_served_from_the_cache(signing: Any, decodes: list[str]) -> None:
    private, jwks = signing
    verifier = Verifier(jwks, leeway_s=0)
    token = _token(private, ttl_s=1)
    verifier.verify(f"Bearer {token}", "service")
    time.sleep(max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 0.05)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(f"Bearer {token}", "service")


def test_the_cache_is_bounded_and_keeps_the_recently_used(signing: Any, decodes: list[str]) -> None:
    private, jwks = signing
    verifier = Verifier(jwks, cache_size=2)
    a, b, c = (_token(private, subject) for subject in "abc")
    for token in (a, b, a, c):  # c pushes out b, the least recently used
        verifier.verify(f"Bearer {token}", "service")
    assert decodes == [a, b, c]
    verifier.verify(f"Bearer {a}", "service")
    verifier.verify(f"Bearer {b}", "service")
    assert decodes == [a, b, c, b]


def test_a_key_removed_from_the_set_ends_its_cached_tokens(signing: Any, decodes: list[str]) -> None:
    private, jwks = signing
    verifier, token = Verifier(jwks), _token(private)
    verifier.verify(f"Bearer {token}", "service")
    verifier.keys.keys = usable_keys(jwks, verifier.keys.keys)  # a refresh that changed nothing keeps entries
    verifier.verify(f"Bearer {token}", "service")
    assert decodes == [token]
    other = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate().public_key()))
    verifier.keys.keys = usable_keys({"keys": [{**other, "kid": "k2"}]})  # the provider rotated k1 out
    with pytest.raises(AuthError, match="not signed by a trusted key"):
        verifier.verify(f"Bearer {token}", "service")
