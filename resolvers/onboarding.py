"""Onboarding a partner into the customer master: register it (ID, name, contract prefix, as its connector entry
declares them) and import which of its contracts belongs to which customer, from a CSV or JSON file.

Every line is checked before anything is written (the customer exists, the contract ID carries the partner's
prefix and is not already known, the product code is one the connector maps, dates and status are valid), and
all problems are reported at once, each naming its line. Then everything is written in one transaction, or
nothing is."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers import models
from resolvers.connectors.connector_config import ConnectorConfig
from resolvers.database import create_engine
from resolvers.joint import PRODUCT_TYPES

REQUIRED = ("customer_id", "contract_id", "product_code")
OPTIONAL = ("status", "start_date", "end_date")
STATUSES = ("active", "suspended", "terminated")


class OnboardingError(ValueError):
    """Every problem found, one `file:line: message` each; nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # line in the file (CSV: the header is line 1; JSON: the line the record starts on)
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class Report:
    partner: str
    registered: bool  # the partner row was created now (False: it was already there, unchanged)
    contracts: list[dict[str, Any]]  # the rows written (or, in a dry run, that would be)
    dry_run: bool

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        registered = ("would register" if self.dry_run else "registered") if self.registered else "already registered"
        per_type: dict[str, int] = {}
        for row in self.contracts:
            per_type[row["product_type"]] = per_type.get(row["product_type"], 0) + 1
        kinds = ", ".join(f"{n} {t}" for t, n in sorted(per_type.items()))
        customers = len({row["customer_id"] for row in self.contracts})
        text = (f"partner {self.partner}: {registered}; {verb} {len(self.contracts)} contract references "
                f"for {customers} customers" + (f" ({kinds})" if kinds else ""))
        return text + ("\ndry run: nothing was written" if self.dry_run else "")


def read_lines(path: Path) -> list[Line]:
    """The records of a CSV file (header row with the column names) or a JSON file (a list of objects)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OnboardingError([f"{path}: cannot read: {exc}"]) from None
    if path.suffix.lower() == ".json":
        return _json_lines(path, text)
    if path.suffix.lower() == ".csv":
        return _csv_lines(path, text)
    raise OnboardingError([f"{path}: use a .csv or .json file"])


def _csv_lines(path: Path, text: str) -> list[Line]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in (*REQUIRED, *OPTIONAL)]
    if missing or unknown:
        problems = [f"missing column {c!r}" for c in missing] + [f"unknown column {c!r}" for c in unknown]
        raise OnboardingError([f"{path}:1: {p}; columns are {', '.join(REQUIRED)} and optionally "
                               f"{', '.join(OPTIONAL)}" for p in problems])
    reader.fieldnames = header
    lines = []
    for record in reader:
        extra = record.pop(None, None)  # type: ignore[call-overload,unused-ignore]
        values = {k: (v or "").strip() for k, v in record.items()}
        if extra:
            values["__extra__"] = ",".join(extra)
        lines.append(Line(reader.line_num, values))
    return lines


def _json_lines(path: Path, text: str) -> list[Line]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OnboardingError([f"{path}:{exc.lineno}: not valid JSON: {exc.msg}"]) from None
    if not isinstance(data, list):
        raise OnboardingError([f"{path}:1: expected a list of objects with {', '.join(REQUIRED)}"])
    # Line numbers of the objects: each record's opening brace, found in order (json gives no positions).
    starts = _object_lines(text)
    lines = []
    for index, record in enumerate(data):
        number = starts[index] if index < len(starts) else 1
        if not isinstance(record, dict):
            lines.append(Line(number, {"__error__": "expected an object"}))
            continue
        values = {str(k): "" if v is None else str(v).strip() for k, v in record.items()}
        unknown = [k for k in values if k not in (*REQUIRED, *OPTIONAL)]
        if unknown:
            values["__error__"] = f"unknown key(s) {', '.join(map(repr, unknown))}"
        lines.append(Line(number, values))
    return lines


def _object_lines(text: str) -> list[int]:
    """Line of each top-level object's `{` in a JSON array (strings skipped)."""
    starts, depth, line, in_string, escaped = [], 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            escaped = not escaped and ch == "\\"
            if ch == '"' and not escaped:
                in_string = False
            continue
        if ch == '"':
            in_string, escaped = True, False
        elif ch in "[{":
            if ch == "{" and depth == 1:
                starts.append(line)
            depth += 1
        elif ch in "]}":
            depth -= 1
    return starts


