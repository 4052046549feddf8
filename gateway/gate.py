"""The one way in (SPEC §5): every GraphQL operation passes here, whatever carried it to the gateway.

    caller verified -> purpose -> registered operation -> parsed (token limit) -> shape limits (linear, before
    any validation rule walks the document) -> validated -> cost -> executed -> errors masked -> redactions
    reported -> audit event durably committed -> answer

There is no other path to the executor: the HTTP view (gateway/view.py) only turns a request into a
`GraphQLRequest` and an `Outcome` back into a response, and it is the only route that calls `Gate.run`.
Websockets, multipart, incremental delivery and batches are not offered at all (the schema has no
subscriptions), so no transport can skip a step. Every outcome, refused or answered, is audited: a refusal
carries no data, so it is recorded without holding anything back; an answer carrying data is released only
once its event is committed (fail closed)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import graphql
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    specified_rules,
)
from strawberry import Schema

from gateway.audit import operation_event, refusal_event
from gateway.context import RequestContext
from gateway.cost import CostCache, ShapeLimits, measure
from gateway.errors import VcvError, is_safe
from gateway.identity import Caller, Verifier
from gateway.metrics import ERRORS, REDACTIONS
from gateway.operations import GraphQLRequest, OperationRefused, TrustedOperations
from gateway.tracing import NO_TRACING
from privacy.audit.store import AuditLog, AuditUnavailable

log = logging.getLogger("vcv.gate")

MAX_TOKENS = 2_000
MASKED = "Internal error."


@dataclass(frozen=True, slots=True)
class Limits:
    shape: ShapeLimits = field(default_factory=ShapeLimits)
    max_tokens: int = MAX_TOKENS
    max_cost: int = 25_000


@dataclass(slots=True)
class Outcome:
    """What the gate decided: the GraphQL response body, and the HTTP status it calls for.

    `well_formed` is False for a document that never reached execution because it could not be parsed or
    validated (GraphQL over HTTP answers those 400 under application/graphql-response+json)."""

    payload: dict[str, Any]
    status: int = 200
    well_formed: bool = True
    caller: Caller | None = None
    operation_name: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """A request the gate turns away before execution: the payload carries no data."""

    def __init__(self, error: VcvError, status: int | None = None, *, well_formed: bool = True,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.status = status if status is not None else (error.http_status if error.http_status != 200 else 400)
        self.well_formed = well_formed
        self.headers = headers or {}


# Executes a validated operation for a verified caller; the planner or strawberry's executor.
Executor = Callable[[DocumentNode, OperationDefinitionNode, GraphQLRequest, RequestContext],
                    Awaitable[graphql.ExecutionResult]]
# Builds the request context (loaders, guard, partner connectors) for a verified caller.
ContextFactory = Callable[[Caller, str], RequestContext]


class Gate:
    def __init__(self, schema: Schema, *, limits: Limits, introspection: bool,
                 trusted: TrustedOperations | None) -> None:
        self.schema = schema
        self.limits = limits
        self.introspection = introspection
        self.trusted = trusted
        rules = list(specified_rules)
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._rules = tuple(rules)
        # Bounded caches keyed by the exact text: front ends send the same few documents. A client sending
        # endless distinct documents only evicts; the shape check runs before validation on every miss.
        self._parse = lru_cache(maxsize=512)(self._parse_uncached)
        self._validate = lru_cache(maxsize=512)(self._validate_uncached)
        self._costs = CostCache()

    async def run(self, request_id: str, method: str, headers: Mapping[str, str],
                  operation: GraphQLRequest | VcvError, *, verifier: Verifier, audit: AuditLog | None,
                  context_for: ContextFactory, execute: Executor, tracer: Any = NO_TRACING) -> Outcome:
        caller: Caller | None = None
        try:
            # Who asks and why comes first: nothing about the document is looked at for an unknown caller.
            caller = await verifier.authenticate(headers.get("Authorization"), headers.get("X-Purpose"))
            if isinstance(operation, VcvError):
                raise Refused(operation, headers=getattr(operation, "headers", None))
            operation = self._registered(operation)
            document, chosen = self._admitted(operation, method)
        except Refused as refused:
            outcome = Outcome({"errors": [refused.error.as_graphql()]}, refused.status, refused.well_formed,
                              caller, getattr(operation, "operation_name", None), refused.headers)
            _count_errors(outcome.payload)
            await _record_refusal(audit, request_id, caller, outcome)
            return outcome
        except VcvError as error:  # the token or the purpose
            outcome = Outcome({"errors": [error.as_graphql()]}, error.http_status, True, caller, None)
            _count_errors(outcome.payload)
            await _record_refusal(audit, request_id, caller, outcome)
            return outcome

        context = context_for(caller, request_id)
        try:
            result = await execute(document, chosen, operation, context)
        except Exception:  # a bug below the executor: no data, the caller told nothing internal, still audited
            log.exception("the operation failed outside the executor's error handling")
            failed = GraphQLError("the operation failed", original_error=RuntimeError())
            result = graphql.ExecutionResult(None, [failed])
        payload = self._shaped(result, context)
        status = 503 if _codes(payload) & RETRYABLE_REFUSALS else 200
        if status == 503:
            payload["data"] = None  # a master that cannot be read answers nothing, not a partial view
        outcome = Outcome(payload, status, True, caller, operation.operation_name)
        event = operation_event(request_id, context, operation.query, operation.operation_name, payload)
        if audit is not None:
            try:
                # Fail closed: nothing leaves before its access is durably in the log.
                with tracer.start_as_current_span("audit record"):
                    await audit.record(event)
            except AuditUnavailable as exc:
                log.error("audit store unavailable, withholding the response: %s", exc)
                outcome.payload = {"errors": [{"message": "the access could not be recorded in the audit log, "
                                                          "so no data is released; try again later",
                                               "extensions": {"code": "AUDIT_UNAVAILABLE"}}]}
                outcome.status = 503
        _count_errors(outcome.payload)
        return outcome

    def _registered(self, operation: GraphQLRequest) -> GraphQLRequest:
        if self.trusted is None:
            return operation
        try:
            return self.trusted.resolve(operation)
        except OperationRefused as refused:
            raise Refused(VcvError(str(refused), code=refused.code), 400) from None

    def _admitted(self, operation: GraphQLRequest, method: str) -> tuple[DocumentNode, OperationDefinitionNode]:
        if not operation.query:
            raise Refused(VcvError("No GraphQL query found in the request; send `query`", code="BAD_REQUEST"), 400)
        document = self._parse(operation.query)
        if isinstance(document, VcvError):
            # A fresh exception each time: a cached one re-raised would grow its traceback with every request.
            raise Refused(document, 400, well_formed=False)
        errors = self._validate(operation.query)
        if errors:
            raise Refused(_validation_error(errors[0]), well_formed=False)
        chosen = graphql.get_operation_ast(document, operation.operation_name)
        if chosen is None:
            named = f"no operation named '{operation.operation_name}'" if operation.operation_name else \
                "the document holds several operations; name the one to run in `operationName`"
            raise Refused(VcvError(named, code="BAD_REQUEST"), 400)
        if chosen.operation != OperationType.QUERY and method != "POST":
            error = VcvError(f"{chosen.operation.value}s must be sent with POST", code="BAD_REQUEST")
            raise Refused(error, 405, headers={"Allow": "POST"})
        if chosen.operation == OperationType.SUBSCRIPTION:
            raise Refused(VcvError("this gateway offers no subscriptions", code="BAD_REQUEST"), 400)
        cost = self._costs.cost(operation.query, document, operation.operation_name, operation.variables)
        if cost > self.limits.max_cost:
            raise Refused(VcvError(f"query cost {cost} exceeds the maximum of {self.limits.max_cost}; ask for "
                                   f"fewer customers, contracts or fields per request", code="QUERY_TOO_COMPLEX"),
                          400, well_formed=False)
        return document, chosen

    def _parse_uncached(self, text: str) -> DocumentNode | VcvError:
        try:
            document = graphql.parse(text, max_tokens=self.limits.max_tokens, no_location=False)
        except GraphQLSyntaxError as exc:
            if "tokens" in exc.message and "more than" in exc.message:
                return VcvError(f"the document has more than {self.limits.max_tokens} tokens",
                                code="QUERY_TOO_COMPLEX")
            return VcvError(exc.message, code="GRAPHQL_PARSE_FAILED",
                            locations=[loc._asdict() for loc in exc.locations or ()])
        shape = measure(document)
        reason = shape.refusal(self.limits.shape)
        if reason is not None:
            return VcvError(reason, code="QUERY_TOO_COMPLEX")
        return document

    def _validate_uncached(self, text: str) -> tuple[GraphQLError, ...]:
        document = self._parse(text)
        assert not isinstance(document, VcvError)
        # With introspection off the schema is not to be rebuilt from "Did you mean …?" suggestions either.
        return tuple(graphql.validate(self.schema._schema, document, self._rules, max_errors=20,
                                      hide_suggestions=not self.introspection))

    def _shaped(self, result: graphql.ExecutionResult, context: RequestContext) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        errors = [self._public(e) for e in result.errors or ()]
        if errors:
            payload["errors"] = errors
        payload["data"] = result.data
        if result.data is not None:
            redactions = context.guard.as_extension()
            payload["extensions"] = {"redactions": redactions}
            # A view has dozens of redactions in a handful of kinds: one counter update per kind.
            kinds = Counter((r["owner"], r["treatment"].split()[0], r["rule"]) for r in redactions)
            for (owner, treatment, rule), count in kinds.items():
                REDACTIONS.labels(owner, treatment, rule).inc(count)
        return payload

    def _public(self, error: GraphQLError) -> dict[str, Any]:
        """The error as the caller may read it: ours and GraphQL's own verbatim, anything else masked (it is
        a bug: logged with its traceback, which the caller never sees)."""
        if is_safe(error):
            formatted = error.formatted
            extensions = dict(formatted.get("extensions") or {})
            original = error.original_error
            code = getattr(original, "extensions", {}).get("code") if original is not None else None
            extensions.setdefault("code", code or "GRAPHQL_VALIDATION_FAILED")
            formatted["extensions"] = extensions
            log.info("request error: %s %s", extensions["code"], error.message)
            return dict(formatted)
        log.error("unexpected error", exc_info=error.original_error)
        masked: dict[str, Any] = {"message": MASKED, "extensions": {"code": "INTERNAL"}}
        if error.path is not None:
            masked["path"] = error.path
        if error.locations:
            masked["locations"] = [loc._asdict() for loc in error.locations]
        return masked


# An answer that says "the master could not be read, try again": HTTP 503, no data, recorded as refused.
RETRYABLE_REFUSALS = frozenset({"MASTER_UNAVAILABLE"})


def _validation_error(error: GraphQLError) -> VcvError:
    code = "QUERY_TOO_COMPLEX" if "introspection depth" in error.message else "GRAPHQL_VALIDATION_FAILED"
    return VcvError(error.message, code=code, locations=[loc._asdict() for loc in error.locations or ()])


def _codes(payload: Mapping[str, Any]) -> set[str]:
    return {(e.get("extensions") or {}).get("code", "") for e in payload.get("errors") or ()}


def _count_errors(payload: Mapping[str, Any]) -> None:
    for error in payload.get("errors") or ():
        ERRORS.labels((error.get("extensions") or {}).get("code", "INTERNAL")).inc()


async def _record_refusal(audit: AuditLog | None, request_id: str, caller: Caller | None, outcome: Outcome) -> None:
    """A refusal carries no data, so an unavailable store only costs the event, never a wrongly released
    answer."""
    if audit is None:
        return
    try:
        await audit.record(refusal_event(request_id, caller, outcome.status, sorted(_codes(outcome.payload))))
    except AuditUnavailable as exc:
        log.warning("audit store unavailable, refusal not recorded: %s", exc)

