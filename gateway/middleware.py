"""The middleware every request passes, outermost first, each a small class configured through its
constructor (as starlette's are): `RequestIds` names the request, `RequestLog` writes its one log line and
its metrics, `Traces` opens its server span. None of them sees a query text, a variable or a value."""

from __future__ import annotations

import logging
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.logs import REQUEST_ID as LOG_REQUEST_ID
from gateway.metrics import REQUEST_SECONDS, REQUESTS
from gateway.operations import TrustedOperations
from gateway.state import OUTCOME, REQUEST_ID, STATE
from gateway.tracing import NO_TRACING, describe, server_span

log = logging.getLogger("vcv.gateway")


class RequestIds:
    """Every request gets an ID: the caller's `X-Request-ID` when it is printable and at most `max_length`
    long, else a fresh UUID. It is sent back in the same header and carried by every log line the request
    causes (gateway/logs.py), down to the partner calls."""

    header = "X-Request-ID"
    __middleware_version__ = 1  # aiohttp: a (request, handler) middleware

    def __init__(self, max_length: int = 128) -> None:
        self.max_length = max_length

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        supplied = request.headers.get(self.header, "")
        ok = 0 < len(supplied) <= self.max_length and supplied.isprintable()
        request[REQUEST_ID] = supplied if ok else str(uuid.uuid4())
        reset = LOG_REQUEST_ID.set(request[REQUEST_ID])
        try:
            response = await handler(request)
            response.headers[self.header] = request[REQUEST_ID]
            return response
        finally:
            LOG_REQUEST_ID.reset(reset)


class RequestLog:
    """One log line and the request metrics per request to `path`: who asked (role, purpose), the status and
    the time taken — never what for (no query text, no variables, no values). `trusted`: the registered
    operations, whose names may label the duration metric (a client-chosen name would be an unbounded label
    value; anything else is `adhoc`)."""

    __middleware_version__ = 1

    def __init__(self, path: str = "/graphql", trusted: TrustedOperations | None = None) -> None:
        self.path = path
        self.trusted = trusted

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        if request.path == self.path:
            self._record(request, response.status, time.perf_counter() - started)
        return response

    def _record(self, request: web.Request, status: int, seconds: float) -> None:
        REQUESTS.labels(str(status)).inc()
        outcome = request.get(OUTCOME)
        name = outcome.operation_name if outcome else None
        trusted = self.trusted is not None and name in self.trusted.names.values()
        REQUEST_SECONDS.labels(name if trusted and name else "adhoc").observe(seconds)
        caller = outcome.caller if outcome else None
        log.info("%s %s %d %.1f ms role=%s purpose=%s", request.method, request.path, status, seconds * 1000,
                 caller.role if caller else "-", caller.purpose if caller else "-",
                 extra={"method": request.method, "path": request.path, "status": status,
                        "duration_ms": round(seconds * 1000, 1), "role": caller.role if caller else None,
                        "purpose": caller.purpose if caller else None})


class Traces:
    """A server span for each request to `path` (joined to the caller's trace when it sends `traceparent`),
    with the gateway's tracer once it runs (gateway/tracing.py; a no-op one when tracing is off): the status,
    who asked and the operation's name, once the answer is known."""

    __middleware_version__ = 1

    def __init__(self, path: str = "/graphql") -> None:
        self.path = path

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        state = request.app.get(STATE)
        tracer = state.tracing.tracer if state is not None and request.path == self.path else NO_TRACING
        with server_span(tracer, request.method, request.path, request.headers, request[REQUEST_ID]) as span:
            response = await handler(request)
            if span.is_recording():
                outcome = request.get(OUTCOME)
                caller = outcome.caller if outcome else None
                describe(span, response.status, caller.role if caller else None,
                         caller.purpose if caller else None, outcome.operation_name if outcome else None)
            return response
