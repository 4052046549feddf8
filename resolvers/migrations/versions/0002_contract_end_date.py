"""contract_refs.end_date: when a terminated contract ended

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Pages showed "terminated since" with the start date because the master had no end date. Nullable: a running
contract has none, and contracts terminated before this revision keep NULL (unknown) rather than a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table in place for every change; add_column is fine, and batch keeps
    # downgrade (drop_column) working on SQLite too.
    with op.batch_alter_table("contract_refs") as batch:
        batch.add_column(sa.Column("end_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contract_refs") as batch:
        batch.drop_column("end_date")
