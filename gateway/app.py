"""The aiohttp application: `/graphql` (GraphiQL in a browser), `/healthz`, `/readyz`, `/metrics`.

A request's way through: request ID -> caller verified (401 before any GraphQL work) -> per-request
context with fresh loaders -> strawberry executes -> errors that are not ours are masked."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from cross_web import HTTPException
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from strawberry.aiohttp.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.audit import operation_event, refusal_event
from gateway.context import RequestContext
from gateway.cost import DEFAULT_MAX_COST
from gateway.cursors import Cursors
from gateway.errors import VcvError
from gateway.identity import Caller, Verifier
from gateway.logs import REQUEST_ID as LOG_REQUEST_ID
from gateway.metrics import ERRORS, REDACTIONS, REQUEST_SECONDS, REQUESTS, metrics_endpoint
from gateway.operations import OperationRefused, TrustedOperations
from gateway.pages import add_ide, add_pages, wants_ide
from gateway.policy import DEMO_AGREEMENTS, load_keys, load_policy
from gateway.schema import build_schema
from gateway.tracing import NO_TRACING, Tracing, describe, server_span
from privacy.agreements import AgreementError
from privacy.audit.store import AuditLog, AuditSettings, AuditUnavailable
from privacy.diff import policy_diff
from privacy.diff import render as render_diff
from privacy.guard import Guard
from privacy.policy import PolicySet
from privacy.pseudonyms import PseudonymKeyError, PseudonymKeys
from resolvers.connectors import CallContext, PartnersConfig, build_connectors
from resolvers.connectors.config import load as load_partners
from resolvers.connectors.metrics import CIRCUIT_STATES, PARTNER_CIRCUIT
from resolvers.database import create_engine, session_factory
from resolvers.loaders import PartnerLoaders
from resolvers.master import Master, MasterLoaders

log = logging.getLogger("vcv.gateway")

STATE = web.AppKey("state", object)
REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Caller)
CONTEXT = web.RequestKey("context", RequestContext)
OPERATION = web.RequestKey("operation", tuple)
AUDITED = web.RequestKey("audited", bool)
AUDIT_FAILED = web.RequestKey("audit_failed", bool)
SETTINGS = web.AppKey("settings", object)
VERIFIER = web.AppKey("verifier", Verifier)
# Messages of strawberry's query-limit rules, mapped onto our public code.
_TOO_COMPLEX = ("exceeds maximum operation depth", "aliases found. Allowed", "Document contains more than",
                "Source contains more than", "Maximum introspection depth exceeded")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    db_url: str
    jwks_path: Path
    partners: PartnersConfig
    agreements_dir: Path = DEMO_AGREEMENTS
    # pseudonym keys: VCV_PSEUDONYM_KEY_<OWNER> in the environment, else <keys_dir>/<owner>.key
    keys_dir: Path | None = None
    max_body_bytes: int = 256 * 1024
    max_query_cost: int = DEFAULT_MAX_COST
    introspection: bool = True
    # Production: run only these registered operations (None: any operation within the limits).
    trusted_operations: TrustedOperations | None = None
    graphiql: bool = True
    # The audit log: its own database if given (else the master's), and the key that signs its checkpoints.
    audit_db_url: str | None = None
    audit_signing_key: Ed25519PrivateKey | None = None
    audit_checkpoint_every: int = 100
    # Where the partners configuration came from, so SIGHUP can re-read it (with the agreements directory).
    partners_file: Path | None = None
    reload_on_sighup: bool = False
    # OTLP/HTTP endpoint for OpenTelemetry traces; None: no tracing at all.
    traces_endpoint: str | None = None
    # Demo mode only: tokens the pages offer as one-click identities (role, label, purposes, token).
    demo_identities: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class _Policy:
    policy: PolicySet
    keys: PseudonymKeys
    cursors: Cursors


@dataclass(slots=True)
class _State:
    master: Master
    session: aiohttp.ClientSession
    audit: AuditLog
    # Replaced as a whole by a reload (SIGHUP); a request keeps the ones it started with.
    partners: PartnersConfig
    connectors: dict[str, Any]
    rules: _Policy
    tracing: Tracing


def _error_response(error: VcvError, request_id: str, status: int | None = None) -> web.Response:
    headers = {"X-Request-ID": request_id}
    if error.http_status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vcv"'
    return web.json_response({"errors": [error.as_graphql()]}, status=status or error.http_status,
                             headers=headers)


class View(GraphQLView):  # type: ignore[type-arg]
    def __init__(self, *, trusted: TrustedOperations | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._trusted = trusted

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # orjson.JSONDecodeError is a json.JSONDecodeError: same 400 for bad JSON

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: web.Response) -> web.Response:
        # The encoded bytes go out as they are (strawberry's own version decodes them to str and back).
        sub_response.body = self.encode_json(response_data)
        sub_response.content_type = "application/json"
        return sub_response

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        if self._trusted is not None and not isinstance(data, list):  # lists are refused as batches already
            try:
                data = self._trusted.resolve(data)
            except OperationRefused as refused:
                raise HTTPException(400, f"{refused.code}: {refused}") from None
        if not isinstance(data, list):
            request.request[OPERATION] = (data.query, data.operation_name)  # for the audit event
        return data

    async def get_context(self, request: web.Request, response: web.StreamResponse) -> RequestContext:
        state: _State = request.app[STATE]  # type: ignore[assignment]
        rules = state.rules
        caller = request.get(CALLER)
        if caller is None:  # the GraphiQL page: nothing is executed without a verified caller
            return None  # type: ignore[return-value]
        deadline = time.monotonic() + state.partners.deadline_s
        call = CallContext(request_id=request[REQUEST_ID], purpose=caller.purpose, deadline=deadline,
                           tracer=state.tracing.tracer)
        context = RequestContext(
            caller=caller, request_id=request[REQUEST_ID], master=state.master,
            master_loaders=MasterLoaders(state.master), partners=PartnerLoaders(state.connectors, call),
            partner_configs=state.partners.partners,
            guard=Guard(rules.policy, rules.keys, consumer=caller.consumer, role=caller.role, purpose=caller.purpose),
            cursors=rules.cursors, audit=state.audit,
        )
        request[CONTEXT] = context
        return context

    async def process_result(self, request: web.Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        payload = self._shaped(request, await super().process_result(request, result))
        context: RequestContext | None = request.get(CONTEXT)
        if context is None:
            return payload
        query, operation_name = request.get(OPERATION, (None, None))
        event = operation_event(request[REQUEST_ID], context, query, operation_name, dict(payload))
        state: _State = request.app[STATE]  # type: ignore[assignment]
        request[AUDITED] = True
        try:
            # Fail closed: nothing leaves before its access is durably in the log.
            with state.tracing.tracer.start_as_current_span("audit record"):
                await state.audit.record(event)
        except AuditUnavailable as exc:
            log.error("audit store unavailable, withholding the response: %s", exc)
            request[AUDIT_FAILED] = True
            return {"data": None, "errors": [{"message": "the access could not be recorded in the audit log, so "
                                                         "no data is released; try again later",
                                              "extensions": {"code": "AUDIT_UNAVAILABLE"}}]}
        return payload

    def _shaped(self, request: web.Request, payload: GraphQLHTTPResponse) -> GraphQLHTTPResponse:
        context: RequestContext | None = request.get(CONTEXT)
        if context is not None and payload.get("data") is not None:
            redactions = context.guard.as_extension()
            payload["extensions"] = {**(payload.get("extensions") or {}), "redactions": redactions}
            for redaction in redactions:
                REDACTIONS.labels(redaction["owner"], redaction["treatment"].split()[0], redaction["rule"]).inc()
        for error in payload.get("errors") or []:
            if any(m in error.get("message", "") for m in _TOO_COMPLEX):
                error.setdefault("extensions", {})["code"] = "QUERY_TOO_COMPLEX"
            elif "extensions" not in error or "code" not in error["extensions"]:
                error.setdefault("extensions", {})["code"] = (
                    "INTERNAL" if error.get("message") == "Internal error." else "GRAPHQL_VALIDATION_FAILED")
            ERRORS.labels(error["extensions"]["code"]).inc()
        return payload


@web.middleware
async def _request_id(request: web.Request, handler: Any) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = supplied if 0 < len(supplied) <= 128 and supplied.isprintable() else str(uuid.uuid4())
    reset = LOG_REQUEST_ID.set(request[REQUEST_ID])
    started = time.perf_counter()
    try:
        with _server_span(request) as span:
            response = await _handled(request, handler)
            if span.is_recording():
                _describe(span, request, response)
        _log_request(request, response.status, time.perf_counter() - started)
        return response
    finally:
        LOG_REQUEST_ID.reset(reset)


def _server_span(request: web.Request) -> Any:
    state: _State | None = request.app.get(STATE)  # type: ignore[assignment]
    tracer = state.tracing.tracer if state is not None and request.path == "/graphql" else NO_TRACING
    return server_span(tracer, request.method, request.path, request.headers, request[REQUEST_ID])


def _describe(span: Any, request: web.Request, response: web.StreamResponse) -> None:
    caller = request.get(CALLER)
    describe(span, response.status, caller.role if caller else None, caller.purpose if caller else None,
             request.get(OPERATION, (None, None))[1])


async def _handled(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_body_bytes
        response = _error_response(VcvError(f"request body too large: at most {limit} bytes",
                                            code="BAD_REQUEST"), request[REQUEST_ID], 413)
    if request.path == "/graphql" and response.status >= 400 and response.content_type == "text/plain":
        response = _plain_to_graphql_error(response, request[REQUEST_ID])
    if request.path == "/graphql" and not request.get(AUDITED) and not _is_ide_page(request):
        await _audit_refusal(request, response)
    if request.get(AUDIT_FAILED):
        response.set_status(503)
    response.headers["X-Request-ID"] = request[REQUEST_ID]
    return response


# strawberry answers malformed HTTP requests in plain text; callers get the same JSON error shape as for
# everything else, with a status that says what to change.
_HTTP_REFUSALS = {
    "Unsupported content type": (415, "send the operation as application/json (or GET with ?query=)"),
    "mutations are not allowed when using GET": (405, "mutations must be sent with POST"),
    "Batching is not enabled": (400, "send one operation per request; batched operations are not accepted"),
}


def _plain_to_graphql_error(response: web.StreamResponse, request_id: str) -> web.Response:
    text = (response.text if isinstance(response, web.Response) else None) or "bad request"
    status, message = _HTTP_REFUSALS.get(text, (response.status, text))
    coded = re.fullmatch(r"([A-Z_]+): (.+)", message, flags=re.DOTALL)  # "PERSISTED_QUERY_NOT_FOUND: …"
    code, message = (coded.group(1), coded.group(2)) if coded else ("BAD_REQUEST", message)
    refused = _error_response(VcvError(message, code=code), request_id, status)
    if status == 405:
        refused.headers["Allow"] = "POST"
    return refused


async def _audit_refusal(request: web.Request, response: web.StreamResponse) -> None:
    """A /graphql request refused before execution (token, purpose, malformed HTTP) is logged too. It carries
    no data, so an unavailable store only costs the event, never a wrongly released answer."""
    codes: list[str] = []
    if isinstance(response, web.Response) and response.body is not None and response.content_type == "application/json":
        try:
            codes = [(e.get("extensions") or {}).get("code", "") for e in json.loads(response.text or "{}")["errors"]]
        except (ValueError, KeyError, TypeError):
            codes = []
    state: _State | None = request.app.get(STATE)  # type: ignore[assignment]
    if state is None:
        return
    try:
        await state.audit.record(refusal_event(request[REQUEST_ID], request.get(CALLER), response.status, codes))
    except AuditUnavailable as exc:
        log.warning("audit store unavailable, refusal not recorded: %s", exc)


def _log_request(request: web.Request, status: int, seconds: float) -> None:
    # One line per request: who asked (role, purpose), not what for (no query text, no variables, no values).
    if request.path != "/graphql":
        return
    REQUESTS.labels(str(status)).inc()
    trusted: TrustedOperations | None = request.app[SETTINGS].trusted_operations
    name = request.get(OPERATION, (None, None))[1]
    # Client-chosen names would be unbounded label values; registered ones are a fixed set.
    REQUEST_SECONDS.labels(name if trusted is not None and name in trusted.names.values() else "adhoc").observe(
        seconds)
    caller = request.get(CALLER)
    log.info("%s %s %d %.1f ms role=%s purpose=%s", request.method, request.path, status, seconds * 1000,
             caller.role if caller else "-", caller.purpose if caller else "-",
             extra={"method": request.method, "path": request.path, "status": status,
                    "duration_ms": round(seconds * 1000, 1), "role": caller.role if caller else None,
                    "purpose": caller.purpose if caller else None})


def _is_ide_page(request: web.Request) -> bool:
    """A browser asking for GraphiQL (pages.wants_ide: GET, no operation, Accept text/html): nothing to
    authenticate or audit. Any other GET, with or without `query`, is GraphQL and is authenticated."""
    return request.app[SETTINGS].graphiql and wants_ide(request)  # type: ignore[attr-defined]


@web.middleware
async def _authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path != "/graphql" or _is_ide_page(request):
        return await handler(request)
    verifier: Verifier = request.app[VERIFIER]
    try:
        request[CALLER] = verifier.verify(request.headers.get("Authorization"), request.headers.get("X-Purpose"))
    except VcvError as error:
        return _error_response(error, request[REQUEST_ID])
    return await handler(request)


async def _healthz(request: web.Request) -> web.Response:
    # The process ID tells an operator which of `vcv serve --workers N` answered.
    return web.json_response({"status": "ok", "pid": os.getpid()})


def _circuits(state: _State) -> dict[str, str]:
    circuits = {pid: connector.breaker.state for pid, connector in state.connectors.items()}
    for pid, circuit in circuits.items():
        PARTNER_CIRCUIT.labels(pid).set(CIRCUIT_STATES[circuit])
    return circuits


async def _readyz(request: web.Request) -> web.Response:
    # Ready means the master answers. A partner with an open circuit does not make the gateway unready:
    # its fields come back as PARTNER_CIRCUIT_OPEN errors and every other partner's data still flows.
    state: _State = request.app[STATE]  # type: ignore[assignment]
    circuits = _circuits(state)
    master = "up"
    try:
        await state.master.partners()
    except Exception:
        log.exception("readiness check failed: customer master")
        master = "down"
    audit = "up" if await state.audit.ready() else "down"  # without the log, every answer would be refused
    ready = master == audit == "up"
    return web.json_response({"status": "ready" if ready else "unavailable", "master": master, "audit": audit,
                              "partners": circuits}, status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.StreamResponse:
    _circuits(request.app[STATE])  # type: ignore[arg-type]
    return await metrics_endpoint(request)


def _load_rules(settings: GatewaySettings, partners: PartnersConfig, cursors: Cursors) -> _Policy:
    """Agreements and pseudonym keys for these partners; raises naming file and line on a bad agreement."""
    policy = load_policy(settings.agreements_dir, partners)
    return _Policy(policy, load_keys(policy, settings.keys_dir), cursors)


async def reload_configuration(app: web.Application) -> bool:
    """Re-read the partners file and the agreements. Everything is validated first: an invalid file keeps
    the running configuration and the log says why (file and line). Requests in flight finish as they began."""
    settings: GatewaySettings = app[SETTINGS]  # type: ignore[assignment]
    state: _State = app[STATE]  # type: ignore[assignment]
    if settings.partners_file is None:
        log.warning("reload asked for, but the gateway was not started from a partners file")
        return False
    try:
        partners = load_partners(settings.partners_file)
        rules = _load_rules(settings, partners, state.rules.cursors)
    except (ValueError, AgreementError, PseudonymKeyError) as exc:
        log.error("reload refused, the running configuration stays: %s", exc)
        return False
    changes = policy_diff(state.rules.policy, rules.policy, partners.partners)
    state.partners, state.connectors, state.rules = partners, build_connectors(partners, state.session), rules
    log.info("reloaded %s and %s: %d partners, %d agreements", settings.partners_file, settings.agreements_dir,
             len(partners.partners), len(rules.policy.agreements))
    # What reviewers saw with `vcv policy diff`, now on the record of the running gateway (rules, never values).
    log.info("agreement changes applied by the reload:\n%s", render_diff(changes).rstrip())
    return True


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[_request_id, _authenticate])
    app[SETTINGS] = settings
    app[VERIFIER] = Verifier.from_file(settings.jwks_path)
    # Agreements are checked before the app exists: a bad file stops start-up, naming file and line.
    rules = _load_rules(settings, settings.partners, Cursors())
    schema = build_schema(max_cost=settings.max_query_cost, introspection=settings.introspection)
    # strawberry's own GraphiQL page loads from a CDN; ours is served from gateway/ide/ (pages.add_ide).
    view = View(schema=schema, graphql_ide=None, trusted=settings.trusted_operations)
    app.router.add_route("*", "/graphql", view)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    add_pages(app, settings.demo_identities)
    if settings.graphiql:
        add_ide(app)

    async def lifecycle(app: web.Application) -> Any:
        engine = create_engine(settings.db_url)
        # Its own engine: on SQLite, audit appends take the write lock first (see create_engine).
        audit_engine = create_engine(settings.audit_db_url or settings.db_url, write_lock_first=True)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, limit_per_host=64))
        audit = AuditLog(audit_engine, settings.audit_signing_key,
                         AuditSettings(checkpoint_every=settings.audit_checkpoint_every))
        state = _State(Master(session_factory(engine)), session, audit, settings.partners,
                       build_connectors(settings.partners, session), rules, Tracing(settings.traces_endpoint))
        app[STATE] = state
        loop = asyncio.get_running_loop()
        if settings.reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload_configuration(app)))
        yield
        if settings.reload_on_sighup:
            loop.remove_signal_handler(signal.SIGHUP)
        await session.close()
        await engine.dispose()
        await audit_engine.dispose()
        await asyncio.to_thread(state.tracing.shutdown)  # spans still queued are exported first

    app.cleanup_ctx.append(lifecycle)
    return app
