"""How the gateway treats a struggling partner (SPEC §8): what is retried and what is not, Retry-After, the
retry budget that keeps a sick partner from getting a multiple of its load, and the circuit breaker's
closed -> open -> half-open -> closed cycle, visible in /readyz and /metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

QUERY = 'query($id: ID!) { customer(id: $id) { contracts(partner: "invest") { ... on Depot { riskProfile } } } }'


async def _depots(gateway: Gateway, world: World) -> Any:
    return await gateway.as_role(QUERY, "consultant", "advisory", {"id": SHOWCASE},
                                 consultant_id=consultant_of(world, SHOWCASE))


def _codes(reply: Any) -> set[str]:
    return {e["extensions"]["code"] for e in reply.errors}


@pytest.fixture
async def scripted_invest(world: World) -> AsyncIterator[Callable[[list[tuple[int, dict[str, str]]]], Any]]:
    """A stand-in for the brokerage on loopback that answers with a script of (status, headers), then
    forwards to the real simulator; it records when each call arrived."""
    real = world.partners.partners["invest"]
    runners: list[web.AppRunner] = []

    async def start(script: list[tuple[int, dict[str, str]]]) -> Any:
        arrivals: list[float] = []

        async def batch(request: web.Request) -> web.StreamResponse:
            arrivals.append(time.monotonic())
            if len(arrivals) <= len(script):
                status, headers = script[len(arrivals) - 1]
                return web.json_response({"error": "scripted", "message": "scripted"}, status=status,
                                         headers=headers)
            async with world.http.post(f"{real.url}/v1/contracts/batch", json=await request.json(),
                                       headers={"Authorization": request.headers["Authorization"]}) as answer:
                return web.json_response(await answer.json(), status=answer.status)

        app = web.Application()
        app.router.add_post("/v1/contracts/batch", batch)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}", arrivals

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_429_is_retried_after_the_partners_retry_after(make_gateway, world: World, scripted_invest) -> None:
    url, arrivals = await scripted_invest([(429, {"Retry-After": "0.3"})])
    gateway = await make_gateway(invest={"base_url": url})
    reply = await _depots(gateway, world)
    assert reply.errors == [] and all(c["riskProfile"] for c in reply.data["customer"]["contracts"])
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.3


async def test_a_retry_after_beyond_the_deadline_is_not_waited_for(make_gateway, world: World,
                                                                   scripted_invest) -> None:
    url, arrivals = await scripted_invest([(503, {"Retry-After": "60"})])
    gateway = await make_gateway(invest={"base_url": url})
    started = time.monotonic()
    reply = await _depots(gateway, world)
    assert _codes(reply) == {"PARTNER_UNAVAILABLE"}
    assert len(arrivals) == 1 and time.monotonic() - started < 2  # failed at once, not after the deadline


@pytest.mark.parametrize(("status", "tries"), [(502, 2), (503, 2), (504, 2), (500, 1), (401, 1), (403, 1)])
async def test_only_failures_a_second_try_can_fix_are_retried(make_gateway, world: World, scripted_invest,
                                                              status: int, tries: int) -> None:
    url, arrivals = await scripted_invest([(status, {}), (status, {})])
    gateway = await make_gateway(invest={"base_url": url})
    reply = await _depots(gateway, world)
    assert _codes(reply) == {"PARTNER_UNAVAILABLE"}
    assert len(arrivals) == tries
    text = json.dumps(reply.body)
    assert url not in text and "127.0.0.1" not in text and str(status) not in text


async def test_the_retry_budget_caps_the_extra_load_on_a_sick_partner(make_gateway, world: World) -> None:
    gateway = await make_gateway(invest={"breaker_failures": 1000, "retry_budget": 0.2})
    await world.fault("invest", mode="error")
    queries = 40
    for _ in range(queries):
        assert _codes(await _depots(gateway, world)) == {"PARTNER_UNAVAILABLE"}
    served = (await world.stats("invest"))["requests"]
    # One retry each would be 80 calls; the budget allows 20 % more than the first tries plus a reserve of 3.
    assert queries < served <= queries * 1.2 + 3, served


async def _circuit(gateway: Gateway, world: World) -> tuple[str, float]:
    async with world.http.get(f"{gateway.url}/readyz") as response:
        ready = await response.json()
    async with world.http.get(f"{gateway.url}/metrics") as response:
        metrics = await response.text()
    line = next(m for m in metrics.splitlines() if m.startswith('vcv_partner_circuit_state{partner="invest"}'))
    return ready["partners"]["invest"], float(line.split()[-1])


async def test_the_breaker_opens_probes_and_closes_again(make_gateway, world: World) -> None:
    gateway = await make_gateway(invest={"breaker_failures": 3, "breaker_cooldown_ms": 300, "retries": 0})
    assert await _circuit(gateway, world) == ("closed", 0.0)
    await world.fault("invest", mode="error")
    for _ in range(3):
        assert _codes(await _depots(gateway, world)) == {"PARTNER_UNAVAILABLE"}
    assert await _circuit(gateway, world) == ("open", 2.0)
    calls = (await world.stats("invest"))["requests"]
    assert _codes(await _depots(gateway, world)) == {"PARTNER_CIRCUIT_OPEN"}  # failing fast, not calling
    assert (await world.stats("invest"))["requests"] == calls
    await asyncio.sleep(0.35)
    assert await _circuit(gateway, world) == ("half_open", 1.0)
    # The trial call fails: open again for another cool-down.
    assert _codes(await _depots(gateway, world)) == {"PARTNER_UNAVAILABLE"}
    assert (await _circuit(gateway, world))[0] == "open"
    await world.fault("invest", mode="none")
    await asyncio.sleep(0.35)
    # The partner is back: the trial succeeds, the circuit closes and data flows again.
    reply = await _depots(gateway, world)
    assert reply.errors == [] and reply.data["customer"]["contracts"]
    assert await _circuit(gateway, world) == ("closed", 0.0)
