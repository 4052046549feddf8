"""The customer master ("broker pilot"): who the customers are, who advises them, what they consented to,
and which contract at which partner belongs to whom. Contract *values* are never stored here: they stay
at the partners and are fetched live.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Consultant(Base):
    __tablename__ = "consultants"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contract_prefix: Mapped[str] = mapped_column(String(8), unique=True)


class Customer(Base):
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

    contracts: Mapped[list[ContractRef]] = relationship(back_populates="customer", lazy="raise")
    consents: Mapped[list[Consent]] = relationship(back_populates="customer", lazy="raise")
    partner_numbers: Mapped[list[PartnerCustomerNumber]] = relationship(lazy="raise")

    __table_args__ = (Index("ix_customers_family_given", "family_name", "given_name"),)


class PartnerCustomerNumber(Base):
    """The customer's number in a partner's own system (partners do not know our customer IDs)."""

    __tablename__ = "partner_customer_numbers"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("partner_id", "number"),)


class ContractRef(Base):
    __tablename__ = "contract_refs"

    contract_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    product_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)

    customer: Mapped[Customer] = relationship(back_populates="contracts", lazy="raise")


class Consent(Base):
    """One grant of consent for one purpose; a withdrawal sets `withdrawn_at`, it never deletes the row."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence: Mapped[str] = mapped_column(Text)

    customer: Mapped[Customer] = relationship(back_populates="consents", lazy="raise")

    __table_args__ = (Index("ix_consents_customer_purpose", "customer_id", "purpose"),)
