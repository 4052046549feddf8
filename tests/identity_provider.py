"""A real OpenID Connect provider on loopback: tests/node/oidc_provider.mjs (oidc-provider from npm, installed
by `make test` with npm ci) started as its own process. Tests get JWT access tokens from its token endpoint
with the client-credentials grant, rotate its signing key, read how often its keys were fetched, stop it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
AUDIENCE = "vcv-gateway"
RESOURCE = "urn:vcv:gateway"
PURPOSE_SCOPES = "purpose:advisory purpose:service purpose:lead_management purpose:self_service"


@dataclass
class Provider:
    issuer: str
    process: asyncio.subprocess.Process
    http: aiohttp.ClientSession

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    async def token(self, client: str, scope: str = "purpose:advisory", resource: str = RESOURCE) -> str:
        form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        auth = {"Authorization": aiohttp.encode_basic_auth(client, f"{client}-secret")}
        async with self.http.post(f"{self.issuer}/token", data=form, headers=auth) as response:
            body = await response.json()
            assert response.status == 200, body
            return str(body["access_token"])

    async def rotate(self, *, keep_old: bool) -> list[str]:
        async with self.http.post(f"{self.issuer}/_rotate", params={"keep": "1" if keep_old else "0"}) as response:
            return list((await response.json())["kids"])

    async def stats(self) -> dict[str, int]:
        async with self.http.get(f"{self.issuer}/_stats") as response:
            return dict(await response.json())

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


def _node() -> str:
    node = shutil.which("node")
    if node and (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        return node
    message = "node or tests/node/node_modules missing: run `make test` (it runs npm ci in tests/node)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


async def _launch(node: str, config: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The provider's process and its "ready <issuer>" line. A cold start of Node and oidc-provider on a busy
    2-core machine has taken over 30 s. Starts that printed nothing at all were a deadlock in Node 20's key
    export, now avoided in oidc_provider.mjs (`newKey` says how); should a start hang again, the failure
    carries the provider's stderr."""
    errors = config.with_suffix(".stderr")
    with errors.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(node, str(NODE_DIR / "oidc_provider.mjs"), str(config),
                                                       stdout=asyncio.subprocess.PIPE, stderr=stderr, cwd=NODE_DIR)
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the OpenID provider printed nothing in 120 s; its stderr:\n{errors.read_text()}")
    assert line.startswith("ready "), f"the provider did not start: {line!r}\n{errors.read_text()}"
    return process, line


@pytest.fixture
async def start_provider(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await start_provider(clients={name: extra claims}, resources=[...])`: a provider with those clients
    (secret `<name>-secret`) and resource servers (default: the gateway's audience, 5-minute tokens)."""
    node = _node()
    started: list[Provider] = []
    http = aiohttp.ClientSession()

    async def start(clients: dict[str, dict[str, Any]], resources: list[dict[str, Any]] | None = None) -> Provider:
        config = tmp_path / f"idp-{len(started)}.json"
        config.write_text(json.dumps({
            "clients": [{"client_id": name, "client_secret": f"{name}-secret", "claims": claims}
                        for name, claims in clients.items()],
            "resources": resources or [{"indicator": RESOURCE, "audience": AUDIENCE, "scope": PURPOSE_SCOPES}],
        }))
        process, line = await _launch(node, config)
        provider = Provider(line.split()[1], process, http)
        started.append(provider)
        return provider

    yield start
    for provider in started:
        await provider.stop()
    await http.close()
