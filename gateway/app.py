"""The aiohttp application: `/graphql` (GraphQL over HTTP, GraphiQL in a browser), the pages, `/healthz`,
`/readyz`, `/metrics`. This module wires; the way in is gateway/gate.py, the transport gateway/view.py.

A request's way through: request ID -> the view reads the operation -> the gate (caller, purpose, limits,
validation, execution, masking, redactions, audit) -> the view answers in the accepted media type."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import graphql
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from graphql import DocumentNode, OperationDefinitionNode

from gateway import indexing
from gateway.context import RequestContext
from gateway.cost import DEFAULT_MAX_COST
from gateway.cursors import Cursors
from gateway.errors import VcvError
from gateway.gate import ContextFactory, Executor, Gate, Limits, Outcome
from gateway.identity import Caller, IdentitySettings, Verifier
from gateway.logs import REQUEST_ID as LOG_REQUEST_ID
from gateway.metrics import REQUEST_SECONDS, REQUESTS, metrics_endpoint
from gateway.operations import GraphQLRequest, TrustedOperations
from gateway.page_words import vocabulary
from gateway.pages import add_ide, add_pages, graphiql_page
from gateway.planner import PlanCache
from gateway.planner import run as run_plan
from gateway.policy import DEMO_AGREEMENTS, load_keys, load_policy
from gateway.schema import Schema, build_schema
from gateway.tracing import NO_TRACING, Tracing, describe, server_span
from gateway.view import GraphQLView
from privacy import policy_diff, render_diff
from privacy.agreements import AgreementError
from privacy.audit.store import AuditLog, AuditSettings
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

REQUEST_ID = web.RequestKey("request_id", str)
CONTEXT = web.RequestKey("context", RequestContext)
OUTCOME = web.RequestKey("outcome", Outcome)
VERIFIER = web.AppKey("verifier", Verifier)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    db_url: str
    jwks_path: Path | None  # the demo's and tests' JWKS file; `identity` (vcv serve) wins when given
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
    # How long a request waits for its event's commit before AUDIT_UNAVAILABLE (and /readyz for a test write).
    audit_commit_timeout_s: float = 3.0
    # The file each commit's signed checkpoints are appended to, outside the database (None: none kept).
    audit_witness: Path | None = None
    # Where the partners configuration came from, so SIGHUP can re-read it (with the agreements directory).
    partners_file: Path | None = None
    reload_on_sighup: bool = False
    # OTLP/HTTP endpoint for OpenTelemetry traces; None: no tracing at all.
    traces_endpoint: str | None = None
    # Demo mode only: tokens the pages offer as one-click identities (role, label, purposes, token).
    demo_identities: list[dict[str, Any]] | None = None
    # Where tokens' keys come from and what they must say (issuer, audience, lifetime, claim mapping).
    identity: IdentitySettings | None = None
    # Answer the operations it covers with the planner (gateway/planner); off: strawberry answers everything.
    planner: bool = True


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


STATE = web.AppKey("state", _State)  # set when the app starts (lifecycle), absent before
SETTINGS = web.AppKey("settings", GatewaySettings)


def _context_for(request: web.Request) -> ContextFactory:
    """Everything the resolvers of one request reach: the verified caller, fresh loaders, the guard."""
    state: _State = request.app[STATE]

    def build(caller: Caller, request_id: str) -> RequestContext:
        rules = state.rules  # a reload replaces these as a whole; this request keeps the ones it began with
        deadline = time.monotonic() + state.partners.deadline_s
        call = CallContext(request_id=request_id, purpose=caller.purpose, deadline=deadline,
                           tracer=state.tracing.tracer)
        context = RequestContext(
            caller=caller, request_id=request_id, master=state.master,
            master_loaders=MasterLoaders(state.master), partners=PartnerLoaders(state.connectors, call),
            partner_configs=state.partners.partners,
            guard=Guard(rules.policy, rules.keys, consumer=caller.consumer, role=caller.role, purpose=caller.purpose),
            cursors=rules.cursors, audit=state.audit,
        )
        request[CONTEXT] = context
        return context

    return build


def _strawberry_executor(schema: Schema, plans: PlanCache | None) -> Executor:
    """The executor behind the gate: the planner for what it covers (gateway/planner), else strawberry's
    resolvers run by graphql-core on the document the gate has already validated."""
    async def execute(document: DocumentNode, operation: OperationDefinitionNode, sent: GraphQLRequest,
                      context: RequestContext) -> graphql.ExecutionResult:
        if plans is not None:
            # The planner's one call site; None hands the operation to strawberry.
            planned = await run_plan(plans, schema, sent.query, sent.operation_name, sent.variables, context)
            if planned is not None:
                return planned  # type: ignore[return-value]  # strawberry's ExecutionResult has the same fields
        result = graphql.execute(schema._schema, document, context_value=context, variable_values=sent.variables,
                                 operation_name=sent.operation_name,
                                 executor_class=schema.execution_context_class)
        return await result if inspect.isawaitable(result) else result

    return execute


def _graphql_route(app: web.Application, gate: Gate, executor: Executor, graphiql: bool) -> GraphQLView:
    async def run(request: web.Request, operation: GraphQLRequest | VcvError) -> Outcome:
        state: _State = request.app[STATE]
        outcome = await gate.run(request[REQUEST_ID], request.method, request.headers, operation,
                                 verifier=request.app[VERIFIER], audit=state.audit,
                                 context_for=_context_for(request), execute=executor, tracer=state.tracing.tracer)
        request[OUTCOME] = outcome
        return outcome

    return GraphQLView(run, ide_page=graphiql_page if graphiql else None)


@web.middleware
async def _request_id(request: web.Request, handler: Any) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = supplied if 0 < len(supplied) <= 128 and supplied.isprintable() else str(uuid.uuid4())
    reset = LOG_REQUEST_ID.set(request[REQUEST_ID])
    started = time.perf_counter()
    try:
        with _server_span(request) as span:
            response = await handler(request)
            response.headers["X-Request-ID"] = request[REQUEST_ID]
            if span.is_recording():
                _describe(span, request, response)
        _log_request(request, response.status, time.perf_counter() - started)
        return response
    finally:
        LOG_REQUEST_ID.reset(reset)


def _server_span(request: web.Request) -> Any:
    state: _State | None = request.app.get(STATE)
    tracer = state.tracing.tracer if state is not None and request.path == "/graphql" else NO_TRACING
    return server_span(tracer, request.method, request.path, request.headers, request[REQUEST_ID])


def _describe(span: Any, request: web.Request, response: web.StreamResponse) -> None:
    outcome: Outcome | None = request.get(OUTCOME)
    caller = outcome.caller if outcome else None
    describe(span, response.status, caller.role if caller else None, caller.purpose if caller else None,
             outcome.operation_name if outcome else None)


def _log_request(request: web.Request, status: int, seconds: float) -> None:
    # One line per request: who asked (role, purpose), not what for (no query text, no variables, no values).
    if request.path != "/graphql":
        return
    REQUESTS.labels(str(status)).inc()
    outcome: Outcome | None = request.get(OUTCOME)
    trusted: TrustedOperations | None = request.app[SETTINGS].trusted_operations
    name = outcome.operation_name if outcome else None
    # Client-chosen names would be unbounded label values; registered ones are a fixed set.
    REQUEST_SECONDS.labels(name if trusted is not None and name in trusted.names.values() else "adhoc").observe(
        seconds)
    caller = outcome.caller if outcome else None
    log.info("%s %s %d %.1f ms role=%s purpose=%s", request.method, request.path, status, seconds * 1000,
             caller.role if caller else "-", caller.purpose if caller else "-",
             extra={"method": request.method, "path": request.path, "status": status,
                    "duration_ms": round(seconds * 1000, 1), "role": caller.role if caller else None,
                    "purpose": caller.purpose if caller else None})


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
    state: _State = request.app[STATE]
    circuits = _circuits(state)
    master = "up"
    try:
        await state.master.partners()
    except Exception:
        log.exception("readiness check failed: customer master")
        master = "down"
    # "up" only if the log takes a (rolled-back) write in time: without it, every answer would be refused.
    audit = await state.audit.writable()
    identity = request.app[VERIFIER].state()  # stale (provider unreachable, last good keys) is still ready
    indexes, built = indexing.readiness(request.app)  # not ready until built at start-up (gateway/indexing.py)
    ready = master == audit == "up" and identity != "down" and built
    return web.json_response({"status": "ready" if ready else "unavailable", "master": master, "audit": audit,
                              "identity": identity, "indexes": indexes, "partners": circuits},
                             status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.StreamResponse:
    _circuits(request.app[STATE])
    return await metrics_endpoint(request)


def _load_rules(settings: GatewaySettings, partners: PartnersConfig, cursors: Cursors) -> _Policy:
    """Agreements and pseudonym keys for these partners; raises naming file and line on a bad agreement."""
    policy = load_policy(settings.agreements_dir, partners)
    return _Policy(policy, load_keys(policy, settings.keys_dir), cursors)


async def reload_configuration(app: web.Application) -> bool:
    """Re-read the partners file and the agreements. Everything is validated first: an invalid file keeps
    the running configuration and the log says why (file and line). Requests in flight finish as they began."""
    settings: GatewaySettings = app[SETTINGS]
    state: _State = app[STATE]
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
    indexing.rebuild(app)  # a rotated pseudonym key, a new partner: their indexes, in the background
    return True


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[_request_id])
    app[SETTINGS] = settings
    app[VERIFIER] = Verifier.from_settings(settings.identity or IdentitySettings(jwks_file=settings.jwks_path,
                                                                                max_token_lifetime_s=None))
    app.cleanup_ctx.append(app[VERIFIER].running)  # the provider's keys: first fetch, then refreshes
    # Agreements are checked before the app exists: a bad file stops start-up, naming file and line.
    rules = _load_rules(settings, settings.partners, Cursors())
    schema = build_schema(max_cost=settings.max_query_cost, introspection=settings.introspection)
    gate = Gate(schema, limits=Limits(max_cost=settings.max_query_cost), introspection=settings.introspection,
                trusted=settings.trusted_operations)
    executor = _strawberry_executor(schema, PlanCache() if settings.planner else None)
    # /graphql answers GET and POST; every other method gets a clear 405 from the view, through the gate.
    view = _graphql_route(app, gate, executor, settings.graphiql)
    app.router.add_route("*", "/graphql", view.handle)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    add_pages(app, settings.demo_identities, lambda app: vocabulary(app[STATE].partners, app[STATE].rules.policy))
    if settings.graphiql:
        add_ide(app)  # the page is view.py's (graphiql_page); its pinned assets are served from here

    async def lifecycle(app: web.Application) -> Any:
        engine = create_engine(settings.db_url)
        # Its own engine: on SQLite, audit appends take the write lock first (see create_engine).
        audit_engine = create_engine(settings.audit_db_url or settings.db_url, write_lock_first=True)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, limit_per_host=64))
        audit = AuditLog(audit_engine, settings.audit_signing_key,
                         AuditSettings(checkpoint_every=settings.audit_checkpoint_every,
                                       commit_timeout_s=settings.audit_commit_timeout_s,
                                       witness=settings.audit_witness))
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
        audit.close()
        await asyncio.to_thread(state.tracing.shutdown)  # spans still queued are exported first

    app.cleanup_ctx.append(lifecycle)
    # After `lifecycle` opened the master: pseudonym indexes built ahead of traffic, stopped before it closes.
    app.cleanup_ctx.append(indexing.ahead_of_traffic(lambda app: indexing.Inputs(
        app[STATE].master, app[STATE].rules.policy, app[STATE].rules.keys, app[STATE].partners.partners)))
    return app
