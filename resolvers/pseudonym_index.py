"""An index from pseudonyms to customers, so that opening a customer by pseudonym and paging a partner's
customers cost O(log n) in the size of the master instead of one HMAC per customer per request.

Pseudonyms are keyed (one key per owner and consumer, held outside the database), so the index stores no
pseudonym and no key: each row holds an opaque *token*, a keyed HMAC of the pseudonym computed by the caller
(privacy.pseudonyms.index_token), next to the customer ID. Someone reading the database learns which rows
belong to one consumer, not which pseudonym that consumer sees for whom. Tokens are random-looking, so
paging in token order follows nothing about the real IDs either.

The index is derived data, built per (owner, consumer) and extended as the master grows: its state row
remembers the highest customer ID indexed (customer IDs are assigned in increasing order) and a fingerprint of
the key, so a rotated key rebuilds it. Rows of deleted customers are harmless: every read joins the customers
table. The gateway builds it ahead of traffic (gateway/indexing.py); a request extends it with what is new.

Building is batched for speed: the tokens of a batch are computed off the event loop, the rows go to the
driver's own executemany (SQLite) or one statement over arrays (PostgreSQL), and each batch is committed
with the state row advanced, so a long build holds no write lock for long, can be resumed where it stopped,
and several processes may build at once (rows another one wrote are skipped). A batch is only written while
the state row still names this key: a process with another key cannot mix its rows into the index."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from resolvers import models

metadata = MetaData()
index_rows = Table(
    "pseudonym_index", metadata,
    Column("owner", String(64), primary_key=True),
    Column("consumer", String(64), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("customer_id", String(32), nullable=False),
    # SQLite: the rows live in the primary key's B-tree, not in a second one beside it (half the pages to
    # write when building). Tables created before keep their layout and work the same.
    sqlite_with_rowid=False,
)
index_state = Table(
    "pseudonym_index_state", metadata,
    Column("owner", String(64), primary_key=True),
    Column("consumer", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("upto", String(32), nullable=False),  # the highest customer ID indexed
)
# Each batch is sorted by token and committed: its rows land all over the index's B-tree, so the fewer the
# batches, the fewer times every page is rewritten (bench/index_build.py); 100k rows hold ~20 MB at once.
BATCH = 100_000

# Computes the tokens of a batch of customer IDs (the caller holds the key); runs in a worker thread.
Tokens = Callable[[Sequence[str]], list[str]]
# Told (rows indexed so far, rows this build has to index) after each batch: for `vcv index build`.
Progress = Callable[[int, int], None]
_REBUILDS = 3  # times a build starts over because another process switched the index to another key


class KeyChanged(RuntimeError):
    """Another process switched this index to another key while this one was building it."""


async def extend(engine: AsyncEngine, owner: str, consumer: str, fingerprint: str, tokens: Tokens,
                 progress: Progress | None = None) -> int:
    """Bring the index of (owner, consumer) up to the newest customer; returns how many rows were added.
    Commits as it goes (see the module's description)."""
    for _ in range(_REBUILDS):
        try:
            return await _extend(engine, owner, consumer, fingerprint, tokens, progress)
        except KeyChanged:
            continue
    raise KeyChanged(f"the pseudonym index of ({owner}, {consumer}) keeps being rebuilt with another key: "
                     "do all gateway processes hold the same pseudonym keys?")


async def _extend(engine: AsyncEngine, owner: str, consumer: str, fingerprint: str, tokens: Tokens,
                  progress: Progress | None) -> int:
    mine = and_(index_state.c.owner == owner, index_state.c.consumer == consumer)
    async with engine.begin() as conn:
        state = (await conn.execute(select(index_state.c.fingerprint, index_state.c.upto).where(mine))).first()
        upto = ""
        if state is None:
            await _insert_new(conn, [{"owner": owner, "consumer": consumer, "fingerprint": fingerprint,
                                      "upto": upto}], table=index_state)
        elif state.fingerprint != fingerprint:  # the key was rotated: every token changed
            await conn.execute(index_rows.delete().where(index_rows.c.owner == owner,
                                                         index_rows.c.consumer == consumer))
            await conn.execute(index_state.update().where(mine).values(fingerprint=fingerprint, upto=upto))
        else:
            upto = state.upto
        newest = (await conn.execute(select(func.max(models.CustomerRow.id)))).scalar()
        if newest is None or newest <= upto:
            return 0
        total = 0
        if progress is not None:
            total = (await conn.execute(select(func.count()).where(models.CustomerRow.id > upto))).scalar() or 0
    # A pipeline: the next batch's tokens are computed (in a worker thread, so the event loop keeps answering)
    # while this batch is written (in the driver's thread, which lets go of the GIL while SQLite works).
    added, ids = 0, await _ids_after(engine, upto)
    computing = asyncio.ensure_future(asyncio.to_thread(tokens, ids)) if ids else None
    try:
        while computing is not None:
            computed = await computing
            following = await _ids_after(engine, ids[-1])
            computing = asyncio.ensure_future(asyncio.to_thread(tokens, following)) if following else None
            async with engine.begin() as conn:
                # First the state row (which also takes its lock): still this key? Then the batch and the new
                # high-water mark commit together.
                advanced = await conn.execute(
                    index_state.update().where(mine, index_state.c.fingerprint == fingerprint)
                    .values(upto=case((index_state.c.upto < ids[-1], ids[-1]), else_=index_state.c.upto)))
                if advanced.rowcount != 1:
                    raise KeyChanged(f"({owner}, {consumer})")
                await _insert_batch(conn, owner, consumer, ids, computed)
            added += len(ids)
            if progress is not None:
                progress(added, max(total, added))
            ids = following
    finally:
        if computing is not None and not computing.done():
            computing.cancel()
    return added


async def _ids_after(engine: AsyncEngine, upto: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(models.CustomerRow.id).where(models.CustomerRow.id > upto)
                                        .order_by(models.CustomerRow.id).limit(BATCH))).scalars())


async def _insert_batch(conn: AsyncConnection, owner: str, consumer: str, ids: Sequence[str],
                        tokens: Sequence[str]) -> None:
    """The batch's rows, through the driver: no SQLAlchemy statement or parameter processing per row. Rows
    another process wrote are skipped (ON CONFLICT DO NOTHING, both backends)."""
    if len(tokens) != len(ids):
        raise ValueError("one token per customer ID")
    if conn.dialect.name == "postgresql":
        # One statement over two arrays: one round trip for the whole batch.
        await conn.exec_driver_sql(
            "INSERT INTO pseudonym_index (owner, consumer, token, customer_id) "
            "SELECT $1, $2, token, customer_id FROM unnest($3::varchar[], $4::varchar[]) AS batch(token, customer_id) "
            "ON CONFLICT DO NOTHING", (owner, consumer, list(tokens), list(ids)))
    else:
        # In token order, so the B-tree of the primary key is filled page by page rather than at random.
        await conn.exec_driver_sql(
            "INSERT INTO pseudonym_index (owner, consumer, token, customer_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING", sorted((owner, consumer, t, cid) for t, cid in zip(tokens, ids, strict=True)))


async def _insert_new(conn: AsyncConnection, rows: list[dict[str, Any]], table: Table = index_rows) -> None:
    # Several gateway processes may create the same state row at once: the second one is skipped.
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
