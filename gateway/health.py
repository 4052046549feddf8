"""What operators and load balancers ask of a running gateway: `/healthz` (the process answers), `/readyz`
(it can serve: master, audit log, identity provider's keys, pseudonym indexes built; partners' circuits for
information) and
`/metrics` (Prometheus, gateway/metrics.py)."""

from __future__ import annotations

import logging
import os

from aiohttp import web

from gateway import indexing
from gateway.metrics import metrics_endpoint
from gateway.state import STATE, VERIFIER, GatewayState
from resolvers import CIRCUIT_STATES, PARTNER_CIRCUIT

log = logging.getLogger("vcv.gateway")


async def healthz(request: web.Request) -> web.Response:
    # The process ID tells an operator which of `vcv serve --workers N` answered.
    return web.json_response({"status": "ok", "pid": os.getpid()})


def circuits(state: GatewayState) -> dict[str, str]:
    """Each partner's circuit (closed, half_open, open), also set on the circuit gauge."""
    found = {pid: connector.breaker.state for pid, connector in state.connectors.items()}
    for pid, circuit in found.items():
        PARTNER_CIRCUIT.labels(pid).set(CIRCUIT_STATES[circuit])
    return found


async def readyz(request: web.Request) -> web.Response:
    # Ready means the master answers. A partner with an open circuit does not make the gateway unready:
    # its fields come back as PARTNER_CIRCUIT_OPEN errors and every other partner's data still flows.
    state = request.app[STATE]
    partners = circuits(state)
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
                              "identity": identity, "indexes": indexes, "partners": partners},
                             status=200 if ready else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    circuits(request.app[STATE])  # gauges read now, not at the last readiness check
    return await metrics_endpoint(request)


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
