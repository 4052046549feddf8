"""What one GraphQL operation leaves in the audit log (SPEC §7): who asked, for what purpose, which operation,
which customers it touched, which partners were called and how they answered, which fields were shown and
which withheld under which rule, and the outcome. Never a value: only IDs, names of fields, codes and rules.

The log itself (chain, signatures, writers) is `privacy/audit`; this module only decides what to record."""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from gateway.context import RequestContext
from gateway.identity import Caller

_NAMED = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def _operation(query: str | None, given: str | None) -> dict[str, str | None]:
    """The name the client sent, else the name of the document's only named operation; the text's hash."""
    if not query:
        return {"name": given, "hash": None}
    name, digest = _described(query)
    return {"name": given or name, "hash": digest}


@functools.lru_cache(maxsize=1024)
def _described(query: str) -> tuple[str | None, str]:
    # A client sends the same few texts again and again: the scan and the hash are done once per text.
    names = _NAMED.findall(query)
    return (names[0] if len(names) == 1 else None), hashlib.sha256(query.encode("utf-8")).hexdigest()


def _caller(caller: Caller | None) -> dict[str, Any]:
    if caller is None:
        return {"subject": None, "role": None, "organisation": None}
    return {"subject": caller.subject, "role": caller.role, "organisation": caller.organisation}


def operation_event(request_id: str, context: RequestContext, query: str | None, operation_name: str | None,
                    payload: dict[str, Any]) -> dict[str, Any]:
    codes = sorted({(e.get("extensions") or {}).get("code", "") for e in payload.get("errors") or []})
    has_data = payload.get("data") is not None
    return {
        "time": datetime.now(UTC).isoformat(),
        "request_id": request_id,
        "caller": _caller(context.caller),
        "purpose": context.caller.purpose,
        "operation": _operation(query, operation_name),
        "customers": sorted(context.touched),
        "partners": [{"partner": c.partner, "contracts": c.contracts, "outcome": c.outcome,
                      "latency_ms": c.latency_ms} for c in context.partners.calls],
        "fields": {"shown": sorted(f"{owner}/{field}" for owner, field in context.guard.shown),
                   "withheld": context.guard.as_extension()},
        "errors": codes,
        "outcome": "refused" if not has_data else ("partial" if codes else "allowed"),
        # Recorded even when the response failed later: the change was committed to the master.
        "consent_changes": [c.as_record() for c in context.consent_changes],
    }


def refusal_event(request_id: str, caller: Caller | None, status: int, codes: list[str]) -> dict[str, Any]:
    """An operation refused before any resolver ran (bad token, purpose, malformed request)."""
    return {
        "time": datetime.now(UTC).isoformat(), "request_id": request_id, "caller": _caller(caller),
        "purpose": caller.purpose if caller else None, "operation": None, "customers": [], "partners": [],
        "fields": {"shown": [], "withheld": []}, "errors": codes, "outcome": "refused", "http_status": status,
    }