def _date(value: str) -> date:
    return date.fromisoformat(value)


def validate(path: Path, lines: Iterable[Line], partner: ConnectorConfig, known_customers: set[str],
             known_contracts: dict[str, str], today: date) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows to write and every problem, `path:line: message`."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    prefix = f"{partner.contract_prefix}-"
    codes = {**partner.products, **{p: p for p in PRODUCT_TYPES if p in partner.products.values()}}
    for line in lines:
        def problem(message: str, number: int = line.number) -> None:
            problems.append(f"{path}:{number}: {message}")

        v = line.values
        if "__error__" in v:
            problem(v["__error__"])
            continue
        if "__extra__" in v:
            problem(f"more values than columns: {v['__extra__']!r}")
            continue
        empty = [c for c in REQUIRED if not v.get(c)]
        if empty:
            problem(f"missing {', '.join(empty)}")
            continue
        customer, contract, code = v["customer_id"], v["contract_id"], v["product_code"]
        status = v.get("status") or "active"
        ok = True
        if customer not in known_customers:
            problem(f"unknown customer {customer}")
            ok = False
        if not contract.startswith(prefix) or len(contract) == len(prefix) or len(contract) > 32:
            problem(f"contract ID {contract!r} does not start with {partner.id}'s prefix {prefix} "
                    "(or is longer than 32 characters)")
            ok = False
        elif contract in seen:
            problem(f"duplicate contract {contract} (first on line {seen[contract]})")
            ok = False
        elif contract in known_contracts:
            problem(f"contract {contract} is already in the master (customer {known_contracts[contract]})")
            ok = False
        seen.setdefault(contract, line.number)
        if code not in codes:
            problem(f"unknown product code {code!r}; {partner.id}'s codes are {', '.join(sorted(codes))}")
            ok = False
        if status not in STATUSES:
            problem(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
            ok = False
        try:
            start = _date(v["start_date"]) if v.get("start_date") else today
            end = _date(v["end_date"]) if v.get("end_date") else None
        except ValueError as exc:
            problem(f"not a date (YYYY-MM-DD): {exc}")
            continue
        if end is not None and end < start:
            problem(f"end_date {end} is before start_date {start}")
            ok = False
        if end is not None and status != "terminated":
            problem(f"end_date given for a contract whose status is {status!r}, not 'terminated'")
            ok = False
        if ok:
            rows.append({"contract_id": contract, "customer_id": customer, "partner_id": partner.id,
                         "product_type": codes[code], "status": status, "start_date": start, "end_date": end})
    return rows, problems


async def onboard(db_url: str, partner: ConnectorConfig, contracts_file: Path | None, *, dry_run: bool = False,
                  today: date | None = None) -> Report:
    """Register `partner` (if new) and import `contracts_file` into the master at `db_url`, all or nothing.
    Raises OnboardingError listing every problem; then the master is exactly as before."""
    lines = read_lines(contracts_file) if contracts_file is not None else []
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            registered = await _register(conn, partner)
            customers = set((await conn.execute(select(models.CustomerRow.id))).scalars())
            known = {r.contract_id: r.customer_id for r in (await conn.execute(
                select(models.ContractRow.contract_id, models.ContractRow.customer_id)))}
            rows, problems = validate(contracts_file or Path("-"), lines, partner, customers, known,
                                      today or date.today())
            if problems:
                raise OnboardingError(problems)  # leaving the block rolls the registration back too
            if rows and not dry_run:
                await conn.execute(insert(models.ContractRow), rows)
            if dry_run:
                await conn.rollback()
    finally:
        await engine.dispose()
    return Report(partner.id, registered, rows, dry_run)


async def _register(conn: AsyncConnection, partner: ConnectorConfig) -> bool:
    p = models.PartnerRow
    existing = (await conn.execute(select(p.id, p.name, p.contract_prefix).where(p.id == partner.id))).first()
    if existing is not None:
        if existing.contract_prefix != partner.contract_prefix:
            raise OnboardingError([f"partner {partner.id} is registered with prefix {existing.contract_prefix}, "
                                   f"its connector entry says {partner.contract_prefix}"])
        return False
    clash = (await conn.execute(select(p.id).where(p.contract_prefix == partner.contract_prefix))).scalar()
    if clash is not None:
        raise OnboardingError([f"prefix {partner.contract_prefix} already belongs to partner {clash}"])
    await conn.execute(insert(p).values(id=partner.id, name=partner.name, contract_prefix=partner.contract_prefix))
    return True
