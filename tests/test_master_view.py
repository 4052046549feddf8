"""The customer view read (`Master.customer_view`) runs statements compiled once on the driver itself
(resolvers/compiled_read.py: sqlite3 in a reader thread, asyncpg on PostgreSQL). It must give what the ORM
reads of the same master give, with the same types (dates, UTC instants), honour the row-level rule for
every kind of caller, and read for no one when a lookup is refused after the customer's row was checked
(`admit`). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.seed import seed_master
from resolvers import NO_CUSTOMER, Master, Visibility, create_engine, models, session_factory
from tests.master_reads import master_statements

SEED = 7
CUSTOMERS, CONSENTS, CONSULTANTS = (models.CustomerRow.__table__, models.ConsentRow.__table__,
                                    models.ConsultantRow.__table__)


@pytest.fixture
async def master(empty_db_url: str) -> AsyncIterator[Master]:
    await seed_master(empty_db_url, customers=40, seed=SEED)
    engine = create_engine(empty_db_url)
    yield Master(session_factory(engine))
    await engine.dispose()


def _columns(row: Any, table: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, c.key) for c in table.columns)


async def _by_orm(master: Master, v: Visibility, customer_id: str) -> Any:
    """The same view from the master's ORM reads (the listing's), as plain tuples: the oracle."""
    found = await master.customers_by_ids(v, [customer_id])
    if not found:
        return None
    row = found[0]
    [consents], [contracts], [consultant] = (await master.consents_of([row.id]), await master.contracts_of([row.id]),
                                             await master.consultants([row.consultant_id]))
    return (_columns(row, CUSTOMERS), [_columns(c, CONSENTS) for c in consents], contracts,
            None if consultant is None else _columns(consultant, CONSULTANTS))


def _plain(view: Any) -> Any:
    if view is None:
        return None
    return (tuple(view.customer), [tuple(c) for c in view.consents], view.contracts,
            None if view.consultant is None else tuple(view.consultant))


async def test_the_compiled_read_gives_what_the_orm_reads_give_for_every_kind_of_caller(master: Master) -> None:
    some = await master.customer_view(Visibility("service_agent", "service"), "C-000003")
    assert some is not None
    partner = some.contracts[0].partner_id
    callers = [
        Visibility("service_agent", "service"),
        Visibility("service_agent", "advisory"),  # not a service purpose: nobody
        Visibility("consultant", "advisory", consultant_id=some.customer.consultant_id),
        Visibility("consultant", "advisory", consultant_id="K-999"),
        Visibility("customer", "own", customer_id="C-000003"),
        Visibility("customer", "own", customer_id="C-000004"),
        Visibility("partner", "service", partner_id=partner),
        Visibility("partner", "service", partner_id="nobody"),
        Visibility("consultant", "advisory"),  # no consultant ID: default deny
    ]
    seen = 0
    for caller in callers:
        for customer_id in ("C-000003", "C-000004", "C-999999", NO_CUSTOMER):
            view = await master.customer_view(caller, customer_id)
            assert _plain(view) == await _by_orm(master, caller, customer_id), (caller, customer_id)
            seen += view is not None
    assert seen >= 5  # the comparison covered views that were found, not only refusals

    view = await master.customer_view(Visibility("service_agent", "service"), "C-000003")
    assert view is not None and view.consents and view.contracts
    assert all(isinstance(c.granted_at, datetime) and c.granted_at.tzinfo == UTC for c in view.consents)
    assert all(isinstance(c.start_date, date) for c in view.contracts)
    assert view.customer.birth_date is None or isinstance(view.customer.birth_date, date)
    assert view.consultant is not None and view.consultant.id == view.customer.consultant_id


async def test_a_customer_refused_after_the_row_check_reads_what_a_missing_one_reads(master: Master) -> None:
    reader = master
    agent = Visibility("service_agent", "service")
    await reader.customer_view(agent, "C-999999")  # warm: compiled statements, connections

    with master_statements() as refused:
        view = await reader.customer_view(agent, "C-000003", admit=lambda row, consents: False)
    with master_statements() as missing:
        assert await reader.customer_view(agent, "C-999999", admit=lambda row, consents: True) is None
    assert view is None
    assert [sql for sql, _ in refused] == [sql for sql, _ in missing] and len(refused) == 4
    # After the row-level check (the first statement), everything ran for no customer.
    assert not any("C-000003" in params for _, params in refused[2:])
    assert all(NO_CUSTOMER in params for _, params in refused[2:])


async def test_a_sqlite_file_that_is_no_database_is_master_unavailable(tmp_path: Path) -> None:
    from resolvers import MasterUnavailable

    url = f"sqlite+aiosqlite:///{tmp_path / 'master.db'}"
    await seed_master(url, customers=3, seed=SEED)
    engine = create_engine(url)
    master = Master(session_factory(engine))
    try:
        (tmp_path / "master.db").unlink()
        (tmp_path / "master.db").write_bytes(b"this is not a database" * 100)
        with pytest.raises(MasterUnavailable):
            await master.customer_view(Visibility("service_agent", "service"), "C-000001")
    finally:
        await engine.dispose()


async def test_a_sqlite_read_that_would_wait_for_a_lock_gives_up_at_once(tmp_path: Path) -> None:
    # A customer view reads SQLite on the event loop's thread (resolvers/compiled_read.py, RawReader): where
    # it would have to wait for a lock, it fails as the master being unavailable within its short bound,
    # instead of holding every other request for the engine's ten-second busy timeout.
    import sqlite3
    import time

    from resolvers import MasterUnavailable

    url = f"sqlite+aiosqlite:///{tmp_path / 'master.db'}"
    await seed_master(url, customers=3, seed=SEED)
    engine = create_engine(url)
    master = Master(session_factory(engine))
    hog = sqlite3.connect(tmp_path / "master.db", isolation_level=None)
    try:
        v = Visibility("service_agent", "service")
        # In WAL mode only a writer in exclusive locking mode, there before the reader, locks readers out.
        hog.execute("PRAGMA locking_mode=EXCLUSIVE")
        hog.execute("BEGIN EXCLUSIVE")
        hog.execute("UPDATE customers SET segment = segment")
        started = time.monotonic()
        with pytest.raises(MasterUnavailable):
            await master.customer_view(v, "C-000001")
        assert time.monotonic() - started < 2
        hog.close()  # the lock goes with it
        assert (await master.customer_view(v, "C-000001")) is not None  # and the master answers again
    finally:
        hog.close()
        await engine.dispose()
