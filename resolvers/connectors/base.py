"""Calling one partner, and the extension point for a new protocol.

`Connector` does everything a protocol has in common: batching by the partner's maximum batch size, the
per-partner timeout inside the request's deadline, a concurrency limit, a circuit breaker, retries of
idempotent reads within a budget, metrics, a trace span per call, and mapping the partner's records onto the
joint model. A protocol (REST and GraphQL here; docs/connectors.md shows how to add one) is a subclass that
implements one method, `call_batch`: send one batch, return the partner's records. It is registered under
the name `protocol:` takes in partners.yaml with `register_protocol` (resolvers/connectors/protocols.py).
Everything a caller may see of a failure is a `PartnerError`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from opentelemetry import propagate, trace
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from resolvers.connectors.breaker import BreakerSettings, CircuitBreaker
from resolvers.connectors.connector_config import ConnectorConfig
from resolvers.connectors.mapping import BadRecord, RecordMapping, partner_fields
from resolvers.connectors.partner_metrics import PARTNER_CALLS, PARTNER_CONTRACTS, PARTNER_SECONDS
from resolvers.connectors.retry import RetryBudget, RetrySettings, backoff, should_retry
from resolvers.connectors.transport import PartnerHTTP, Response
from resolvers.source_errors import PartnerError
from resolvers.values import ContractValues

log = logging.getLogger("vcv.connector")
_NO_TRACING = trace.NoOpTracer()
# The span of a call when nothing is traced: reusable, and no context switch per call.
_UNTRACED = contextlib.nullcontext(trace.INVALID_SPAN)


@dataclass(frozen=True, slots=True)
class CallContext:
    request_id: str
    purpose: str
    deadline: float  # time.monotonic() by which every partner call must be done
    tracer: trace.Tracer = _NO_TRACING

    @property
    def traced(self) -> bool:
        return not isinstance(self.tracer, trace.NoOpTracer)


@dataclass(frozen=True, slots=True)
class Batch:
    """One call to a partner, as `Connector.call_batch` receives it."""

    ids: list[str]  # the contract IDs asked for: no duplicates, at most the partner's max_batch_size
    fields: list[str]  # the partner's names of the fields wanted (from the entry's `fields` mapping)
    joint_fields: frozenset[str]  # the same fields in the joint model's names (BankAccount.iban is `iban`)
    headers: dict[str, str]  # Authorization, X-Request-ID, X-Purpose (and traceparent): send every one


Outcome = ContractValues | PartnerError


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare from APIs and treated as absent."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Connector:
    """The base class of every protocol. A subclass implements `call_batch` and nothing else; it reads its
    partner's entry as `self.config` and calls it over `self.session`, the gateway's one HTTP session."""

    def __init__(self, config: ConnectorConfig, session: aiohttp.ClientSession,
                 breaker: CircuitBreaker | None = None) -> None:
        self.config = config
        self.session = session
        self.breaker = breaker or CircuitBreaker(BreakerSettings(config.breaker_failures, config.breaker_cooldown_s))
        self._limit = asyncio.Semaphore(config.max_concurrency)
        self._retry = RetrySettings(attempts=1 + config.retries, budget_ratio=config.retry_budget)
        self.retry_budget = RetryBudget(self._retry)
        # Labelled once: looking a label set up costs more than the update (a lock, and files under workers).
        self._contracts_metric = PARTNER_CONTRACTS.labels(config.id)
        self._ok_metric = PARTNER_CALLS.labels(config.id, "ok")
        self._seconds_metric = PARTNER_SECONDS.labels(config.id)
        self._mapping = RecordMapping(config)
        self._http: PartnerHTTP | None = None  # the built-in protocols' client, made on their first call

    async def fetch(self, ids: Sequence[str], joint_fields: Iterable[str], ctx: CallContext) -> dict[str, Outcome]:
        """Values for `ids` (deduplicated), one call per `max_batch_size` chunk, chunks in parallel."""
        unique = list(dict.fromkeys(ids))
        size = self.config.max_batch_size
        wanted = frozenset(joint_fields)
        if len(unique) <= size:  # one call, the usual case: no task of its own
            return await self._chunk(unique, wanted, ctx)
        chunks = [unique[i:i + size] for i in range(0, len(unique), size)]
        results = await asyncio.gather(*(self._chunk(c, wanted, ctx) for c in chunks))
        return {k: v for part in results for k, v in part.items()}

    def _span(self, ids: list[str], ctx: CallContext) -> Any:
        if not ctx.traced:
            return _UNTRACED
        return ctx.tracer.start_as_current_span(f"partner {self.config.id}", kind=trace.SpanKind.CLIENT, attributes={
            "vcv.partner": self.config.id, "vcv.contracts": len(ids), "vcv.request_id": ctx.request_id})

    async def _chunk(self, ids: list[str], joint_fields: frozenset[str], ctx: CallContext) -> dict[str, Outcome]:
        with self._span(ids, ctx) as span:
            try:
                records = await self._guarded(ids, joint_fields, ctx)
            except PartnerError as error:
                span.set_attribute("vcv.outcome", error.code)
                span.set_status(trace.StatusCode.ERROR, error.code)
                return dict.fromkeys(ids, error)
            span.set_attribute("vcv.outcome", "ok")
        outcome: dict[str, Outcome] = {}
        for record in records:
            try:
                values = self._mapping.to_joint(record, joint_fields)
            except BadRecord as exc:
                log.warning("partner %s: bad record: %s", self.config.id, exc)
                rid = record.get(self.config.id_field) if isinstance(record, dict) else None
                if isinstance(rid, str) and rid in ids:
                    outcome[rid] = PartnerError("PARTNER_BAD_RESPONSE", self.config.id, str(exc))
                continue
            # A record nobody asked for is dropped: a partner cannot inject other contracts into a view.
            if values.contract_id in ids:
                outcome[values.contract_id] = values
        for missing in ids:
            if missing not in outcome:
                outcome[missing] = PartnerError("PARTNER_BAD_RESPONSE", self.config.id,
                                                f"{missing} not returned")
        return outcome

    async def _guarded(self, ids: list[str], joint_fields: frozenset[str], ctx: CallContext) -> list[Any]:
        if not self.breaker.allow():
            PARTNER_CALLS.labels(self.config.id, "PARTNER_CIRCUIT_OPEN").inc()
            raise PartnerError("PARTNER_CIRCUIT_OPEN", self.config.id)
        wanted = partner_fields(self.config, joint_fields)
        self._contracts_metric.inc(len(ids))
        started = time.perf_counter()
        self.retry_budget.record_try()
        try:
            try:
                # The fast path: one plain call. Only a failure pays for the retry machinery below.
                records = await self._timed(ids, wanted, joint_fields, ctx)
            except PartnerError as first:
                records = await self._retried(first, ids, wanted, joint_fields, ctx)
        except PartnerError as error:
            PARTNER_CALLS.labels(self.config.id, error.code).inc()
            self._seconds_metric.observe(time.perf_counter() - started)
            if error.code != "PARTNER_BAD_RESPONSE":
                self.breaker.failure()
            else:
                self.breaker.success()  # it answered; the answer was wrong, the partner is up
            log.warning("partner %s failed: %s %s (request %s)", self.config.id, error.code, error.detail,
                        ctx.request_id)
            raise
        self._ok_metric.inc()
        self._seconds_metric.observe(time.perf_counter() - started)
        self.breaker.success()
        return records

    async def _retried(self, first: PartnerError, ids: list[str], wanted: list[str], joint_fields: frozenset[str],
                       ctx: CallContext) -> list[Any]:
        """After a failed first try: tried again as tenacity decides (retryable failure, within the deadline and
        the partner's retry budget, after a jittered backoff or the partner's Retry-After), else `first`."""
        retry = should_retry(self.retry_budget, ctx.deadline)
        state = RetryCallState(self._retry, None, (), {})  # type: ignore[arg-type]  # tenacity: a Retrying
        state.set_exception((type(first), first, first.__traceback__))
        if self._retry.attempts <= 1 or not retry(state):
            raise first
        await asyncio.sleep(backoff(state))
        async for attempt in AsyncRetrying(retry=retry, stop=stop_after_attempt(self._retry.attempts - 1),
                                           wait=backoff, reraise=True):
            with attempt:
                return await self._timed(ids, wanted, joint_fields, ctx)
        raise first  # not reached: the last attempt's failure is re-raised above

    async def _timed(self, ids: list[str], wanted: list[str], joint_fields: frozenset[str],
                     ctx: CallContext) -> list[Any]:
        remaining = ctx.deadline - time.monotonic()
        timeout = min(self.config.timeout_s, remaining)
        if timeout <= 0:
            raise PartnerError("PARTNER_TIMEOUT", self.config.id, "request deadline already passed")
        headers = {"Authorization": f"Bearer {self.config.credential}", "X-Request-ID": ctx.request_id,
                   "X-Purpose": ctx.purpose}
        if ctx.traced and trace.get_current_span().is_recording():
            propagate.inject(headers)  # traceparent: the partner can join its own spans to this call
        try:
            # asyncio.timeout, not wait_for: the same bound without a task of its own for every call.
            async with self._limit, asyncio.timeout(timeout):
                return await self.call_batch(Batch(ids, wanted, joint_fields, headers))
        except TimeoutError:
            raise PartnerError("PARTNER_TIMEOUT", self.config.id, f"no answer within {timeout:.3f}s") from None
        except aiohttp.ContentTypeError:
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, "not JSON") from None
        except ValueError as exc:  # JSON decode errors
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, f"undecodable body: {exc}") from None
        except (aiohttp.ClientConnectionError, OSError) as exc:  # refused, reset, dropped: worth a second try
            raise PartnerError("PARTNER_UNAVAILABLE", self.config.id, type(exc).__name__, retryable=True) from None
        except aiohttp.ClientError as exc:
            raise PartnerError("PARTNER_UNAVAILABLE", self.config.id, type(exc).__name__) from None

    async def call_batch(self, batch: Batch) -> list[Any]:
        """Send one batch to the partner and return its records, in its own vocabulary: each a JSON object
        holding `config.id_field` and `config.product_field`, and the fields named in `batch.fields`. Leave
        out an ID the partner does not know (it is reported as PARTNER_BAD_RESPONSE for that contract only);
        a record for an ID not asked for is dropped.

        The protocol's one method. Raise `self.status_error(response)` for an HTTP status other than success,
        and `PartnerError("PARTNER_BAD_RESPONSE", self.config.id, why)` for an answer of the wrong shape. The
        rest is the base class's: a timeout, a refused or dropped connection (aiohttp's errors) and a body
        that is not JSON (ValueError) become PARTNER_* errors, retried where that can help."""
        raise NotImplementedError(f"{type(self).__name__} must implement call_batch")

    async def post_batch(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST `body` (JSON) to the partner's batch URL (`base_url` + `batch_path`) with `headers` on the
        built-in HTTP client (resolvers/connectors/transport.py), and return its answer, read in full."""
        if self._http is None:
            self._http = PartnerHTTP(self.config.base_url + self.config.batch_path,
                                     max_idle=self.config.max_concurrency)
        return await self._http.post(body, headers)

    def close(self) -> None:
        """Close the connections kept open to the partner (those in use, once their call is over)."""
        if self._http is not None:
            self._http.close()

    def status_error(self, response: aiohttp.ClientResponse | Response) -> PartnerError:
        """The PartnerError for an HTTP answer other than success: 429 and 502-504 retryable (after the
        partner's Retry-After), other 5xx and 401/403 not (trying again changes nothing), the rest a bad
        response."""
        status = response.status
        if status in (429, 502, 503, 504):
            return PartnerError("PARTNER_UNAVAILABLE", self.config.id, f"HTTP {status}", retryable=True,
                                retry_after=_retry_after(response.headers.get("retry-after")))
        if status >= 500 or status in (401, 403):  # a bug or a wrong credential: trying again changes nothing
            return PartnerError("PARTNER_UNAVAILABLE", self.config.id, f"HTTP {status}")
        return PartnerError("PARTNER_BAD_RESPONSE", self.config.id, f"HTTP {status}")
