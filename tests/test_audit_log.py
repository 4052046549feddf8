"""The audit log's chain on SQLite and PostgreSQL: appends from several processes leave one contiguous chain,
and `vcv audit verify` finds every kind of tampering at the first sequence number it touches."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from privacy.audit.keys import generate, load_public_key, load_signing_key
from privacy.audit.store import AuditLog, AuditSettings
from privacy.audit.verify import export_witness, verify
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


async def test_an_untouched_log_verifies(audit_url: str, keys: tuple[Path, Path], tmp_path: Path) -> None:
    await _log(audit_url, keys, 35)
    result = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "intact: 35 events, 3 signed checkpoints"


@pytest.mark.parametrize(("tamper", "broken_at"), [
    # an event's content edited (the who or why of an access rewritten)
    (["UPDATE audit_events SET body = replace(body, 'allowed', 'refused') WHERE seq = 7"], 7),
    # an event deleted from the middle
    (["DELETE FROM audit_events WHERE seq = 12"], 12),
    # two events swapped
    (["UPDATE audit_events SET seq = -1 WHERE seq = 5", "UPDATE audit_events SET seq = 5 WHERE seq = 6",
      "UPDATE audit_events SET seq = 6 WHERE seq = -1"], 5),
    # an event inserted: the later ones renumbered to make room
    (["UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 20",
      "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1020",
      "INSERT INTO audit_events (seq, prev_hash, hash, recorded_at, body, outcome) SELECT 20, 'x', hash, "
      "recorded_at, body, outcome FROM audit_events WHERE seq = 19"], 20),
    # the customer index edited, so that a customer's access report would miss an event
    (["DELETE FROM audit_event_customers WHERE seq = 9"], 9),
    # a checkpoint's signature replaced
    (["UPDATE audit_checkpoints SET signature = replace(signature, substr(signature, 1, 2), "
      "CASE WHEN substr(signature, 1, 2) = 'aa' THEN 'bb' ELSE 'aa' END) WHERE seq = 20"], 20),
])
async def test_tampering_is_found_at_the_first_touched_event(audit_url: str, keys: tuple[Path, Path],
                                                             tamper: list[str], broken_at: int) -> None:
    await _log(audit_url, keys, 35)
    await _sql(audit_url, *tamper)
    result = _verify_cli(audit_url, "--public-key", str(keys[1]))
    assert result.returncode != 0
    assert f"broken at sequence number {broken_at}:" in result.stderr, result.stderr


async def test_a_cut_tail_is_found_against_the_witness(audit_url: str, keys: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    await _log(audit_url, keys, 35)
    witness = tmp_path / "witness.jsonl"
    engine = create_engine(audit_url)
    try:
        assert await export_witness(engine, witness) == 3
        assert await export_witness(engine, witness) == 0  # only new checkpoints are added
    finally:
        await engine.dispose()
    # Cutting the last 16 events and their checkpoints leaves a chain that is consistent in itself...
    await _sql(audit_url, "DELETE FROM audit_events WHERE seq > 19", "DELETE FROM audit_checkpoints WHERE seq > 19")
    assert _verify_cli(audit_url, "--public-key", str(keys[1])).returncode == 0
    # ...but not with the checkpoints kept outside the database.
    result = _verify_cli(audit_url, "--public-key", str(keys[1]), "--witness", str(witness))
    assert result.returncode != 0 and "broken at sequence number 20:" in result.stderr
    assert "tail was cut" in result.stderr


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
    assert verdict.checkpoints == writers * count // 25
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
    assert both.returncode == 0 and "intact: 25 events, 2 signed checkpoints" in both.stdout, both.stderr
