"""Audit events out of the database for auditors: JSON Lines (every detail) or CSV (one row per event, the
columns a spreadsheet needs). Like the log itself, an export holds names, codes and rules, never values."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

CSV_COLUMNS = ("seq", "recorded_at", "request_id", "subject", "role", "organisation", "purpose", "operation",
               "customers", "partners", "fields_shown", "fields_withheld", "errors", "outcome", "hash")


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
            writer.writerow(_csv_row(row))
            count += 1
        return count
    for row in rows:
        out.write(json.dumps({"seq": row["seq"], "recorded_at": row["recorded_at"].isoformat(), "hash": row["hash"],
                              "event": row["body"]}, ensure_ascii=False) + "\n")
        count += 1
    return count
