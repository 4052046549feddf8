"""Prometheus metrics of the gateway, served at `/metrics` in the text exposition format. Each gateway
process exposes its own; Prometheus scrapes every process. Labels hold codes, owners and treatments, never
customer data."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

REQUESTS = Counter("vcv_requests_total", "GraphQL requests answered, by HTTP status.", ["status"])
REQUEST_SECONDS = Histogram("vcv_request_seconds", "Time to answer a GraphQL request, by operation: its name "
                            "when trusted operations are on (a bounded set), else adhoc.", ["operation"],
                            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
ERRORS = Counter("vcv_errors_total", "Errors in GraphQL responses, by extensions.code.", ["code"])
REDACTIONS = Counter("vcv_redactions_total", "Fields asked for and not given in full, by data owner, "
                     "treatment kind and deciding rule.", ["owner", "treatment", "rule"])


async def metrics_endpoint(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
