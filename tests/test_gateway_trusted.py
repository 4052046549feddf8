"""Production hardening that a deployment switches on: only registered (persisted) operations, and no
introspection. What a client that sends something else gets back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.operations import TrustedOperations, operation_hash
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

VIEW = "query CustomerView($id: ID!) { customer(id: $id) { id familyName } }"
PARTNERS = "query Partners { partners { id } }"


def _registry(tmp_path: Path) -> Path:
    path = tmp_path / "operations.json"
    path.write_text(json.dumps({"CustomerView": VIEW, "Partners": PARTNERS}))
    return path


async def _send(gateway: Gateway, world: World, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    async with gateway.http.post(f"{gateway.url}/graphql", json=body,
                                 headers={"Authorization": f"Bearer {token}", "X-Purpose": "advisory"}) as response:
        return response.status, await response.json()


async def test_only_registered_operations_run(make_gateway, world: World, tmp_path: Path) -> None:
    gateway = await make_gateway(settings_overrides={"trusted_operations": TrustedOperations.load(_registry(tmp_path))})
    by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": operation_hash(VIEW)}},
               "variables": {"id": SHOWCASE}}
    status, body = await _send(gateway, world, by_hash)
    assert status == 200 and body["data"]["customer"]["id"] == SHOWCASE
    status, body = await _send(gateway, world, {"query": PARTNERS})  # the registered text itself
    assert status == 200 and len(body["data"]["partners"]) == 4

    def refusal(status: int, body: dict[str, Any]) -> tuple[int, str]:
        assert "data" not in body
        return status, body["errors"][0]["extensions"]["code"]

    adhoc = {"query": "{ customer(id: \"C-000001\") { id email } }"}
    assert refusal(*await _send(gateway, world, adhoc)) == (400, "PERSISTED_QUERY_REQUIRED")
    unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    assert refusal(*await _send(gateway, world, unknown)) == (400, "PERSISTED_QUERY_NOT_FOUND")
    mismatch = {"query": PARTNERS, "extensions": {"persistedQuery": {"sha256Hash": operation_hash(VIEW)}}}
    assert refusal(*await _send(gateway, world, mismatch)) == (400, "BAD_REQUEST")
    assert refusal(*await _send(gateway, world, {})) == (400, "PERSISTED_QUERY_REQUIRED")


async def test_introspection_can_be_switched_off(make_gateway, world: World) -> None:
    gateway = await make_gateway(settings_overrides={"introspection": False, "graphiql": False})
    status, body = await _send(gateway, world, {"query": "{ __schema { queryType { name } } }"})
    assert status == 200 and "data" not in body  # a validation failure: the operation never ran
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection has been disabled" in body["errors"][0]["message"]
    status, body = await _send(gateway, world, {"query": PARTNERS})
    assert status == 200 and body["data"]["partners"]
    async with gateway.http.get(f"{gateway.url}/graphql", headers={"Accept": "text/html"}) as response:
        assert "graphiql" not in (await response.text()).lower()


def test_operations_cli_lists_hashes_and_serve_refuses_a_bad_registry(tmp_path: Path) -> None:
    vcv = [sys.executable, "-m", "gateway.cli"]
    listed = subprocess.run([*vcv, "operations", str(_registry(tmp_path))], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [f"{operation_hash(VIEW)}  CustomerView",
                                          f"{operation_hash(PARTNERS)}  Partners"]
    broken = tmp_path / "broken.json"
    broken.write_text('["not", "an", "object"]')
    refused = subprocess.run([*vcv, "operations", str(broken)], capture_output=True, text=True)
    assert refused.returncode == 1 and "expected an object of operation name -> GraphQL document" in refused.stderr
