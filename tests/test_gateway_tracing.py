"""OpenTelemetry traces, exported over OTLP/HTTP to a collector on loopback (a real HTTP server decoding the
protobuf an OTel collector would receive). An operator sees one trace per request, joined to the caller's,
with a span per partner call carrying its outcome, whose context reaches the partner; and no customer data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.gateway_support import SHOWCASE, World, account_ibans, consultant_of

QUERY = """query View($id: ID!) { customer(id: $id) { familyName contracts { contractId
    ... on BankAccount { iban } ... on Depot { marketValue { amount } } } } }"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    spans: list[dict[str, Any]] = []

    async def export(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                spans.extend({
                    "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                    "parent": s.parent_span_id.hex(), "kind": s.kind, "status": s.status.code,
                    "attributes": {a.key: _value(a.value) for a in s.attributes}} for s in scope.spans)
        return web.Response(content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1/traces", spans
    await runner.cleanup()


async def _until(spans: list[dict[str, Any]], ready: Callable[[], bool]) -> None:
    for _ in range(100):  # the exporter sends in batches every half second
        if ready():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"spans never arrived: {[s['name'] for s in spans]}")


async def test_one_trace_per_request_joined_to_the_callers_with_a_span_per_partner(
        collector: tuple[str, list[dict[str, Any]]], make_gateway: Callable[..., Any], world: World) -> None:
    # (the collector first: it must outlive the gateway, which exports its last spans as it stops)
    endpoint, spans = collector
    gateway = await make_gateway(settings_overrides={"traces_endpoint": endpoint})
    await world.fault("invest", mode="error")
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    reply = await gateway.post(QUERY, token=token, purpose="advisory", variables={"id": SHOWCASE},
                               headers={"traceparent": TRACEPARENT, "X-Request-ID": "traced-1"})
    assert reply.status == 200 and set(reply.codes()) == {"PARTNER_UNAVAILABLE"}

    ours = lambda: [s for s in spans if s["trace_id"] == TRACE_ID]  # noqa: E731
    await _until(spans, lambda: {"POST /graphql", "partner bank", "partner invest", "audit record"}
                 <= {s["name"] for s in ours()})
    server = next(s for s in ours() if s["name"] == "POST /graphql")
    assert server["kind"] == Span.SPAN_KIND_SERVER and server["parent"] == "00f067aa0ba902b7"  # the caller's
    assert server["attributes"] == {"http.request.method": "POST", "url.path": "/graphql",
                                    "vcv.request_id": "traced-1", "http.response.status_code": 200,
                                    "vcv.role": "consultant", "vcv.purpose": "advisory"}
    partner_spans = {s["attributes"]["vcv.partner"]: s for s in ours() if s["name"].startswith("partner ")}
    assert set(partner_spans) == {"bank", "invest"}  # only the partners whose fields were asked for
    assert all(s["parent"] == server["span_id"] and s["kind"] == Span.SPAN_KIND_CLIENT
               for s in partner_spans.values())
    assert partner_spans["bank"]["attributes"]["vcv.outcome"] == "ok"
    assert partner_spans["invest"]["attributes"]["vcv.outcome"] == "PARTNER_UNAVAILABLE"
    assert partner_spans["invest"]["status"] == 2  # STATUS_CODE_ERROR: the failure shows in trace views

    # The bank got the trace context of its own span, so its traces join this one.
    received = [r for r in (await world.stats("bank"))["recent"] if r["request_id"] == "traced-1"]
    assert received and all(r["traceparent"].split("-")[1:3] == [TRACE_ID, partner_spans["bank"]["span_id"]]
                            for r in received)

    # Nothing a policy could hide — or any customer data at all — is in a span.
    text = json.dumps(ours())
    customer = world.alliance.customer(SHOWCASE)
    assert SHOWCASE not in text and customer.family_name not in text
    for ref in (c for c in world.alliance.contracts if c.customer_id == SHOWCASE):
        assert ref.contract_id not in text
    assert all(iban[-4:] not in text for iban in account_ibans(world, SHOWCASE))


async def test_without_an_endpoint_nothing_is_traced_or_sent_to_partners(make_gateway: Callable[..., Any],
                                                                        world: World) -> None:
    gateway = await make_gateway()
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    reply = await gateway.post(QUERY, token=token, purpose="advisory", variables={"id": SHOWCASE},
                               headers={"X-Request-ID": "untraced-1"})
    assert reply.status == 200 and reply.errors == []
    received = [r for r in (await world.stats("bank"))["recent"] if r["request_id"] == "untraced-1"]
    assert received and all(r["traceparent"] is None for r in received)
