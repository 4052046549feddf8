"""The gateway's middleware as configured small classes (gateway/middleware.py), on a tiny app of their own:
request IDs within the configured bounds, one log line for the configured path only."""

from __future__ import annotations

import logging
import uuid

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.logs import REQUEST_ID as LOG_REQUEST_ID
from gateway.middleware import RequestIds, RequestLog
from tests.gateway_support import on_loopback


async def _serve(*middlewares: Middleware) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"logged_as": LOG_REQUEST_ID.get()})

    app = web.Application(middlewares=middlewares)
    app.router.add_get("/graphql", handler)
    app.router.add_get("/other", handler)
    return await on_loopback(app)


async def test_request_ids_keep_a_fitting_caller_id_and_replace_any_other() -> None:
    runner, url = await _serve(RequestIds(max_length=12))
    try:
        async with aiohttp.ClientSession() as http:
            for sent, kept in (("req-42", True), ("x" * 12, True), ("x" * 13, False), ("", False)):
                async with http.get(f"{url}/other", headers={"X-Request-ID": sent} if sent else {}) as response:
                    given = response.headers["X-Request-ID"]
                    # Every log line the request causes carries the ID it was answered under.
                    assert (await response.json())["logged_as"] == given
                assert (given == sent) is kept, sent
                if not kept:
                    uuid.UUID(given)
    finally:
        await runner.cleanup()
    assert LOG_REQUEST_ID.get() == "-"  # nothing leaks into whatever runs next


async def test_the_request_log_writes_one_line_for_its_path_only(caplog: pytest.LogCaptureFixture) -> None:
    runner, url = await _serve(RequestIds(), RequestLog("/graphql"))
    try:
        async with aiohttp.ClientSession() as http:
            with caplog.at_level(logging.INFO, logger="vcv.gateway"):
                for path in ("/graphql", "/other"):
                    async with http.get(f"{url}{path}?query=secret") as response:
                        assert response.status == 200
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "vcv.gateway"]
    assert len(lines) == 1 and lines[0].startswith("GET /graphql 200 ") and lines[0].endswith("role=- purpose=-")
    assert "secret" not in lines[0]  # the path, never the query string
