"""OpenTelemetry traces, when an OTLP/HTTP endpoint is configured; otherwise a no-op tracer that costs
nothing on the hot path.

One server span per GraphQL request (joined to the caller's trace when it sends `traceparent`), a client
span per partner batch call (whose context travels to the partner in `traceparent`) and one for the audit
commit. Spans carry who asked and what happened — request ID, role, purpose, partner, outcome, counts —
never a customer ID, a query text, a variable or a field value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

NO_TRACING: trace.Tracer = trace.NoOpTracer()


class Tracing:
    """Owned by one gateway process (created after a worker forks: the exporter runs a thread)."""

    def __init__(self, endpoint: str | None, *, service_name: str = "vcv-gateway") -> None:
        self._provider: TracerProvider | None = None
        self.tracer = NO_TRACING
        if endpoint:
            # Not the global provider: several gateways in one process (tests) each keep their own exporter.
            self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            self._provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5), schedule_delay_millis=500))
            self.tracer = self._provider.get_tracer("vcv.gateway")

    def shutdown(self) -> None:
        """Export what is still queued and stop the exporter thread (blocking: call it off the event loop)."""
        if self._provider is not None:
            self._provider.shutdown()


def server_span(tracer: trace.Tracer, method: str, path: str, headers: Mapping[str, str], request_id: str) -> Any:
    """The context manager of a request's span (a no-op one when not tracing)."""
    if tracer is NO_TRACING:
        return trace.use_span(trace.INVALID_SPAN)
    # Joined to the caller's trace when it sent `traceparent` (a front end, the load balancer).
    return tracer.start_as_current_span(f"{method} {path}", context=propagate.extract(headers),
                                        kind=trace.SpanKind.SERVER, attributes={
                                            "http.request.method": method, "url.path": path,
                                            "vcv.request_id": request_id})


def describe(span: trace.Span, status: int, role: str | None, purpose: str | None,
             operation_name: str | None) -> None:
    """What happened, once the answer is known: the status and who asked, for what purpose."""
    span.set_attribute("http.response.status_code", status)
    if role is not None and purpose is not None:
        span.set_attributes({"vcv.role": role, "vcv.purpose": purpose})
    if operation_name:
        span.set_attribute("graphql.operation.name", operation_name[:100])
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR, f"HTTP {status}")
