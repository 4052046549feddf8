"""The aiohttp application: `/graphql` (GraphQL over HTTP, GraphiQL in a browser), the pages, `/healthz`,
`/readyz`, `/metrics`. This module wires; the way in is gateway/gate.py, the transport gateway/view.py, the
middleware gateway/middleware.py, health and readiness gateway/health.py, reloading gateway/reload.py.

A request's way through: request ID -> the view reads the operation -> the gate (caller, purpose, limits,
validation, execution, masking, redactions, audit) -> the view answers in the accepted media type."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator

import aiohttp
import graphql
from aiohttp import web
from aiohttp.typedefs import Middleware
from graphql import DocumentNode, OperationDefinitionNode
from strawberry import Schema

from gateway import indexing
from gateway.context import RequestContext
from gateway.cursors import Cursors
from gateway.errors import VcvError
from gateway.gate import ContextFactory, Executor, Gate, Limits, Outcome
from gateway.health import add_health_routes
from gateway.identity import Caller, IdentitySettings, Verifier
from gateway.middleware import RequestIds, RequestLog, Traces
from gateway.operations import GraphQLRequest
from gateway.page_words import vocabulary
from gateway.pages import add_ide, add_pages, graphiql_page
from gateway.planner import PlanCache
from gateway.planner import run as run_plan
from gateway.reload import load_rules, reload_on_sighup
from gateway.schema import build_schema
from gateway.state import OUTCOME, REQUEST_ID, SETTINGS, STATE, VERIFIER, GatewaySettings, GatewayState
from gateway.tracing import Tracing
from gateway.view import GraphQLView
from privacy import Guard
from privacy.audit.store import AuditLog, AuditSettings
from resolvers import (
    CallContext,
    Master,
    MasterLoaders,
    PartnerLoaders,
    build_connectors,
    create_engine,
    session_factory,
)

__all__ = ["GatewaySettings", "create_app"]


def _context_for(request: web.Request) -> ContextFactory:
    """Everything the resolvers of one request reach: the verified caller, fresh loaders, the guard."""
    state = request.app[STATE]

    def build(caller: Caller, request_id: str) -> RequestContext:
        rules = state.rules  # a reload replaces these as a whole; this request keeps the ones it began with
        deadline = time.monotonic() + state.partners.deadline_s
        call = CallContext(request_id=request_id, purpose=caller.purpose, deadline=deadline,
                           tracer=state.tracing.tracer)
        return RequestContext(
            caller=caller, request_id=request_id, master=state.master,
            master_loaders=MasterLoaders(state.master), partners=PartnerLoaders(state.connectors, call),
            partner_configs=state.partners.partners,
            guard=Guard(rules.policy, rules.keys, consumer=caller.consumer, role=caller.role, purpose=caller.purpose),
            cursors=rules.cursors, audit=state.audit,
        )

    return build


def _strawberry_executor(schema: Schema, plans: PlanCache | None) -> Executor:
    """The executor behind the gate: the planner for what it covers (gateway/planner), else strawberry's
    resolvers run by graphql-core on the document the gate has already validated."""
    async def execute(document: DocumentNode, operation: OperationDefinitionNode, sent: GraphQLRequest,
                      context: RequestContext) -> graphql.ExecutionResult:
        if plans is not None:
            # The planner's one call site; None hands the operation to strawberry.
            planned = await run_plan(plans, schema._schema, sent.query or "", document, operation, sent.variables,
                                     context)
            if planned is not None:
                return planned  # type: ignore[return-value]  # strawberry's ExecutionResult has the same fields
        result = graphql.execute(schema._schema, document, context_value=context, variable_values=sent.variables,
                                 operation_name=sent.operation_name,
                                 executor_class=schema.execution_context_class)
        return await result if inspect.isawaitable(result) else result

    return execute


def _graphql_route(gate: Gate, executor: Executor, graphiql: bool) -> GraphQLView:
    async def run(request: web.Request, operation: GraphQLRequest | VcvError) -> Outcome:
        state = request.app[STATE]
        outcome = await gate.run(request[REQUEST_ID], request.method, request.headers, operation,
                                 verifier=request.app[VERIFIER], audit=state.audit,
                                 context_for=_context_for(request), execute=executor, tracer=state.tracing.tracer)
        request[OUTCOME] = outcome
        return outcome

    return GraphQLView(run, ide_page=graphiql_page if graphiql else None)


def create_app(settings: GatewaySettings) -> web.Application:
    middlewares: list[Middleware] = [RequestIds(), RequestLog("/graphql", settings.trusted_operations),
                                     Traces("/graphql")]
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    app[VERIFIER] = Verifier.from_settings(settings.identity or IdentitySettings(jwks_file=settings.jwks_path,
                                                                                max_token_lifetime_s=None))
    app.cleanup_ctx.append(app[VERIFIER].running)  # the provider's keys: first fetch, then refreshes
    # Agreements are checked before the app exists: a bad file stops start-up, naming file and line.
    rules = load_rules(settings, settings.partners, Cursors())
    schema = build_schema()
    gate = Gate(schema, limits=Limits(max_cost=settings.max_query_cost), introspection=settings.introspection,
                trusted=settings.trusted_operations)
    executor = _strawberry_executor(schema, PlanCache() if settings.planner else None)
    # /graphql answers GET and POST; every other method gets a clear 405 from the view, through the gate.
    view = _graphql_route(gate, executor, settings.graphiql)
    app.router.add_route("*", "/graphql", view.handle)
    add_health_routes(app)
    add_pages(app, settings.demo_identities, lambda app: vocabulary(app[STATE].partners, app[STATE].rules.policy))
    if settings.graphiql:
        add_ide(app)  # the page is view.py's (graphiql_page); its pinned assets are served from here

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.db_url)
        # Its own engine: on SQLite, audit appends take the write lock first (see create_engine).
        audit_engine = create_engine(settings.audit_db_url or settings.db_url, write_lock_first=True)
        # The partners' session. No cookie jar: nothing a partner sets travels from one caller's request to the
        # next. No session-wide timeout either: every call is bounded by its connector, within the request's
        # deadline (resolvers/connectors/base.py), and aiohttp's own would only add a timer per call.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, limit_per_host=64),
                                        cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None))
        audit = AuditLog(audit_engine, settings.audit_signing_key,
                         AuditSettings(checkpoint_every=settings.audit_checkpoint_every,
                                       commit_timeout_s=settings.audit_commit_timeout_s,
                                       witness=settings.audit_witness))
        state = GatewayState(Master(session_factory(engine)), session, audit, settings.partners,
                             build_connectors(settings.partners, session), rules, Tracing(settings.traces_endpoint))
        app[STATE] = state
        yield
        for connector in state.connectors.values():
            connector.close()
        await session.close()
        await engine.dispose()
        await audit_engine.dispose()
        audit.close()
        await asyncio.to_thread(state.tracing.shutdown)  # spans still queued are exported first

    app.cleanup_ctx.append(lifecycle)
    if settings.reload_on_sighup:
        app.cleanup_ctx.append(reload_on_sighup)
    # After `lifecycle` opened the master: pseudonym indexes built ahead of traffic, stopped before it closes.
    app.cleanup_ctx.append(indexing.ahead_of_traffic(lambda app: indexing.Inputs(
        app[STATE].master, app[STATE].rules.policy, app[STATE].rules.keys, app[STATE].partners.partners)))
    return app
