"""Audit events out of the database for auditors: JSON Lines (every detail) or CSV (one row per event, the
columns a spreadsheet needs). Like the log itself, an export holds names, codes and rules, never values.

CSV cells are written as text a spreadsheet will not run: a caller chooses some of what is logged (its
`X-Request-ID`, an operation name), and a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
would be taken as a formula. Such a cell gets a leading `'`, the rule the compliance page's export follows
(gateway/static/compliance.js)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

CSV_COLUMNS = ("seq", "recorded_at", "request_id", "subject", "role", "organisation", "purpose", "operation",
               "customers", "partners", "fields_shown", "fields_withheld", "errors", "outcome", "hash")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """`value` as a spreadsheet keeps it: text that would start a formula is prefixed with `'`."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    body = row["body"]
    caller = body.get("caller") or {}
    fields = body.get("fields") or {}
    return {
        "seq": row["seq"], "recorded_at": row["recorded_at"].isoformat(), "request_id": body.get("request_id"),
        "subject": caller.get("subject"), "role": caller.get("role"), "organisation": caller.get("organisation"),
        "purpose": body.get("purpose"), "operation": (body.get("operation") or {}).get("name"),
        "customers": " ".join(body.get("customers") or []),
        "partners": " ".join(f"{p['partner']}:{p['outcome']}" for p in body.get("partners") or []),
        "fields_shown": " ".join(fields.get("shown") or []),
        "fields_withheld": " ".join(f"{w['field']}@{w['rule']}" for w in fields.get("withheld") or []),
        "errors": " ".join(body.get("errors") or []), "outcome": body.get("outcome"), "hash": row["hash"],
    }


def write_events(rows: Iterable[dict[str, Any]], fmt: str, out: TextIO, *, header: bool = True) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        if header:
            writer.writeheader()
        for row in rows:
            writer.writerow({name: spreadsheet_safe(value) for name, value in _csv_row(row).items()})
            count += 1
        return count
    for row in rows:
        out.write(json.dumps({"seq": row["seq"], "recorded_at": row["recorded_at"].isoformat(), "hash": row["hash"],
                              "event": row["body"]}, ensure_ascii=False) + "\n")
        count += 1
    return count
