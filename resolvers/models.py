"""The customer master ("broker pilot"): who the customers are, who advises them, what they consented to,
and which contract at which partner belongs to whom. Contract *values* are never stored here: they stay
at the partners and are fetched live.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Date, DateTime, Dialect, ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: without them PostgreSQL invents names (`..._key`, `..._fkey`) and SQLite
# stores none, so a later migration could not drop or alter a constraint the same way on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every backend.

    PostgreSQL's `timestamptz` keeps the instant, but SQLite has no timezone type: SQLAlchemy writes the
    wall-clock digits and drops the offset, so values written with different offsets would compare wrongly
    and come back naive. Converting to UTC on the way in and tagging UTC on the way out makes both backends
    store and return the same instant. Naive values are refused because their instant is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite returns what was stored (UTC digits, no offset); PostgreSQL returns an aware value.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ConsultantRow(Base):
    __tablename__ = "consultants"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))


class PartnerRow(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contract_prefix: Mapped[str] = mapped_column(String(8), unique=True)


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    segment: Mapped[str] = mapped_column(String(32))
    consultant_id: Mapped[str] = mapped_column(ForeignKey("consultants.id"), index=True)

    # passive_deletes: the database's ON DELETE CASCADE removes the children. Without it, deleting a customer
    # through the ORM would first try to load these lazy="raise" collections and fail.
    contracts: Mapped[list[ContractRow]] = relationship(back_populates="customer", lazy="raise",
                                                        passive_deletes=True)
    consents: Mapped[list[ConsentRow]] = relationship(back_populates="customer", lazy="raise", passive_deletes=True)
    partner_numbers: Mapped[list[PartnerCustomerNumberRow]] = relationship(lazy="raise", passive_deletes=True)

    __table_args__ = (Index("ix_customers_family_given", "family_name", "given_name"),)


class PartnerCustomerNumberRow(Base):
    """The customer's number in a partner's own system (partners do not know our customer IDs)."""

    __tablename__ = "partner_customer_numbers"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("partner_id", "number"),)


class ContractRow(Base):
    __tablename__ = "contract_refs"

    contract_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    product_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    # When a terminated contract ended; null while it runs (and for contracts terminated before this was kept).
    end_date: Mapped[date | None] = mapped_column(Date)

    customer: Mapped[CustomerRow] = relationship(back_populates="contracts", lazy="raise")


class ConsentRow(Base):
    """One grant of consent for one purpose; a withdrawal sets `withdrawn_at`, it never deletes the row."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evidence: Mapped[str] = mapped_column(Text)

    customer: Mapped[CustomerRow] = relationship(back_populates="consents", lazy="raise")

    __table_args__ = (Index("ix_consents_customer_purpose", "customer_id", "purpose"),)
