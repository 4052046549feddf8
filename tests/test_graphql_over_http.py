"""GraphQL over HTTP (SPEC §10): the specification's own audit suite, graphql-http's `auditServer` from npm,
run against a real gateway with a real token. Every MUST and every SHOULD passes; the media type
`application/graphql-response+json` is spoken with the specification's status codes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

NODE_TOOLS = Path(__file__).resolve().parent / "node"


def _node_tools() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_TOOLS / "node_modules" / "graphql-http").is_dir():
        message = "node or tests/node/node_modules missing: run `make node` (npm ci) for the graphql-http audit"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return node


async def _audit(gateway: Gateway, token: str, purpose: str) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        _node_tools(), str(NODE_TOOLS / "graphql_http_audit.mjs"), f"{gateway.url}/graphql", token, purpose,
        cwd=NODE_TOOLS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def test_the_graphql_over_http_audit_passes_every_must_and_should(gateway: Gateway, world: World) -> None:
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    results = await _audit(gateway, token, "advisory")
    assert len(results) > 40  # the whole suite ran
    failed = [f"{r['name']}: {r['reason']}" for r in results
              if r["name"].startswith(("MUST", "SHOULD")) and r["status"] != "ok"]
    assert failed == []


async def test_media_types_and_status_codes_as_a_client_sees_them(gateway: Gateway, world: World) -> None:
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    auth = {"Authorization": f"Bearer {token}", "X-Purpose": "advisory"}
    url = f"{gateway.url}/graphql"
    modern = {**auth, "Accept": "application/graphql-response+json"}
    async with world.http.post(url, json={"query": "{ partners { id } }"}, headers=modern) as response:
        assert response.status == 200 and response.content_type == "application/graphql-response+json"
        assert (await response.json(content_type=None))["data"]["partners"]
    # A document that does not parse or validate: 400 and no `data` entry under the new media type ...
    for broken in ("{ partners { id }", "{ partnerz { id } }"):
        async with world.http.post(url, json={"query": broken}, headers=modern) as response:
            body = await response.json(content_type=None)
            assert response.status == 400 and "data" not in body and body["errors"]
    # ... and 200 (still no `data`) for a client that asked for plain application/json.
    async with world.http.post(url, json={"query": "{ partnerz { id } }"},
                               headers={**auth, "Accept": "application/json"}) as response:
        body = await response.json(content_type=None)
        assert response.status == 200 and response.content_type == "application/json" and "data" not in body
    # A client accepting neither JSON type is told so.
    async with world.http.post(url, json={"query": "{ partners { id } }"},
                               headers={**auth, "Accept": "text/html"}) as response:
        assert response.status == 406
