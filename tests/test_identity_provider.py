"""The gateway against a real OpenID Connect provider on loopback (oidc-provider, tests/node): keys found by
discovery or a JWKS URL, the provider's own claim shapes mapped by configuration, key rotation while the
gateway runs, a token naming an unknown key, the provider going down, and tokens refused for their issuer,
audience or lifetime."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.claims import ClaimMapping, ClaimSource
from gateway.identity import IdentitySettings
from gateway.policy_loader import DEMO_AGREEMENTS
from privacy.audit.keys import generate
from tests.gateway_support import Gateway, World, free_port, wait_ready
from tests.identity_provider import AUDIENCE, RESOURCE, Provider

QUERY = "{ partners { id } }"
# How Keycloak carries them: realm roles in realm_access.roles (among Keycloak's own), purposes as scopes.
KEYCLOAK = ClaimMapping(role=ClaimSource(claim="realm_access.roles", prefix="vcv-"),
                        purposes=ClaimSource(claim="scope", prefix="purpose:"))
# How Entra ID carries them: group object IDs in `groups`, mapped to our roles.
AGENTS, AUDITORS = "5f1c2a9e-0000-4000-8000-00000000a9e1", "5f1c2a9e-0000-4000-8000-00000000c0de"
ENTRA = ClaimMapping(role=ClaimSource(claim="groups", map={AGENTS: "service_agent", AUDITORS: "compliance"}),
                     purposes=ClaimSource(claim="scope", prefix="purpose:"), subject="sub")
CLIENTS: dict[str, dict[str, Any]] = {
    "kc-consultant": {"realm_access": {"roles": ["offline_access", "uma_authorization", "vcv-consultant"]},
                      "consultant_id": "K-001"},
    "entra-agent": {"groups": ["0000aaaa-other-group", AGENTS]},
    "entra-two-roles": {"groups": [AGENTS, AUDITORS]},
    "entra-no-role": {"groups": ["0000aaaa-other-group"]},
}


async def _gateway(make_gateway: Callable[..., Any], **identity: Any) -> Gateway:
    settings = IdentitySettings(audience=AUDIENCE, **identity)
    return await make_gateway(settings_overrides={"identity": settings})


async def _ask(gateway: Gateway, token: str, purpose: str = "advisory") -> tuple[int, list[str], str]:
    reply = await gateway.post(QUERY, token=token, purpose=purpose)
    return reply.status, reply.codes(), (reply.errors[0]["message"] if reply.errors else "")


async def _readyz(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    async with gateway.http.get(f"{gateway.url}/readyz") as response:
        return response.status, await response.json()


async def _until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.1)


async def test_discovery_and_a_keycloak_mapping(start_provider: Callable[..., Any],
                                                make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS)
    gateway = await _gateway(make_gateway, issuer=provider.issuer, claims=KEYCLOAK)  # keys by discovery only
    assert (await provider.stats())["discovery"] >= 1
    token = await provider.token("kc-consultant", "purpose:advisory purpose:lead_management")
    assert await _ask(gateway, token) == (200, [], "")
    assert (await _ask(gateway, token, "lead_management"))[:2] == (200, [])
    # The scope string is the list of purposes: one not granted is refused.
    assert (await _ask(gateway, token, "service"))[:2] == (403, ["PURPOSE_NOT_ALLOWED"])
    status, body = await _readyz(gateway)
    assert (status, body["identity"]) == (200, "up")


async def test_an_entra_groups_mapping_and_tokens_mapping_to_no_or_two_roles(
        start_provider: Callable[..., Any], make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS)
    gateway = await _gateway(make_gateway, issuer=provider.issuer, jwks_url=provider.jwks_url, claims=ENTRA)
    assert await _ask(gateway, await provider.token("entra-agent", "purpose:service"), "service") == (200, [], "")
    status, codes, message = await _ask(gateway, await provider.token("entra-two-roles", "purpose:service"),
                                        "service")
    assert (status, codes) == (401, ["UNAUTHENTICATED"])
    assert message == ("the token maps to 2 roles (service_agent, compliance) through 'groups'; "
                       "exactly one is needed")
    status, codes, message = await _ask(gateway, await provider.token("entra-no-role", "purpose:service"), "service")
    assert (status, codes) == (401, ["UNAUTHENTICATED"])
    assert message.startswith("the token maps to no role through 'groups'")
    # The same consultant token under the demo's mapping: the provider's claims carry no `role`.
    demo_mapped = await _gateway(make_gateway, jwks_url=provider.jwks_url)
    assert "no role through 'role'" in (await _ask(demo_mapped, await provider.token("kc-consultant")))[2]


async def test_issuer_audience_and_lifetime_are_checked(start_provider: Callable[..., Any],
                                                        make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS, resources=[
        {"indicator": RESOURCE, "audience": AUDIENCE, "scope": "purpose:advisory"},
        {"indicator": "urn:other:app", "audience": "another-app", "scope": "purpose:advisory"},
        {"indicator": "urn:vcv:for-years", "audience": AUDIENCE, "scope": "purpose:advisory",
         "ttl": 5 * 365 * 86400},
    ])
    gateway = await _gateway(make_gateway, issuer=provider.issuer, claims=KEYCLOAK, max_token_lifetime_s=3600)
    assert (await _ask(gateway, await provider.token("kc-consultant")))[0] == 200

    other_app = await provider.token("kc-consultant", resource="urn:other:app")
    assert await _ask(gateway, other_app) == (401, ["UNAUTHENTICATED"],
                                              "the token's audience (aud) does not include vcv-gateway")
    for_years = await provider.token("kc-consultant", resource="urn:vcv:for-years")
    assert await _ask(gateway, for_years) == (401, ["UNAUTHENTICATED"], "the token's lifetime (exp - iat) of "
                                              "157680000 s exceeds the maximum of 3600 s")
    elsewhere = await _gateway(make_gateway, issuer="https://login.other.example/realms/bank",
                               jwks_url=provider.jwks_url, claims=KEYCLOAK)
    assert await _ask(elsewhere, await provider.token("kc-consultant")) == (
        401, ["UNAUTHENTICATED"], "the token's issuer (iss) is not https://login.other.example/realms/bank")


async def test_rotation_new_key_accepted_without_restart_removed_key_refused(
        start_provider: Callable[..., Any], make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS)
    # No scheduled refresh during the test: the new token's unknown kid is what makes the gateway look.
    gateway = await _gateway(make_gateway, issuer=provider.issuer, claims=KEYCLOAK, jwks_refresh_s=3600)
    old = await provider.token("kc-consultant")
    assert (await _ask(gateway, old))[0] == 200  # verified, and now in the token cache

    await provider.rotate(keep_old=False)
    new = await provider.token("kc-consultant")
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    assert (await _ask(gateway, new))[0] == 200
    # The fetch that found the new key no longer lists the old one: its token is refused, cached or not.
    assert await _ask(gateway, old) == (401, ["UNAUTHENTICATED"], "the token is not signed by a trusted key")


async def test_scheduled_refresh_drops_a_removed_key(start_provider: Callable[..., Any],
                                                     make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS)
    gateway = await _gateway(make_gateway, jwks_url=provider.jwks_url, claims=KEYCLOAK, jwks_refresh_s=0.5,
                             jwks_refetch_min_s=3600)
    old = await provider.token("kc-consultant")
    assert (await _ask(gateway, old))[0] == 200
    await provider.rotate(keep_old=False)

    async def refused() -> bool:
        return (await _ask(gateway, old))[0] == 401

    await _until(refused, "the old key dropped by a scheduled refresh")
    assert (await _ask(gateway, await provider.token("kc-consultant")))[0] == 200


async def test_an_unknown_kid_is_fetched_once(start_provider: Callable[..., Any],
                                              make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS)
    gateway = await _gateway(make_gateway, jwks_url=provider.jwks_url, claims=KEYCLOAK, jwks_refresh_s=3600,
                             jwks_refetch_min_s=3600)
    fetched = (await provider.stats())["jwks"]
    await provider.rotate(keep_old=True)
    new = await provider.token("kc-consultant")
    # Five requests at once with the new key: one fetch between them, all accepted.
    answers = await asyncio.gather(*(_ask(gateway, new) for _ in range(5)))
    assert [status for status, _, _ in answers] == [200] * 5
    assert (await provider.stats())["jwks"] == fetched + 1

    # A token naming a kid the provider never published: refused, and no further fetch (rate-limited).
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"sub": "x", "realm_access": {"roles": ["vcv-service_agent"]}, "scope": "purpose:advisory",
                         "aud": AUDIENCE, "iat": int(time.time()), "exp": int(time.time()) + 60},
                        forged_key, algorithm="RS256", headers={"kid": "made-up"})
    for _ in range(3):
        assert (await _ask(gateway, forged))[:2] == (401, ["UNAUTHENTICATED"])
    assert (await provider.stats())["jwks"] == fetched + 1


async def test_provider_down_keeps_the_last_good_keys_and_shows_it(start_provider: Callable[..., Any],
                                                                  make_gateway: Callable[..., Any]) -> None:
    provider: Provider = await start_provider(CLIENTS)
    gateway = await _gateway(make_gateway, jwks_url=provider.jwks_url, claims=KEYCLOAK, jwks_refresh_s=0.3)
    used, unused = await provider.token("kc-consultant"), await provider.token("kc-consultant", "purpose:advisory")
    assert (await _ask(gateway, used))[0] == 200
    await provider.stop()

    async def stale() -> bool:
        return (await _readyz(gateway))[1]["identity"] == "stale"

    await _until(stale, "readyz reporting the provider's keys as stale")
    status, body = await _readyz(gateway)
    assert (status, body["status"]) == (200, "ready")  # callers are still served with the last good keys
    async with gateway.http.get(f"{gateway.url}/metrics") as response:
        assert "\nvcv_identity_keys_up 0.0\n" in await response.text()
    assert (await _ask(gateway, used))[0] == 200
    assert (await _ask(gateway, unused))[0] == 200  # never seen before: verified with the kept keys


async def test_provider_unreachable_at_start_is_not_ready(make_gateway: Callable[..., Any]) -> None:
    gateway = await _gateway(make_gateway, issuer=f"http://127.0.0.1:{free_port()}")
    status, body = await _readyz(gateway)
    assert (status, body["identity"]) == (503, "down")
    reply = await gateway.post(QUERY, token=gateway.token("consultant", ["advisory"], consultant_id="K-001"),
                               purpose="advisory")
    assert (reply.status, reply.codes()) == (503, ["IDENTITY_UNAVAILABLE"])
    assert reply.data is None


async def test_vcv_serve_takes_its_keys_from_the_issuer(start_provider: Callable[..., Any], world: World,
                                                        tmp_path: Path) -> None:
    provider: Provider = await start_provider(CLIENTS)
    partners = tmp_path / "partners.yaml"
    partners.write_text(yaml.safe_dump(world.config()))
    config = tmp_path / "vcv.yaml"
    config.write_text(yaml.safe_dump({"issuer": provider.issuer, "audience": AUDIENCE,
                                      "claims": KEYCLOAK.model_dump(exclude_defaults=True)}))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--db", world.db_url,
        "--partners", str(partners), "--agreements", str(DEMO_AGREEMENTS), "--keys-dir", str(world.pseudonym_keys),
        "--audit-key", str(generate(tmp_path / "audit")[0]), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_ready(world.http, f"http://127.0.0.1:{port}/readyz", timeout_s=30)
        served = Gateway(f"http://127.0.0.1:{port}", world.keys_dir, world.http)
        assert await _ask(served, await provider.token("kc-consultant")) == (200, [], "")
        # The demo's keys mean nothing to a gateway that trusts the bank's provider.
        demo = served.token("consultant", ["advisory"], consultant_id="K-001")
        assert (await _ask(served, demo))[:2] == (401, ["UNAUTHENTICATED"])
        # One process keeps its metrics in memory: /metrics counts both answers and reports the process's own
        # memory and CPU (what shared files across workers cannot).
        async with world.http.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
        assert 'vcv_requests_total{status="200"} 1.0' in metrics and 'vcv_requests_total{status="401"} 1.0' in metrics
        assert "\nprocess_resident_memory_bytes " in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
