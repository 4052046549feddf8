"""The partner simulators as a gateway (or a partner developer) meets them: real servers on loopback,
real HTTP clients, data derived from the same seed as the customer master."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from bench.ports import free_range
from fixtures.alliance import partner_record
from tests.gateway_support import World

REST = {"bank": ("BNK", "contract_id", "customer_number", 50), "life": ("LIF", "policy_number", "customer_number", 25),
        "invest": ("INV", "depot_id", "client_number", 100)}
ENTITIES = ('query($r: [_Any!]!) { _entities(representations: $r) { ... on PropertyPolicy { contractId premium '
            '{ amount currency } claims { claimId } } } }')


@pytest.fixture
async def partners(world: World) -> World:
    await world.reset()
    yield world
    await world.reset()


def _auth(world: World, partner: str, admin: bool = False) -> dict[str, str]:
    running = world.partners.partners[partner]
    return {"Authorization": f"Bearer {running.admin_credential if admin else running.credential}"}


async def _batch(world: World, partner: str, body: Any, headers: dict[str, str] | None = None,
                 timeout: float = 5) -> tuple[int, Any]:
    url = world.partners.partners[partner].url + "/v1/contracts/batch"
    async with world.http.post(url, json=body, headers=headers if headers is not None else _auth(world, partner),
                               timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        return response.status, await response.json(content_type=None)


async def _entities(world: World, ids: list[str], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    body = {"query": ENTITIES, "variables": {"r": [{"__typename": "PropertyPolicy", "contractId": i} for i in ids]}}
    async with world.http.post(world.partners.partners["property"].url + "/graphql", json=body,
                               headers=headers if headers is not None else _auth(world, "property")) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize("partner", sorted(REST))
async def test_batch_lookup_returns_what_the_master_says_exists(partners: World, partner: str) -> None:
    refs = partners.alliance.contracts_of(partner)[:7]
    status, body = await _batch(partners, partner, {"ids": [r.contract_id for r in refs]})
    assert status == 200 and body["not_found"] == []
    assert body["contracts"] == [partner_record(partners.alliance, r) for r in refs]


@pytest.mark.parametrize("partner", sorted(REST))
async def test_batch_rules(partners: World, partner: str) -> None:
    prefix, id_field, _, max_batch = REST[partner]
    known = partners.alliance.contracts_of(partner)[0].contract_id
    status, body = await _batch(partners, partner, {"ids": [known, f"{prefix}-99999999", known]})
    assert status == 200 and [c[id_field] for c in body["contracts"]] == [known]
    assert body["not_found"] == [f"{prefix}-99999999"]
    status, body = await _batch(partners, partner, {"ids": [known, "XYZ-1"]})
    assert (status, body["error"], body["ids"]) == (400, "malformed_ids", ["XYZ-1"])
    status, body = await _batch(partners, partner, {"ids": []})
    assert status == 400
    too_many = [f"{prefix}-{n:08d}" for n in range(1, max_batch + 2)]
    status, body = await _batch(partners, partner, {"ids": too_many})
    assert (status, body["error"], body["max_batch_size"]) == (413, "batch_too_large", max_batch)


async def test_field_selection_returns_only_what_was_asked(partners: World) -> None:
    ref = next(r for r in partners.alliance.contracts_of("bank") if r.product_type == "CURRENT_ACCOUNT")
    status, body = await _batch(partners, "bank", {"ids": [ref.contract_id], "fields": ["iban"]})
    assert status == 200
    assert set(body["contracts"][0]) == {"contract_id", "product_code", "iban"}
    status, body = await _batch(partners, "bank", {"ids": [ref.contract_id], "fields": ["secret"]})
    assert (status, body["error"]) == (400, "unknown_fields")


@pytest.mark.parametrize("partner", [*sorted(REST), "property"])
async def test_credential_is_checked_on_every_call(partners: World, partner: str) -> None:
    ref = partners.alliance.contracts_of(partner)[0]
    for headers in ({}, {"Authorization": "Bearer wrong"}, _auth(partners, partner, admin=True)):
        if partner == "property":
            status, body = await _entities(partners, [ref.contract_id], headers)
        else:
            status, body = await _batch(partners, partner, {"ids": [ref.contract_id]}, headers)
        assert status == 401 and body["error"] == "unauthorized"
    url = partners.partners.partners[partner].url
    async with partners.http.post(f"{url}/_faults", json={"mode": "error"}, headers=_auth(partners, partner)) as r:
        assert r.status == 403  # the partner credential is not the admin credential
    assert (await partners.stats(partner))["requests"] == 0  # refused calls are not served


@pytest.mark.parametrize("partner", sorted(REST))
async def test_lookup_by_partner_customer_number(partners: World, partner: str) -> None:
    _, id_field, number_field, _ = REST[partner]
    customer = next(c for c in partners.alliance.customers if partner in c.partner_numbers)
    number = customer.partner_numbers[partner]
    async with partners.http.get(f"{partners.partners.partners[partner].url}/v1/customers/{number}/contracts",
                                 headers=_auth(partners, partner)) as response:
        body = await response.json()
    expected = sorted(r.contract_id for r in partners.alliance.contracts_of(partner) if r.customer_id == customer.id)
    assert sorted(c[id_field] for c in body["contracts"]) == expected
    assert all(c[number_field] == number for c in body["contracts"])
    async with partners.http.get(f"{partners.partners.partners[partner].url}/v1/customers/X0/contracts",
                                 headers=_auth(partners, partner)) as response:
        assert response.status == 404


async def test_stats_count_requests_lookups_and_echo_headers(partners: World) -> None:
    ids = [r.contract_id for r in partners.alliance.contracts_of("life")[:3]]
    headers = {**_auth(partners, "life"), "X-Request-ID": "req-42", "X-Purpose": "advisory"}
    url = partners.partners.partners["life"].url + "/v1/contracts/batch"
    async with partners.http.post(url, json={"ids": ids}, headers=headers) as response:
        assert response.headers["X-Request-ID"] == "req-42" and response.headers["X-Purpose"] == "advisory"
    await _batch(partners, "life", {"ids": ids[:1]})
    stats = await partners.stats("life")
    assert (stats["requests"], stats["batch_calls"], stats["contract_lookups"]) == (2, 2, 4)
    assert stats["recent"][0] == {"request_id": "req-42", "purpose": "advisory", "path": "/v1/contracts/batch",
                                  "ids": ids, "fields": None, "traceparent": None}
    async with partners.http.post(partners.partners.partners["life"].url + "/_stats/reset",
                                  headers=_auth(partners, "life", admin=True)) as response:
        assert response.status == 200
    assert (await partners.stats("life"))["requests"] == 0


@pytest.mark.parametrize("partner", ["bank", "property"])
async def test_stats_tell_nothing_to_anonymous_or_partner_callers(partners: World, partner: str) -> None:
    # Another caller's lookup first: its request ID, purpose and contract IDs must not reach the callers below.
    secret_id = partners.alliance.contracts_of(partner)[0].contract_id
    headers = {**_auth(partners, partner), "X-Request-ID": "someone-else-7", "X-Purpose": "claims-secret"}
    if partner == "property":
        await _entities(partners, [secret_id], headers)
    else:
        await _batch(partners, partner, {"ids": [secret_id]}, headers)
    url = partners.partners.partners[partner].url + "/_stats"
    for who, expected in ((None, 401), (_auth(partners, partner), 403)):
        async with partners.http.get(url, headers=who) as response:
            body = await response.text()
        assert response.status == expected, (who, response.status)
        assert secret_id not in body and "someone-else-7" not in body and "claims-secret" not in body
    assert (await partners.stats(partner))["recent"][-1]["request_id"] == "someone-else-7"  # the admin sees it


async def test_property_is_a_federation_subgraph(partners: World) -> None:
    refs = partners.alliance.contracts_of("property")[:3]
    status, body = await _entities(partners, [r.contract_id for r in refs] + ["PNC-99999999"])
    assert status == 200 and "errors" not in body
    records = [partner_record(partners.alliance, r) for r in refs]
    assert body["data"]["_entities"][:3] == [
        {"contractId": r["contractId"], "premium": r["premium"], "claims": [{"claimId": c["claimId"]}
                                                                           for c in r["claims"]]} for r in records]
    assert body["data"]["_entities"][3] is None
    stats = await partners.stats("property")
    assert (stats["batch_calls"], stats["contract_lookups"]) == (1, 4)
    sdl_query = {"query": "{ _service { sdl } }"}
    async with partners.http.post(partners.partners.partners["property"].url + "/graphql", json=sdl_query,
                                  headers=_auth(partners, "property")) as response:
        sdl = (await response.json())["data"]["_service"]["sdl"]
    assert '@key(fields: "contractId")' in sdl and "policiesByCustomer" in sdl


async def test_property_repeated_lookup_is_answered_and_counted_alike(partners: World) -> None:
    # The simulator keeps clean answers by request body; a repeat must still be counted, and a fault still bite.
    ids = [r.contract_id for r in partners.alliance.contracts_of("property")[3:5]]
    first = await _entities(partners, ids, {**_auth(partners, "property"), "X-Request-ID": "first"})
    again = await _entities(partners, ids, {**_auth(partners, "property"), "X-Request-ID": "again"})
    assert first == again and first[0] == 200 and None not in first[1]["data"]["_entities"]
    stats = await partners.stats("property")
    assert (stats["batch_calls"], stats["contract_lookups"]) == (2, 4)
    assert [r["request_id"] for r in stats["recent"]] == ["first", "again"]
    await partners.fault("property", mode="wrong_types")
    status, body = await _entities(partners, ids)
    assert status == 200 and not isinstance(body["data"]["_entities"][0]["premium"], dict)


async def test_property_batch_and_customer_queries(partners: World) -> None:
    customer = next(c for c in partners.alliance.customers if "property" in c.partner_numbers)
    query = {"query": "query($n: String!) { policiesByCustomer(customerNumber: $n) { contractId } }",
             "variables": {"n": customer.partner_numbers["property"]}}
    async with partners.http.post(partners.partners.partners["property"].url + "/graphql", json=query,
                                  headers=_auth(partners, "property")) as response:
        got = sorted(p["contractId"] for p in (await response.json())["data"]["policiesByCustomer"])
    assert got == sorted(r.contract_id for r in partners.alliance.contracts_of("property")
                         if r.customer_id == customer.id)
    big = {"query": "query($ids: [ID!]!) { policies(ids: $ids) { contractId } }",
           "variables": {"ids": [f"PNC-{n:08d}" for n in range(1, 102)]}}
    async with partners.http.post(partners.partners.partners["property"].url + "/graphql", json=big,
                                  headers=_auth(partners, "property")) as response:
        body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"


@pytest.mark.parametrize("partner", ["bank", "property"])
async def test_every_fault_mode_seen_from_a_real_client(partners: World, partner: str) -> None:
    ref = partners.alliance.contracts_of(partner)[0]

    async def call(timeout: float = 5) -> tuple[int, bytes]:
        if partner == "property":
            body = {"query": ENTITIES, "variables": {"r": [{"__typename": "PropertyPolicy",
                                                            "contractId": ref.contract_id}]}}
            url = partners.partners.partners[partner].url + "/graphql"
        else:
            body, url = {"ids": [ref.contract_id]}, partners.partners.partners[partner].url + "/v1/contracts/batch"
        async with partners.http.post(url, json=body, headers=_auth(partners, partner),
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return response.status, await response.read()

    await partners.fault(partner, mode="timeout")
    with pytest.raises(asyncio.TimeoutError):
        await call(timeout=0.3)
    await partners.fault(partner, mode="error")
    assert (await call())[0] == 503
    await partners.fault(partner, mode="malformed")
    status, raw = await call()
    assert status == 200  # it claims success, and the body is not JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    await partners.fault(partner, mode="wrong_types")
    record = _first_record(json.loads((await call())[1]))
    assert not isinstance(record["premium" if partner == "property" else "contract_id"], dict | str)
    await partners.fault(partner, mode="extra_fields")
    record = _first_record(json.loads((await call())[1]))
    assert record["tax_id"] == "DE-TAX-99887766"
    await partners.fault(partner, mode="reset")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call()
    await partners.fault(partner, mode="none", latency_ms=120, jitter_ms=10)
    started = time.monotonic()
    assert (await call())[0] == 200
    assert 0.12 <= time.monotonic() - started < 1
    await partners.fault(partner, latency_ms=0, jitter_ms=0, error_rate=1.0)
    assert (await call())[0] == 503
    await partners.fault(partner, error_rate=0.0)
    assert (await call())[0] == 200


def _first_record(body: dict[str, Any]) -> dict[str, Any]:
    return body["data"]["_entities"][0] if "data" in body else body["contracts"][0]


async def test_faults_endpoint_rejects_bad_settings(partners: World) -> None:
    url = partners.partners.partners["bank"].url + "/_faults"
    for bad in ({"mode": "explode"}, {"latency_ms": -1}, {"error_rate": 2}, {"colour": "red"}):
        async with partners.http.post(url, json=bad, headers=_auth(partners, "bank", admin=True)) as response:
            assert response.status == 400, bad
            assert (await response.json())["error"] == "bad_request"


@pytest.mark.parametrize("partner", sorted(REST))
async def test_openapi_documents_are_valid(partners: World, partner: str) -> None:
    async with partners.http.get(partners.partners.partners[partner].url + "/openapi.json") as response:
        document = await response.json()
    validate(document)
    batch = document["paths"]["/v1/contracts/batch"]["post"]
    assert {"200", "400", "401", "413"} <= set(batch["responses"])
    assert str(REST[partner][3]) in batch["description"]


async def test_partners_run_command_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    base = free_range(4, set())
    credentials = tmp_path / "credentials.json"
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "partners", "run", "--customers", "30",
                                "--seed", "11", "--base-port", str(base), "--credentials", str(credentials)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        # The file appears before its content is written: wait for the whole document, not the name.
        secrets = None
        while secrets is None and time.monotonic() < deadline:
            try:
                secrets = json.loads(credentials.read_text())
            except (OSError, ValueError):
                await asyncio.sleep(0.1)
        assert secrets is not None, "the simulators never wrote their credentials"
        assert os.stat(credentials).st_mode & 0o077 == 0
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.post(f"http://127.0.0.1:{base}/v1/contracts/batch",
                                         json={"ids": ["BNK-00000001"]},
                                         headers={"Authorization": f"Bearer {secrets['bank']['credential']}"}) as r:
                        body = await r.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        assert body["contracts"][0]["contract_id"] == "BNK-00000001"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{base}" in out
