"""The floor under vcv's figures in `bench.peers`: a server on vcv's own stack that does nothing of vcv's work.

It answers every POST with what a customer 360 costs in I/O alone: the request read, the four partner calls
of the showcase customer's contracts (each partner's own connector `call_batch`: the same lean HTTP client,
request bodies, field lists and orjson decoding as `vcv serve`), and the partners' records written back as one
JSON answer. No token, no GraphQL, no master read, no agreements, no mapping, no audit. Same event loop
(uvloop), same aiohttp server, same collector settings as `vcv serve`, one process.

Whatever a gateway on this stack does, it pays at least this: its CPU per request bounds from below what
the gateway's could become by making its own work cheaper, and its latency over the partners' bounds the
overhead. `bench.peers` starts it next to the four gateways and measures it the same way.

    python -m bench.floor --partners partners.yaml --port 8099 --customers 2000
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import uvloop
from aiohttp import web

from bench.run import SHOWCASE
from fixtures.alliance import generate
from gateway import collector
from resolvers import load_partners
from resolvers.connectors.base import Batch, Connector
from resolvers.connectors.mapping import partner_fields
from resolvers.connectors.protocols import build_connectors
from resolvers.joint import TYPE_OF_PRODUCT

CALLS = web.AppKey("calls", list)


def app(partners_file: Path, customers: int) -> web.Application:
    config = load_partners(partners_file)
    alliance = generate(customers, 42)
    showcase = [c for c in alliance.contracts if c.customer_id == SHOWCASE]
    application = web.Application()

    async def connectors(application: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()  # only third-party protocols use it; these partners speak rest/graphql
        built = build_connectors(config, session)
        calls: list[tuple[Connector, list[str], list[str], frozenset[str]]] = []
        for pid, connector in built.items():
            mine = [c for c in showcase if c.partner_id == pid]
            if not mine:
                continue
            types = {TYPE_OF_PRODUCT[c.product_type] for c in mine}
            joint = frozenset(name for t in types for name in connector.config.fields_of(t))
            calls.append((connector, [c.contract_id for c in mine], partner_fields(connector.config, joint), joint))
        application[CALLS] = calls
        yield
        for connector in built.values():
            connector.close()
        await session.close()

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        request_id = str(uuid.uuid4())
        results = await asyncio.gather(*(
            connector.call_batch(Batch(ids, fields, joint, {
                "Authorization": f"Bearer {connector.config.credential}", "X-Request-ID": request_id,
                "X-Purpose": "advisory"}))
            for connector, ids, fields, joint in request.app[CALLS]))
        contracts = [record for records in results for record in records]
        return web.Response(body=orjson.dumps({"data": {"customer": {"contracts": contracts}}}),
                            content_type="application/json")

    application.cleanup_ctx.extend([connectors, collector.tuned])
    application.router.add_post("/graphql", answer)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=Path, required=True, help="the partners file vcv serve is given")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--customers", type=int, required=True, help="as seeded (the showcase's contracts)")
    args = parser.parse_args()
    web.run_app(app(args.partners, args.customers), host="127.0.0.1", port=args.port, access_log=None,
                print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
