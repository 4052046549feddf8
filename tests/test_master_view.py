"""The customer view read (`Master.customer_view`): on SQLite it runs statements compiled once on the raw
driver (resolvers/compiled_read.py), on PostgreSQL through SQLAlchemy Core. Both must give the same view,
with the same types (dates, UTC instants), honour the row-level rule for every kind of caller, and read
for no one when a lookup is refused after the customer's row was checked (`admit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from fixtures.seed import seed_master
from resolvers import NO_CUSTOMER, Master, Visibility, create_engine, session_factory
from resolvers.compiled_read import CompiledRead

SEED = 7


@pytest.fixture
async def master(tmp_path: Path) -> AsyncIterator[Master]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'master.db'}"
    await seed_master(url, customers=40, seed=SEED)
    engine = create_engine(url)
    yield Master(session_factory(engine))
    await engine.dispose()


def _core(master: Master) -> Master:
    """The same master with the compiled raw path switched off: every read through SQLAlchemy Core."""
    core = Master(master._sessions)
    core._raw = None
    return core


def _plain(view: Any) -> Any:
    if view is None:
        return None
    return (tuple(view.customer), [tuple(c) for c in view.consents], view.contracts,
            None if view.consultant is None else tuple(view.consultant))


@contextmanager
def statements() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    run = CompiledRead.run

    def traced(self: CompiledRead, conn: Any, values: Any) -> list[Any]:
        seen.append((self.sql, tuple(self.bind(values))))
        return run(self, conn, values)

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, tuple(parameters)))

    CompiledRead.run = traced  # type: ignore[method-assign]
    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        CompiledRead.run = run  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", record)


async def test_the_compiled_read_gives_the_view_sqlalchemy_gives_for_every_kind_of_caller(master: Master) -> None:
    core = _core(master)
    some = await core.customer_view(Visibility("service_agent", "service"), "C-000003")
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
            raw, plain = await master.customer_view(caller, customer_id), await core.customer_view(caller, customer_id)
            assert _plain(raw) == _plain(plain), (caller, customer_id)
            seen += raw is not None
    assert seen >= 5  # the comparison covered views that were found, not only refusals

    view = await master.customer_view(Visibility("service_agent", "service"), "C-000003")
    assert view is not None and view.consents and view.contracts
    assert all(isinstance(c.granted_at, datetime) and c.granted_at.tzinfo == UTC for c in view.consents)
    assert all(isinstance(c.start_date, date) for c in view.contracts)
    assert view.customer.birth_date is None or isinstance(view.customer.birth_date, date)
    assert view.consultant is not None and view.consultant.id == view.customer.consultant_id


@pytest.mark.parametrize("path", ["compiled", "core"])
async def test_a_customer_refused_after_the_row_check_reads_what_a_missing_one_reads(master: Master,
                                                                                    path: str) -> None:
    reader = master if path == "compiled" else _core(master)
    agent = Visibility("service_agent", "service")
    await reader.customer_view(agent, "C-999999")  # warm: compiled statements, connections

    with statements() as refused:
        view = await reader.customer_view(agent, "C-000003", admit=lambda row, consents: False)
    with statements() as missing:
        assert await reader.customer_view(agent, "C-999999", admit=lambda row, consents: True) is None
    assert view is None
    assert [sql for sql, _ in refused] == [sql for sql, _ in missing] and len(refused) == 4
    # After the row-level check (the first statement), everything ran for no customer.
    assert not any("C-000003" in params for _, params in refused[2:])
    assert all(NO_CUSTOMER in params for _, params in refused[2:])


async def test_a_database_gone_underneath_is_master_unavailable(tmp_path: Path) -> None:
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
