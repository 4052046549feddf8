"""Logging for every vcv process: one line per event, as text for people or JSON for log shippers, each
line carrying the ID of the request it belongs to.

Callers log codes, IDs, field names and counts, never field values: a value a policy hides must not reach a
log any more than a response."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

# Set by the gateway's request middleware; every task a request starts (loaders, partner calls) inherits it.
REQUEST_ID: ContextVar[str] = ContextVar("vcv_request_id", default="-")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def log_handler(fmt: LogFormat = "text", stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestId())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}", style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"))
    return handler


def configure_logging(fmt: LogFormat = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler(fmt, stream)]
    root.setLevel(level.upper())
    # aiohttp's access log would repeat the gateway's own request line without the caller's role or outcome;
    # alembic's start-up chatter (plugins, DDL mode) would bury what `vcv seed` and `vcv db upgrade` print.
    for noisy in ("aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
