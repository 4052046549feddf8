"""`vcv serve`: one process, or N worker processes on one port under gunicorn's arbiter.

Every worker is a whole gateway (its own database pools, partner sessions, breakers); they share nothing
but the databases, and the audit log is built for several writers, so all of them append to one chain.
Signals to the parent: SIGTERM stops gracefully (in-flight requests finish and their events are committed,
partner sessions close), SIGHUP makes every worker re-read the partners file and agreements in place —
validated first, an invalid file keeps the running configuration (gateway/reload.py)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import sys
from typing import Any

import uvloop
from aiohttp import web
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

from gateway import collector
from gateway.app import GatewaySettings, create_app
from gateway.identity import IdentitySettings
from gateway.metrics import worker_exited
from gateway.operations import TrustedOperations
from gateway.serve_config import ServeConfig
from privacy import AgreementError, PseudonymKeyError
from privacy.audit.keys import load_signing_key
from resolvers import load_partners

log = logging.getLogger("vcv.serve")


def gateway_settings(config: ServeConfig) -> GatewaySettings:
    return GatewaySettings(
        db_url=config.database_url, jwks_path=config.jwks, partners=load_partners(config.partners),
        agreements_dir=config.agreements, keys_dir=config.keys_dir, max_body_bytes=config.max_body_bytes,
        max_query_cost=config.max_query_cost, introspection=config.introspection, graphiql=config.graphiql,
        trusted_operations=TrustedOperations.load(config.operations) if config.operations else None,
        audit_db_url=config.audit_database_url, audit_signing_key=load_signing_key(config.audit_key_file),
        audit_checkpoint_every=config.audit_checkpoint_every, audit_commit_timeout_s=config.audit_commit_timeout_s,
        audit_witness=config.audit_witness.resolve() if config.audit_witness else None, partners_file=config.partners,
        reload_on_sighup=True, traces_endpoint=config.traces_endpoint, identity=identity_settings(config),
        planner=config.planner)


def identity_settings(config: ServeConfig) -> IdentitySettings:
    return IdentitySettings(
        jwks_file=config.jwks, jwks_url=config.jwks_url, issuer=config.issuer, audience=config.audience,
        max_token_lifetime_s=config.max_token_lifetime_s, leeway_s=config.token_leeway_s, claims=config.claims,
        jwks_refresh_s=config.jwks_refresh_s, jwks_refetch_min_s=config.jwks_refetch_min_s,
        token_cache_size=config.token_cache_size)


def run(config: ServeConfig) -> None:
    settings = gateway_settings(config)
    _can_listen(config.host, config.port)  # before the app is built, and said plainly
    app = create_app(settings)  # in the parent too: a bad agreement stops start-up before any worker forks
    if config.workers == 1:
        app.cleanup_ctx.append(collector.tuned)
        # uvloop: the same asyncio, a faster event loop (partner calls, the HTTP server).
        web.run_app(app, host=config.host, port=config.port, shutdown_timeout=config.graceful_timeout_s,
                    access_log=None, loop=uvloop.new_event_loop())
        return
    collector.before_fork()
    if _SOCKET_PER_WORKER:  # gunicorn's own line names no address then: the workers bind
        log.info("listening at http://%s:%d, a socket per worker", config.host, config.port)
    _Workers(config, settings, {
        "bind": f"{config.host}:{config.port}",
        "workers": config.workers,
        "worker_class": "aiohttp.GunicornUVLoopWebWorker",
        "graceful_timeout": math.ceil(config.graceful_timeout_s),
        "timeout": max(30, int(config.graceful_timeout_s) + 5),
        "keepalive": 75,
        # A listening socket per worker (SO_REUSEPORT): the kernel spreads new connections evenly over them.
        # One shared socket lets whichever worker wakes first accept a whole burst of connections, and a
        # client's keep-alive pool then stays on that worker (40 opened at once: 35-39 on one of three).
        "reuse_port": _SOCKET_PER_WORKER,
        "accesslog": None,  # the gateway logs one line per request itself, without query text
        "logger_class": _Logs,
        "proc_name": "vcv-serve",
        "control_socket_disable": True,  # one shared path per user: two gateways on a host would clash
        "child_exit": lambda server, worker: worker_exited(worker.pid),
    }).run()


# Linux balances connections over SO_REUSEPORT sockets; macOS accepts the option without balancing, so
# elsewhere the workers share one socket.
_SOCKET_PER_WORKER = sys.platform.startswith("linux")


def _can_listen(host: str, port: int) -> None:
    """Workers bind with SO_REUSEPORT, which would let them join the sockets of a gateway already running on
    the port (a stale one, with other agreements) and silently split its traffic with it. A plain bind first
    refuses that; as every `vcv serve` checks so, neither can join the other later either."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the workers: TIME_WAIT is no owner
            probe.bind(address)
    except OSError as exc:  # in use, a privileged port, an address not on this host
        raise ValueError(f"cannot listen at {host}:{port}: {exc.strerror or exc}") from None


class _Logs(Logger):
    """gunicorn's own lines go through the root logger, so `--log-format json` applies to them too."""

    def setup(self, cfg: Any) -> None:
        self.error_log.propagate = True
        self.error_log.setLevel(logging.INFO)
        self.error_log.addFilter(_no_empty_address)
        self.access_log.propagate = True


def _no_empty_address(record: logging.LogRecord) -> bool:
    # With a socket per worker the parent listens on nothing and gunicorn would say "Listening at:  (pid)";
    # vcv.serve's own line names the address.
    return not (record.msg == "Listening at: %s (%s)" and isinstance(record.args, tuple) and not record.args[0])


class _Arbiter(Arbiter):
    def handle_hup(self) -> None:
        # gunicorn would replace the workers; a reload in place validates first and keeps serving on error.
        log.info("SIGHUP: %d workers re-read the partners file and agreements", len(self.WORKERS))
        for pid in list(self.WORKERS):
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile: its replacement reads the files
                os.kill(pid, signal.SIGHUP)


class _Workers(BaseApplication):
    def __init__(self, config: ServeConfig, settings: GatewaySettings, options: dict[str, Any]) -> None:
        self._config = config
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    # gunicorn's stubs know WSGI and ASGI apps only; its aiohttp worker runs an aiohttp Application.
    def load(self) -> web.Application:  # type: ignore[override]
        # Called in each worker after the fork: every worker owns its loop, pools and sessions. A worker
        # started later (one replaced after a crash) reads the files as they are now, like a reload would,
        # and like a refused reload keeps what the others run when they do not validate.
        try:
            app = create_app(gateway_settings(self._config))
        except (ValueError, AgreementError, PseudonymKeyError) as exc:
            log.error("configuration files do not validate, this worker starts with those of start-up: %s", exc)
            app = create_app(self._settings)
        app.cleanup_ctx.append(collector.tuned)
        return app

    def run(self) -> None:
        _Arbiter(self).run()
