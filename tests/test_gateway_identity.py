"""Identity at the door: every bad token is a 401 UNAUTHENTICATED before any GraphQL work, and the purpose
header is required and checked against the token."""

from __future__ import annotations

import base64
import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gateway.identity import Verifier
from tests.gateway_support import Gateway

QUERY = "{ partners { id } }"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _unauthenticated(gateway: Gateway, authorization: str | None) -> str:
    headers = {"Authorization": authorization} if authorization is not None else {}
    reply = await gateway.post(QUERY, token=None, purpose="advisory", headers=headers)
    assert reply.status == 401, reply.body
    assert reply.codes() == ["UNAUTHENTICATED"]
    assert reply.data is None
    assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
    return reply.errors[0]["message"]


async def test_missing_and_malformed_tokens_are_401(gateway: Gateway) -> None:
    assert "missing" in await _unauthenticated(gateway, None)
    assert "Bearer" in await _unauthenticated(gateway, "Basic dXNlcjpwYXNz")
    assert "well-formed" in await _unauthenticated(gateway, "Bearer not.a.jwt")
    assert "well-formed" in await _unauthenticated(gateway, "Bearer %%%")


async def test_expired_token_is_401(gateway: Gateway) -> None:
    from gateway.tokens import mint

    token = mint(gateway.keys_dir, role="consultant", consultant_id="K-001", purposes=["advisory"], ttl_s=1,
                 extra={"exp": int(time.time()) - 600})
    assert "expired" in await _unauthenticated(gateway, f"Bearer {token}")


async def test_unsigned_alg_none_token_is_401(gateway: Gateway) -> None:
    claims = {"sub": "x", "role": "service_agent", "purposes": ["service"], "exp": int(time.time()) + 600}
    token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'vcv-demo-1'})}.{_b64(claims)}."
    assert "trusted key" in await _unauthenticated(gateway, f"Bearer {token}")


async def test_token_signed_by_another_key_is_401(gateway: Gateway) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    claims = {"sub": "x", "role": "service_agent", "purposes": ["service"], "exp": int(time.time()) + 600}
    token = jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": "vcv-demo-1"})
    assert "rejected" in await _unauthenticated(gateway, f"Bearer {token}")


async def test_hs256_signed_with_the_public_key_is_401(gateway: Gateway) -> None:
    public = json.loads((gateway.keys_dir / "jwks.json").read_text())["keys"][0]["x"]
    claims = {"sub": "x", "role": "service_agent", "purposes": ["service"], "exp": int(time.time()) + 600}
    token = jwt.encode(claims, public, algorithm="HS256", headers={"kid": "vcv-demo-1"})
    assert "trusted key" in await _unauthenticated(gateway, f"Bearer {token}")


async def test_token_without_role_claim_is_401(gateway: Gateway) -> None:
    from gateway.tokens import mint

    token = mint(gateway.keys_dir, role="consultant", purposes=["advisory"], extra={"role": "admin"})
    assert "role" in await _unauthenticated(gateway, f"Bearer {token}")
    token = mint(gateway.keys_dir, role="consultant", purposes=["advisory"])  # no consultant_id
    assert "consultant_id" in await _unauthenticated(gateway, f"Bearer {token}")


async def test_purpose_is_required_and_must_be_granted(gateway: Gateway) -> None:
    token = gateway.token("consultant", ["advisory"], consultant_id="K-001")
    missing = await gateway.post(QUERY, token=token, purpose=None)
    assert (missing.status, missing.codes()) == (400, ["PURPOSE_REQUIRED"])
    other = await gateway.post(QUERY, token=token, purpose="lead_management")
    assert (other.status, other.codes()) == (403, ["PURPOSE_NOT_ALLOWED"])
    assert other.data is None
    ok = await gateway.post(QUERY, token=token, purpose="advisory")
    assert ok.status == 200 and ok.errors == []
    assert {p["id"] for p in ok.data["partners"]} == {"bank", "life", "property", "invest"}


def test_rs256_tokens_verify_against_an_rsa_jwk() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="idp-rsa", alg="RS256")
    verifier = Verifier({"keys": [jwk]})
    token = jwt.encode({"sub": "u1", "role": "customer", "customer_id": "C-000002", "purposes": ["self_service"],
                        "exp": int(time.time()) + 60}, private, algorithm="RS256", headers={"kid": "idp-rsa"})
    caller = verifier.verify(f"Bearer {token}", "self_service")
    assert (caller.role, caller.customer_id, caller.purpose) == ("customer", "C-000002", "self_service")


async def test_graphiql_page_is_served_without_a_token(gateway: Gateway) -> None:
    async with gateway.http.get(f"{gateway.url}/graphql", headers={"Accept": "text/html"}) as response:
        assert response.status == 200
        assert "graphiql" in (await response.text()).lower()


async def test_oversized_and_malformed_bodies_get_clear_errors(gateway: Gateway) -> None:
    token = gateway.token("consultant", ["advisory"], consultant_id="K-001")
    auth = {"Authorization": f"Bearer {token}", "X-Purpose": "advisory", "Content-Type": "application/json"}
    async with gateway.http.post(f"{gateway.url}/graphql", data=b"{not json", headers=auth) as response:
        assert response.status == 400
        assert "json" in (await response.text()).lower()
    huge = json.dumps({"query": "{ partners { id } }", "variables": {"x": "a" * 400_000}})
    async with gateway.http.post(f"{gateway.url}/graphql", data=huge, headers=auth) as response:
        assert response.status == 413
        assert (await response.json())["errors"][0]["message"] == "request body too large: at most 262144 bytes"
