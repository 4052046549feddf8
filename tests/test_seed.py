"""fixtures.seed: the synthetic alliance written into real SQLite files and PostgreSQL schemas.

Same seed, same bytes (across files and backends); a realistic spread; refusal to seed twice; atomicity;
and `vcv seed` as a user runs it, in a real process."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

import fixtures.seed as seed_module
from fixtures.alliance import PARTNERS, generate
from fixtures.seed import SeedError, dump_master, is_seeded, is_seeded_url, seed_master
from resolvers import models
from resolvers.database import create_engine, migrate_async

VCV = [sys.executable, "-m", "gateway.cli"]


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _dump(url: str) -> bytes:
    engine = create_engine(url)
    try:
        return await dump_master(engine)
    finally:
        await engine.dispose()


def _rows(dump: bytes, table: str) -> list[dict[str, object]]:
    records = (json.loads(line) for line in dump.decode().splitlines())
    return [r["row"] for r in records if r["table"] == table]


# --- determinism -----------------------------------------------------------------------------------------


async def test_same_seed_gives_identical_databases_and_another_seed_does_not(tmp_path: Path) -> None:
    counts_a = await seed_master(_sqlite(tmp_path / "a.db"), customers=80, seed=3)
    counts_b = await seed_master(_sqlite(tmp_path / "b.db"), customers=80, seed=3)
    await seed_master(_sqlite(tmp_path / "c.db"), customers=80, seed=4)
    alliance = generate(80, 3)
    assert counts_a == counts_b == {"consultants": len(alliance.consultants), "customers": 80,
                                    "contracts": len(alliance.contracts), "consents": len(alliance.consents)}
    dump_a, dump_b, dump_c = [await _dump(_sqlite(tmp_path / f"{n}.db")) for n in "abc"]
    assert dump_a == dump_b
    for table in ("customers", "contract_refs", "consents", "partner_customer_numbers"):
        assert _rows(dump_a, table) == _rows(dump_b, table)
        assert _rows(dump_a, table) != _rows(dump_c, table), table
    # The dump really holds every row, not a summary that two different databases could share.
    assert len(_rows(dump_a, "contract_refs")) == counts_a["contracts"]
    assert len(_rows(dump_a, "consents")) == counts_a["consents"]
    assert {r["contract_id"] for r in _rows(dump_a, "contract_refs")} == {c.contract_id for c in alliance.contracts}


async def test_the_master_matches_the_generator_field_by_field(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "m.db")
    await seed_master(url, customers=40, seed=9)
    alliance = generate(40, 9)
    dump = await _dump(url)
    assert _rows(dump, "partners") == sorted(
        ({"id": pid, "name": p["name"], "contract_prefix": p["prefix"]} for pid, p in PARTNERS.items()),
        key=lambda r: r["id"])
    customers = {r["id"]: r for r in _rows(dump, "customers")}
    for c in alliance.customers:
        row = customers[c.id]
        assert (row["given_name"], row["family_name"], row["segment"], row["consultant_id"]) == \
            (c.given_name, c.family_name, c.segment, c.consultant_id)
        assert row["birth_date"] == (c.birth_date.isoformat() if c.birth_date else None)
        assert (row["email"], row["phone"]) == (c.email, c.phone)
        address = dataclasses.astuple(c.address) if c.address else (None, None, None, None)
        assert (row["street"], row["postal_code"], row["city"], row["country"]) == address
    numbers = {(r["customer_id"], r["partner_id"]): r["number"] for r in _rows(dump, "partner_customer_numbers")}
    assert numbers == {(c.id, p): n for c in alliance.customers for p, n in c.partner_numbers.items()}
    consents = [(r["customer_id"], r["purpose"], r["granted_at"], r["withdrawn_at"], r["evidence"])
                for r in _rows(dump, "consents")]
    assert consents == [(k.customer_id, k.purpose, f"{k.granted_at.isoformat()}T00:00:00+00:00",
                         f"{k.withdrawn_at.isoformat()}T00:00:00+00:00" if k.withdrawn_at else None, k.evidence)
                        for k in alliance.consents]


# --- a realistic spread -------------------------------------------------------------------------------------


async def test_the_seeded_master_has_a_realistic_spread(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "spread.db")
    await seed_master(url, customers=300, seed=7)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            c, r = models.CustomerRow, models.ContractRow
            per_customer = dict((await conn.execute(
                select(c.id, func.count(r.contract_id)).outerjoin(r, r.customer_id == c.id).group_by(c.id))).all())
            partners_per_customer = dict((await conn.execute(
                select(r.customer_id, func.count(func.distinct(r.partner_id))).group_by(r.customer_id))).all())
            names = (await conn.execute(select(c.id, c.given_name, c.family_name).order_by(c.id))).all()
            nulls = {col: (await conn.execute(select(func.count()).where(getattr(c, col).is_(None)))).scalar_one()
                     for col in ("birth_date", "email", "phone", "street", "city")}
            consents = (await conn.execute(select(models.ConsentRow))).all()
            number_partners = set((await conn.execute(
                select(models.PartnerCustomerNumberRow.customer_id, models.PartnerCustomerNumberRow.partner_id))).all())
            contract_partners = set((await conn.execute(select(r.customer_id, r.partner_id).distinct())).all())
    finally:
        await engine.dispose()

    assert len(per_customer) == 300
    without = [cid for cid, n in per_customer.items() if n == 0]
    assert 0.04 * 300 <= len(without) <= 0.25 * 300  # a real book has dormant customers, but not most
    spread = Counter(partners_per_customer.values())
    assert spread[1] + spread[2] + spread[3] >= 0.8 * len(partners_per_customer)
    assert spread[4] >= 1
    assert max(per_customer.values()) >= 40  # the heavy holders (family offices, small firms)
    assert per_customer["C-000001"] == 20 and partners_per_customer["C-000001"] == 4  # the showcase

    # Unicode survives the round trip unchanged (no normalisation, no mojibake), including non-Latin script.
    assert [tuple(n) for n in names] == [(p.id, p.given_name, p.family_name) for p in generate(300, 7).customers]
    everything = "".join(g + f for _, g, f in names)
    assert "李" in everything and any(ch in everything for ch in "üøłşđő")

    for column, count in nulls.items():
        assert 0 < count < 300, column  # optional fields really are optional, but mostly filled
    # Partners know a customer under their own number exactly where the customer has contracts there.
    assert number_partners == contract_partners

    assert consents and all(k.granted_at.tzinfo == UTC and k.granted_at.timetz() == time(0, tzinfo=UTC)
                            for k in consents)
    withdrawn = [k for k in consents if k.withdrawn_at is not None]
    assert 0 < len(withdrawn) < len(consents)
    assert all(k.withdrawn_at > k.granted_at and k.withdrawn_at.tzinfo == UTC for k in withdrawn)


# --- PostgreSQL --------------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgresql_holds_the_same_bytes_as_sqlite_and_refuses_a_second_seed(
        pg_schema_url: str, tmp_path: Path) -> None:
    lite = _sqlite(tmp_path / "m.db")
    assert await seed_master(pg_schema_url, customers=120, seed=11) == \
        await seed_master(lite, customers=120, seed=11)
    pg_dump = await _dump(pg_schema_url)
    assert pg_dump == await _dump(lite)
    assert await is_seeded_url(pg_schema_url)
    with pytest.raises(SeedError, match=r"database already seeded \(120 customers\); use an empty database"):
        await seed_master(pg_schema_url, customers=120, seed=11)
    assert await _dump(pg_schema_url) == pg_dump


@pytest.mark.postgres
async def test_consents_added_after_seeding_postgresql_get_fresh_ids(pg_schema_url: str) -> None:
    """The seed lets the database number consents; explicit ids would leave PostgreSQL's sequence at 1."""
    counts = await seed_master(pg_schema_url, customers=30, seed=2)
    engine = create_engine(pg_schema_url)
    try:
        async with engine.begin() as conn:
            new_id = (await conn.execute(insert(models.ConsentRow).values(
                customer_id="C-000001", purpose="service", granted_at=func.now(), evidence="portal")
                .returning(models.ConsentRow.id))).scalar_one()
    finally:
        await engine.dispose()
    assert new_id == counts["consents"] + 1


