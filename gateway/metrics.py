"""Prometheus metrics of the gateway, served at `/metrics` in the text exposition format. Each `vcv serve`
with several workers exposes the sum over them (prometheus_client's multiprocess mode, which `vcv serve`
switches on before any metric exists), so a scrape is the same whichever worker answers it; one process keeps
its values in memory and adds its own process_* figures. Prometheus scrapes every gateway. Labels hold codes,
owners and treatments, never customer data."""

from __future__ import annotations

import os

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by `vcv serve --workers N` (gateway/cli.py) before this loads

REQUESTS = Counter("vcv_requests_total", "GraphQL requests answered, by HTTP status.", ["status"])
REQUEST_SECONDS = Histogram("vcv_request_seconds", "Time to answer a GraphQL request, by operation: its name "
                            "when trusted operations are on (a bounded set), else adhoc.", ["operation"],
                            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
ERRORS = Counter("vcv_errors_total", "Errors in GraphQL responses, by extensions.code.", ["code"])
REDACTIONS = Counter("vcv_redactions_total", "Fields asked for and not given in full, by data owner, "
                     "treatment kind and deciding rule.", ["owner", "treatment", "rule"])


async def metrics_endpoint(request: web.Request) -> web.Response:
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # every worker's files, live gauges of live workers only
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def worker_exited(pid: int) -> None:
    mark_process_dead(pid)  # its live gauges (backlog, circuits) no longer count; its counters still do

# The identity provider's keys (gateway/idp.py). With several workers, the worst worker's view: one worker
# that cannot refresh is enough to make a rotated-out key linger there.
IDENTITY_KEYS_UP = Gauge("vcv_identity_keys_up", "1 when the last fetch of the identity provider's keys "
                         "succeeded (or they come from a file), 0 while it fails and the last good keys are used.",
                         multiprocess_mode="livemin")
IDENTITY_KEYS = Gauge("vcv_identity_keys", "Signing keys of the identity provider the gateway accepts.",
                      multiprocess_mode="livemin")
IDENTITY_KEYS_REFRESHED = Gauge("vcv_identity_keys_refreshed_timestamp_seconds", "When the identity provider's "
                                "keys were last fetched successfully (Unix time).", multiprocess_mode="livemin")
IDENTITY_KEY_FETCHES = Counter("vcv_identity_key_fetches_total", "Fetches of the identity provider's keys, by what "
                               "caused them (start, schedule, unknown_kid) and outcome (ok, error).",
                               ["trigger", "outcome"])
