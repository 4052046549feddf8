"""What one partner batch call costs the gateway's event loop: aiohttp's client (as the gateway configures it)
against the built-in protocols' client (resolvers/connectors/transport.py), on uvloop, against one aiohttp
partner in a process of its own on loopback answering a batch of five bank accounts.

Four calls at once per round (a customer view's four partners), CPU of this process per call, alternated.

    python -m bench.partner_client [--rounds 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import uvloop

from bench.ports import free_port
from resolvers.connectors.transport import PartnerHTTP

PARTNER = """
import sys, orjson, uvloop
from aiohttp import web
BODY = orjson.dumps({"contracts": [{"contract_id": f"BNK-{i:08}", "product_code": "GIRO",
    "iban": "DE89370400440532013000", "balance": {"amount": "1234.56", "currency": "EUR"},
    "interest_rate": 0.5} for i in range(5)]})
async def batch(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_post("/v1/contracts/batch", batch)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, loop=uvloop.new_event_loop())
"""
BODY = orjson.dumps({"ids": [f"BNK-{i:08}" for i in range(5)], "fields": ["balance", "iban", "interest_rate"]})
HEADERS = {"Authorization": "Bearer bench", "X-Request-ID": "bench", "X-Purpose": "advisory"}


async def per_call_us(call: Callable[[], Awaitable[object]], rounds: int) -> float:
    for _ in range(200):  # warm-up: connections open, caches filled
        await asyncio.gather(call(), call(), call(), call())
    started = time.process_time()
    for _ in range(rounds):
        await asyncio.gather(call(), call(), call(), call())
    return (time.process_time() - started) * 1e6 / (rounds * 4)


async def measure(url: str, rounds: int, repeat: int) -> dict[str, list[float]]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, limit_per_host=64),
                                    cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None))
    lean = PartnerHTTP(url)

    async def through_aiohttp() -> object:
        async with session.post(url, data=BODY, headers={**HEADERS, "Content-Type": "application/json"}) as response:
            return await response.json(content_type=None, loads=orjson.loads)

    async def through_lean() -> object:
        return orjson.loads((await lean.post(BODY, HEADERS)).body)

    results: dict[str, list[float]] = {"aiohttp": [], "lean": []}
    try:
        for _ in range(repeat):
            results["aiohttp"].append(await per_call_us(through_aiohttp, rounds))
            results["lean"].append(await per_call_us(through_lean, rounds))
    finally:
        await session.close()
        lean.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    partner = subprocess.Popen([sys.executable, "-c", PARTNER, str(port)])
    try:
        url = f"http://127.0.0.1:{port}/v1/contracts/batch"
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or partner.poll() is not None:
                    raise RuntimeError("the partner did not start") from None
                time.sleep(0.1)
        results = uvloop.run(measure(url, args.rounds, args.repeat))
    finally:
        partner.terminate()
        partner.wait(10)
    for name, figures in results.items():
        print(f"{name:8} {' / '.join(f'{us:.0f}' for us in figures)} µs CPU per call")


if __name__ == "__main__":
    main()
