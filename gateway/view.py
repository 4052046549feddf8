"""GraphQL over HTTP at `/graphql`: the only transport the gateway offers, and a thin one.

It turns a request into a `GraphQLRequest` (POST with a JSON body, or GET with `?query=`), hands it to the
gate (gateway/gate.py) and writes the gate's `Outcome` back in the media type the client accepts:
`application/graphql-response+json` (GraphQL over HTTP; documents that cannot be parsed or validated answer
400 and carry no `data`) or the older `application/json` (such documents answer 200, as that media type's
clients expect). Everything else is refused with a JSON error and a status that says what to change:
websocket upgrades (there are no subscriptions), batches, multipart bodies, other methods. A browser asking
for `/graphql` as a page gets the GraphiQL explorer, which is static and executes nothing by itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import VcvError
from gateway.gate import Outcome
from gateway.operations import GraphQLRequest

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
ALLOWED = "GET, POST"

# Called once per request with the parsed operation (or why it could not be read); returns the outcome.
Run = Callable[[web.Request, GraphQLRequest | VcvError], Awaitable[Outcome]]
# The explorer page, when it is offered.
IdePage = Callable[[web.Request], Awaitable[web.StreamResponse]]


def accepted_media_type(accept: str | None) -> str | None:
    """The response media type for this Accept header; None when the client accepts neither JSON type."""
    if not accept:
        return JSON  # GraphQL over HTTP: a client that states nothing is treated as a legacy JSON client
    offered = []
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            offered.append((q, media.strip().lower()))
    offered.sort(key=lambda item: -item[0])
    for _, media in offered:
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


def is_browser_page_request(request: web.Request) -> bool:
    """A person's browser opening /graphql: GET, no operation, HTML wanted, no protocol upgrade."""
    return (request.method == "GET" and "query" not in request.query and "Upgrade" not in request.headers
            and "text/html" in request.headers.get("Accept", ""))


class GraphQLView:
    def __init__(self, run: Run, *, ide_page: IdePage | None) -> None:
        self._run = run
        self._ide_page = ide_page

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if "Upgrade" in request.headers or "upgrade" in request.headers.get("Connection", "").lower():
            # graphql-ws / graphql-transport-ws and any other upgrade: the schema has no subscriptions, and
            # a second transport would be a second way in.
            return await self._refuse(request, 400, "this gateway does not accept protocol upgrades (no "
                                                    "websockets, no subscriptions); send POST /graphql")
        if request.method not in ("GET", "POST"):
            return await self._refuse(request, 405, f"use GET or POST, not {request.method}")
        if self._ide_page is not None and is_browser_page_request(request):
            return await self._ide_page(request)
        media_type = accepted_media_type(request.headers.get("Accept"))
        if media_type is None:
            return await self._refuse(request, 406, f"accept {GRAPHQL_RESPONSE} or {JSON}", media_type=JSON)
        operation = await _read(request)
        outcome = await self._run(request, operation)
        return respond(outcome, media_type)

    async def _refuse(self, request: web.Request, status: int, message: str, *, media_type: str = JSON,
                      ) -> web.Response:
        # Refused at the transport, still through the gate: the refusal is audited like any other (and an
        # unknown caller is told first that it is unknown).
        return respond(await self._run(request, _TransportRefusal(message, status)), media_type)


class _TransportRefusal(VcvError):
    code = "BAD_REQUEST"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.http_status = status
        self.headers = {"Allow": ALLOWED} if status == 405 else {}


def respond(outcome: Outcome, media_type: str) -> web.Response:
    status = outcome.status
    if media_type == JSON and not outcome.well_formed and status == 400:
        status = 200  # legacy clients read parse and validation errors from a 200 answer
    body = outcome.payload
    if not outcome.well_formed or status >= 400:
        body = {k: v for k, v in body.items() if k != "data"} if body.get("data") is None else body
    response = web.Response(body=orjson.dumps(body), status=status, content_type=media_type, charset="utf-8")
    response.headers.update(outcome.headers)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="vcv"'
    return response


async def _read(request: web.Request) -> GraphQLRequest | VcvError:
    """The operation in the request, or a BAD_REQUEST saying what is wrong with it."""
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query)
    else:
        content_type = request.content_type
        if content_type not in (JSON, "application/graphql+json"):
            return _TransportRefusal(f"send the operation as {JSON} (or GET with ?query=), not "
                                     f"{content_type or 'no content type'}", 415)
        try:
            params = orjson.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return _TransportRefusal(f"request body too large: at most {request.app._client_max_size} bytes", 413)
        except orjson.JSONDecodeError:
            return _TransportRefusal("the request body is not valid JSON", 400)
        if isinstance(params, list):
            return _TransportRefusal("send one operation per request; batched operations are not accepted", 400)
        if not isinstance(params, dict):
            return _TransportRefusal("the request body must be a JSON object with `query`", 400)
    query = params.get("query")
    name = params.get("operationName")
    variables = params.get("variables")
    extensions = params.get("extensions")
    if request.method == "GET":
        try:
            variables = orjson.loads(variables) if isinstance(variables, str) and variables else variables
            extensions = orjson.loads(extensions) if isinstance(extensions, str) and extensions else extensions
        except orjson.JSONDecodeError:
            return _TransportRefusal("`variables` and `extensions` must be JSON", 400)
    if query is not None and not isinstance(query, str):
        return _TransportRefusal("`query` must be a string", 400)
    if name is not None and not isinstance(name, str):
        return _TransportRefusal("`operationName` must be a string", 400)
    if variables is not None and not isinstance(variables, dict):
        return _TransportRefusal("`variables` must be an object", 400)
    if extensions is not None and not isinstance(extensions, dict):
        return _TransportRefusal("`extensions` must be an object", 400)
    return GraphQLRequest(query, name or None, variables, extensions)
