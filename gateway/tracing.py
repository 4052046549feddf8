"""OpenTelemetry traces, when an OTLP/HTTP endpoint is configured; otherwise a no-op tracer that costs
nothing on the hot path.

One server span per GraphQL request (joined to the caller's trace when it sends `traceparent`), a client
span per partner batch call (whose context travels to the partner in `traceparent`) and one for the audit
commit. Spans carry who asked and what happened — request ID, role, purpose, partner, outcome, counts —
never a customer ID, a query text, a variable or a field value."""

from __future__ import annotations

from opentelemetry import trace
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

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    def shutdown(self) -> None:
        """Export what is still queued and stop the exporter thread (blocking: call it off the event loop)."""
        if self._provider is not None:
            self._provider.shutdown()
