"""resolvers.database: URL handling, per-connection SQLite settings, schema isolation on PostgreSQL, and the
column behaviour the master relies on (foreign keys enforced, cascades, UTC instants) on real databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from resolvers import models
from resolvers.database import (
    DatabaseURLError,
    create_engine,
    current_revision,
    head_revision,
    migrate,
    migrate_async,
    normalise_url,
    session_factory,
)

# --- URL handling -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "driver"), [
    ("sqlite:///tmp/x.db", "sqlite+aiosqlite"),
    ("sqlite+aiosqlite:///tmp/x.db", "sqlite+aiosqlite"),
    ("postgresql://u@h/db", "postgresql+asyncpg"),
    ("postgres://u@h/db", "postgresql+asyncpg"),
    ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
])
def test_plain_urls_are_normalised_to_the_async_drivers(given: str, driver: str) -> None:
    url, schema = normalise_url(given)
    assert url.drivername == driver
    assert schema is None


def test_vcv_schema_is_taken_out_of_the_url_and_other_parameters_stay() -> None:
    url, schema = normalise_url("postgresql://u@h/db?vcv_schema=t_abc&application_name=vcv")
    assert schema == "t_abc"
    assert dict(url.query) == {"application_name": "vcv"}
    # The engine's URL must not carry it either: asyncpg rejects unknown connection parameters.
    assert "vcv_schema" not in create_engine("postgresql://u@h/db?vcv_schema=t_abc").url.query


@pytest.mark.parametrize("bad", [
    "mysql://u@h/db",
    "postgresql+psycopg2://u@h/db",
    "postgresql://u@h/db?vcv_schema=x;drop",
    'postgresql://u@h/db?vcv_schema=a"b',
    "postgresql://u@h/db?vcv_schema=a&vcv_schema=b",
    "sqlite:///x.db?vcv_schema=a",
    "not a url",
])
def test_unsupported_urls_are_refused_clearly(bad: str) -> None:
    with pytest.raises(DatabaseURLError):
        create_engine(bad)


# --- SQLite -------------------------------------------------------------------------------------------------


async def test_sqlite_connections_run_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'nested' / 'master.db'}")  # directory created on demand
    try:
        # Two connections held at once, so the pool must have opened two: the settings are per connection.
        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
                assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 10_000
            assert first.sync_connection is not None and second.sync_connection is not None
            assert first.sync_connection.connection.dbapi_connection is not \
                second.sync_connection.connection.dbapi_connection
    finally:
        await engine.dispose()
    assert (tmp_path / "nested" / "master.db").exists()


@pytest.fixture
def empty_master(empty_db_url: str) -> str:
    return empty_db_url


async def _one_customer(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(models.ConsultantRow).values(id="K-001", name="Ilse Weiß", email="k@rm.example"))
            await conn.execute(insert(models.PartnerRow).values(id="bank", name="Alliance Bank", contract_prefix="BNK"))
            await conn.execute(insert(models.CustomerRow).values(
                id="C-000001", given_name="Zoë", family_name="李", segment="retail", consultant_id="K-001"))
    finally:
        await engine.dispose()


async def test_foreign_key_violations_are_rejected(empty_master: str) -> None:
    await migrate_async(empty_master)
    await _one_customer(empty_master)
    engine = create_engine(empty_master)
    try:
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(models.ContractRow).values(
                    contract_id="BNK-00000001", customer_id="C-999999", partner_id="bank",
                    product_type="SAVINGS", status="active", start_date=date(2020, 1, 1)))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(models.CustomerRow).values(
                    id="C-000002", given_name="A", family_name="B", segment="retail", consultant_id="K-404"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM contract_refs"))).scalar_one() == 0
            assert (await conn.execute(text("SELECT count(*) FROM customers"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_deleting_a_customer_through_the_orm_cascades_in_the_database(empty_master: str) -> None:
    await migrate_async(empty_master)
    await _one_customer(empty_master)
    engine = create_engine(empty_master)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as s:
            s.add(models.ContractRow(contract_id="BNK-00000001", customer_id="C-000001", partner_id="bank",
                                     product_type="SAVINGS", status="active", start_date=date(2020, 1, 1)))
            s.add(models.PartnerCustomerNumberRow(customer_id="C-000001", partner_id="bank", number="B1000013"))
            s.add(models.ConsentRow(customer_id="C-000001", purpose="advisory", granted_at=datetime.now(UTC),
                                 evidence="test"))
        async with sessions.begin() as s:
            customer = await s.get(models.CustomerRow, "C-000001")
            assert customer is not None
            await s.delete(customer)  # the lazy="raise" collections must not be loaded for this
        async with engine.connect() as conn:
            for table in ("contract_refs", "partner_customer_numbers", "consents", "customers"):
                assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0, table
    finally:
        await engine.dispose()


async def test_consent_instants_round_trip_as_utc_and_naive_values_are_refused(empty_master: str) -> None:
    await migrate_async(empty_master)
    await _one_customer(empty_master)
    engine = create_engine(empty_master)
    sessions = session_factory(engine)
    berlin_summer = timezone(timedelta(hours=2))
    granted = datetime(2025, 6, 30, 23, 30, tzinfo=berlin_summer)  # 21:30 UTC, the day before in UTC+2
    try:
        async with sessions.begin() as s:
            s.add(models.ConsentRow(customer_id="C-000001", purpose="advisory", granted_at=granted, evidence="form"))
        async with sessions() as s:
            row = (await s.execute(select(models.ConsentRow))).scalar_one()
            assert row.granted_at == granted
            assert row.granted_at.tzinfo == UTC and row.granted_at.hour == 21
            # Stored as UTC, so range conditions compare instants, not wall clocks, on SQLite too.
            later = datetime(2025, 6, 30, 22, 0, tzinfo=UTC)
            query = select(models.ConsentRow.id).where(models.ConsentRow.granted_at < later)
            assert (await s.execute(query)).scalar_one_or_none() == row.id
        with pytest.raises(StatementError, match="naive datetime"):
            async with sessions.begin() as s:
                s.add(models.ConsentRow(customer_id="C-000001", purpose="service",
                                     granted_at=datetime(2025, 1, 1, 12, 0), evidence="form"))
    finally:
        await engine.dispose()


# --- PostgreSQL schema isolation ------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_vcv_schema_becomes_every_connections_search_path(pg_schema_url: str) -> None:
    schema = normalise_url(pg_schema_url)[1]
    await migrate_async(pg_schema_url)
    engine = create_engine(pg_schema_url, pool_size=2)
    try:
        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert (await conn.execute(text("SELECT current_schema()"))).scalar_one() == schema
        async with engine.connect() as conn:
            placed = (await conn.execute(text(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name = ANY(:names)"
            ), {"names": ["customers", "alembic_version"]})).all()
        # Only our schema has them (other schemas of the shared `test` database may hold their own copies,
        # but not ones this migration created: the schema is brand new and the rows name it).
        assert {(schema, "customers"), (schema, "alembic_version")} <= set(placed)
    finally:
        await engine.dispose()


# --- migrate(): the synchronous entry point -------------------------------------------------------------------


def test_migrate_is_callable_without_an_event_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'master.db'}"
    migrate(url)
    assert asyncio.run(current_revision(url)) == head_revision()


async def test_migrate_also_works_from_inside_a_running_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'master.db'}"
    migrate(url)  # would raise "asyncio.run() cannot be called from a running event loop" without the thread
    assert await current_revision(url) == head_revision()
    with pytest.raises(DatabaseURLError):
        migrate("mysql://nowhere/db")  # errors from the helper thread reach the caller
