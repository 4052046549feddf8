"""The Alembic migrations, run from empty on real SQLite and PostgreSQL: they build exactly the schema
models.py describes, are idempotent, and downgrade to nothing."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, inspect

from resolvers import models
from resolvers.database import create_engine, current_revision, downgrade_async, head_revision, migrate_async

MASTER_TABLES = {"consultants", "partners", "customers", "partner_customer_numbers", "contract_refs", "consents"}


@pytest.fixture
def empty_url(empty_db_url: str) -> str:
    return empty_db_url


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


async def _diff(url: str, metadata: MetaData) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_differences, metadata)
    finally:
        await engine.dispose()


async def _tables_and_indexes(url: str) -> tuple[set[str], dict[str, set[str]]]:
    def read(connection: Connection) -> tuple[set[str], dict[str, set[str]]]:
        inspector = inspect(connection)
        tables = set(inspector.get_table_names())
        return tables, {t: {i["name"] for i in inspector.get_indexes(t)} for t in tables & MASTER_TABLES}

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_builds_exactly_the_models(empty_url: str) -> None:
    assert await current_revision(empty_url) is None
    await migrate_async(empty_url)
    assert await current_revision(empty_url) == head_revision()
    tables, indexes = await _tables_and_indexes(empty_url)
    assert tables == MASTER_TABLES | {"alembic_version"}
    assert {"ix_customers_consultant_id", "ix_customers_family_given"} <= indexes["customers"]
    assert {"ix_contract_refs_customer_id", "ix_contract_refs_partner_id"} <= indexes["contract_refs"]
    assert "ix_consents_customer_purpose" in indexes["consents"]
    # Columns, types, nullability, indexes, unique and foreign-key constraints all as models.py says.
    assert await _diff(empty_url, models.Base.metadata) == []


async def test_the_schema_comparison_would_notice_a_drift(empty_url: str) -> None:
    """Guards the test above against passing vacuously (e.g. comparing against an empty schema)."""
    await migrate_async(empty_url)
    drifted = MetaData(naming_convention=models.NAMING_CONVENTION)
    for table in models.Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["customers"].append_column(Column("nickname", String(50)))
    differences = await _diff(empty_url, drifted)
    assert [d[0] for d in differences] == ["add_column"]
    assert differences[0][3].name == "nickname"


async def test_upgrade_is_idempotent_and_downgrade_removes_everything(empty_url: str) -> None:
    await migrate_async(empty_url)
    await migrate_async(empty_url)  # already at head: nothing to do, no error
    assert await current_revision(empty_url) == head_revision()
    await downgrade_async(empty_url, "base")
    assert await current_revision(empty_url) is None
    tables, _ = await _tables_and_indexes(empty_url)
    assert tables <= {"alembic_version"}
    # ... and back up again from there, as an operator rolling forward after a rollback would.
    await migrate_async(empty_url)
    assert await _diff(empty_url, models.Base.metadata) == []


def test_there_is_one_linear_history() -> None:
    from alembic.script import ScriptDirectory

    from resolvers.database import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