# --- refusing and failing safely ------------------------------------------------------------------------------


async def test_reseeding_is_refused_with_a_clear_message_and_changes_nothing(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "m.db")
    engine = create_engine(url)
    try:
        assert not await is_seeded(engine)  # not even migrated yet
        await seed_master(url, customers=60, seed=3)
        assert await is_seeded(engine)
    finally:
        await engine.dispose()
    before = await _dump(url)
    for attempt in ({"customers": 60, "seed": 3}, {"customers": 10, "seed": 99}):
        with pytest.raises(SeedError) as raised:
            await seed_master(url, **attempt)
        assert str(raised.value) == "database already seeded (60 customers); use an empty database"
    assert await _dump(url) == before


async def test_a_master_with_other_rows_but_no_customers_is_refused_too(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "m.db")
    await migrate_async(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(models.PartnerRow).values(id="coop", name="Coop Bank", contract_prefix="CPB"))
        assert not await is_seeded(engine)
    finally:
        await engine.dispose()
    with pytest.raises(SeedError, match=r"not empty \(1 partners\)"):
        await seed_master(url, customers=5, seed=1)


async def test_a_failure_halfway_rolls_everything_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = generate(30, 5)
    # The last contract repeats the first one's ID: the failure hits after every other table was inserted.
    broken = dataclasses.replace(real, contracts=[*real.contracts, real.contracts[0]], index={})
    monkeypatch.setattr(seed_module, "generate", lambda customers, seed: broken)
    url = _sqlite(tmp_path / "m.db")
    with pytest.raises(SeedError, match="rolled back, nothing was written"):
        await seed_master(url, customers=30, seed=5)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            for table in seed_module.TABLES:
                assert (await conn.execute(text(f"SELECT count(*) FROM {table.name}"))).scalar_one() == 0, table
    finally:
        await engine.dispose()
    monkeypatch.undo()
    assert (await seed_master(url, customers=30, seed=5))["customers"] == 30  # and the database is still usable


async def test_bad_arguments_are_seed_errors(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="unsupported database URL scheme"):
        await seed_master("mysql://nowhere/db", customers=5, seed=1)
    with pytest.raises(SeedError, match="at least 1"):
        await seed_master(_sqlite(tmp_path / "m.db"), customers=0, seed=1)


# --- the command line ---------------------------------------------------------------------------------------


def test_vcv_seed_cli_prints_counts_and_refuses_a_second_run(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "cli.db")
    upgraded = subprocess.run([*VCV, "db", "upgrade", "--db", url], capture_output=True, text=True, timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    # A migrated but empty master is not "seeded": the first seed goes ahead.
    first = subprocess.run([*VCV, "seed", "--customers", "60", "--seed", "3", "--db", url],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    alliance = generate(60, 3)
    assert first.stdout.strip() == (f"consultants={len(alliance.consultants)} customers=60 "
                                    f"contracts={len(alliance.contracts)} consents={len(alliance.consents)}")

    second = subprocess.run([*VCV, "seed", "--customers", "60", "--seed", "3", "--db", url],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    assert "database already seeded (60 customers); use an empty database" in second.stderr
    assert "Traceback" not in second.stderr
    assert re.fullmatch(r"Error: .+\n", second.stderr)
