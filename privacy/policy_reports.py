"""What `vcv policy check | explain | records` print. Plain functions returning text, so the command-line
wiring stays in the gateway and these outputs are testable without a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from privacy.agreements import AgreementError, load_agreements
from privacy.catalogue import Catalogue
from privacy.policy import PolicySet
from privacy.records import build_records, render_markdown
from privacy.vocabulary import PURPOSES, ROLES


def check(directory: Path, catalogue: Catalogue, known_consumers: Iterable[str],
          known_purposes: Iterable[str] = PURPOSES) -> list[str]:
    """Every problem in the agreements as `path:line: message` lines; an empty list means all are valid."""
    try:
        load_agreements(directory, catalogue, known_consumers=known_consumers, known_purposes=known_purposes)
    except AgreementError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def summary(policy: PolicySet) -> str:
    """One line for a successful check, e.g. `5 agreements, 27 rules (bank 6, ...)`."""
    counts = {owner: len(a.rules) for owner, a in sorted(policy.agreements.items())}
    unruled = [o for o in policy.owners() if o not in policy.agreements]
    per_owner = ", ".join(f"{owner} {n}" for owner, n in counts.items())
    text = f"{len(counts)} agreements, {sum(counts.values())} rules ({per_owner})"
    return text + (f"; no agreement (everything denied): {', '.join(unruled)}" if unruled else "")


def explain_table(policy: PolicySet, owner: str, consumer: str, purpose: str, *, role: str | None = None,
                  consents: Iterable[str] | None = None) -> str:
    """An aligned table, one line per field: what `consumer` sees of `owner`'s data for `purpose` and by which
    rule, for a customer without consents and then with each consent that can change it (or, with explicit
    `consents`, for a customer holding exactly those)."""
    if role is None:
        role = consumer if consumer in ROLES else "partner"
    if consents is not None:
        given = frozenset(consents)
        scenarios = [("treatment", given)]
    else:
        scenarios = [("without consent", frozenset[str]())] + [
            (f"with consent {c}", frozenset({c})) for c in policy.consents_that_matter(owner, consumer, role, purpose)]
    header = ["field"]
    for title, _ in scenarios:
        header += [title, "rule"]
    rows: list[list[str]] = []
    for field in policy.fields(owner):
        row = [field]
        for _, active in scenarios:
            explained = policy.explain_row(owner, field, policy.decide(owner, field, consumer, role, purpose, active))
            row += [str(explained.treatment), explained.rule + (f" ({explained.where})" if explained.where else "")]
        rows.append(row)
    title = f"What {consumer} sees of {owner}'s data for {purpose}"
    if consents is not None:
        title += f", with active consents: {', '.join(sorted(consents)) or 'none'}"
    keyed = ""
    if any(cell == "pseudonymize" for row in rows for cell in row[1:]):
        # Which key family a pseudonym comes from decides who can join on it (SPEC §6): say it.
        keyed = (f"\nPseudonyms: keyed per (owner, consumer) = ({owner}, {consumer}), derived from {owner}'s key; "
                 f"stable for {consumer}, different for every other consumer.\n")
    return f"{title}\n\n{_table(header, rows)}\n{keyed}"


def records(policy: PolicySet, fmt: Literal["markdown", "json"] = "markdown") -> str:
    if fmt == "json":
        return json.dumps(build_records(policy), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return render_markdown(build_records(policy))
    raise ValueError(f"unknown format {fmt!r}; use markdown or json")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)
