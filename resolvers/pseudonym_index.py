"""An index from pseudonyms to customers, so that opening a customer by pseudonym and paging a partner's
customers cost O(log n) in the size of the master instead of one HMAC per customer per request.

Pseudonyms are keyed (one key per owner and consumer, held outside the database), so the index stores no
pseudonym and no key: each row holds an opaque *token*, a keyed HMAC of the pseudonym computed by the caller
(privacy.pseudonyms.index_token), next to the customer ID. Someone reading the database learns which rows
belong to one consumer, not which pseudonym that consumer sees for whom. Tokens are random-looking, so
paging in token order follows nothing about the real IDs either.

The index is derived data, built on first use per (owner, consumer) and extended as the master grows: its
state row remembers the highest customer ID indexed (customer IDs are assigned in increasing order) and a
fingerprint of the key, so a rotated key rebuilds it. Rows of deleted customers are harmless: every read joins
the customers table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers import models

metadata = MetaData()
index_rows = Table(
    "pseudonym_index", metadata,
    Column("owner", String(64), primary_key=True),
    Column("consumer", String(64), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("customer_id", String(32), nullable=False),
)
index_state = Table(
    "pseudonym_index_state", metadata,
    Column("owner", String(64), primary_key=True),
    Column("consumer", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("upto", String(32), nullable=False),  # the highest customer ID indexed
)
BATCH = 5_000

# Computes the tokens of a batch of customer IDs (the caller holds the key).
Tokens = Callable[[Sequence[str]], list[str]]


async def extend(conn: AsyncConnection, owner: str, consumer: str, fingerprint: str, tokens: Tokens) -> int:
    """Bring the index of (owner, consumer) up to the newest customer, in the caller's transaction; returns
    how many rows were added."""
    added = 0
    state = (await conn.execute(select(index_state.c.fingerprint, index_state.c.upto).where(
        index_state.c.owner == owner, index_state.c.consumer == consumer))).first()
    upto = ""
    if state is not None and state.fingerprint == fingerprint:
        upto = state.upto
    elif state is not None:  # the key was rotated: every token changed
        await conn.execute(index_rows.delete().where(index_rows.c.owner == owner,
                                                     index_rows.c.consumer == consumer))
    newest = (await conn.execute(select(func.max(models.CustomerRow.id)))).scalar()
    if newest is None or newest <= upto:
        return 0
    while True:
        ids = list((await conn.execute(select(models.CustomerRow.id).where(models.CustomerRow.id > upto)
                                       .order_by(models.CustomerRow.id).limit(BATCH))).scalars())
        if not ids:
            break
        rows = [{"owner": owner, "consumer": consumer, "token": token, "customer_id": cid}
                for cid, token in zip(ids, tokens(ids), strict=True)]
        await _insert_new(conn, rows)
        added += len(rows)
        upto = ids[-1]
    values = {"owner": owner, "consumer": consumer, "fingerprint": fingerprint, "upto": upto}
    if state is None:
        await _insert_new(conn, [values], table=index_state)
    else:
        await conn.execute(index_state.update().where(index_state.c.owner == owner,
                                                      index_state.c.consumer == consumer).values(values))
    return added


async def _insert_new(conn: AsyncConnection, rows: list[dict[str, Any]], table: Table = index_rows) -> None:
    # Several gateway processes may extend the same index at once: rows another one wrote are skipped.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


def by_token(owner: str, consumer: str) -> Any:
    """The join condition from the index to the customers table for one (owner, consumer)."""
    return and_(index_rows.c.owner == owner, index_rows.c.consumer == consumer,
                index_rows.c.customer_id == models.CustomerRow.id)
