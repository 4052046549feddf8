"""Reading and writing the customer master, always through the caller's row-level visibility."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import asyncpg
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from resolvers import models, pseudonym_index
from resolvers.compiled_read import AsyncpgReader, CompiledRead, Placeholder, RawReader, Steps
from resolvers.database import sqlite_reader
from resolvers.source_errors import MasterUnavailable
from resolvers.values import ContractRef

log = logging.getLogger("vcv.master")
P = ParamSpec("P")
T = TypeVar("T")

SERVICE_PURPOSES = ("service", "complaint")
_WHOLE_ID = re.compile(r"C-\d{6,}")
# An ID no customer has (IDs are `C-` and digits): reads for a lookup that is refused run for it, so a refusal
# costs the same work as a customer who does not exist.
NO_CUSTOMER = "-"
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Visibility:
    """Whose rows a caller may see (SPEC §5). Built by the gateway from the verified token."""

    role: str
    purpose: str
    consultant_id: str | None = None
    customer_id: str | None = None
    partner_id: str | None = None


def visible(v: Visibility) -> ColumnElement[bool]:
    """The row-level rule as one SQL condition on `customers`: default deny."""
    c = models.CustomerRow
    if v.role == "consultant" and v.consultant_id:
        return c.consultant_id == v.consultant_id
    if v.role == "customer" and v.customer_id:
        return c.id == v.customer_id
    if v.role == "partner" and v.partner_id:
        r = models.ContractRow
        return exists().where(r.customer_id == c.id, r.partner_id == v.partner_id)
    if v.role == "service_agent" and v.purpose in SERVICE_PURPOSES:
        return true()
    return false()


def _ref(row: Any) -> ContractRef:
    # An ORM object, a Core row or a compiled read's tuple: each has the contract columns by name.
    return ContractRef(row.contract_id, row.customer_id, row.partner_id, row.product_type, row.status,
                       row.start_date, row.end_date)


def _matching(query: Select[Any], search: str | None, search_in: tuple[str, ...]) -> Select[Any]:
    if not search:
        return query
    c = models.CustomerRow
    if "id" in search_in and _WHOLE_ID.fullmatch(search.strip().upper()):
        # A whole customer ID is looked up by key (O(log n)); no name looks like `C-000123`.
        return query.where(c.id == search.strip().upper())
    pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    columns = [getattr(c, name) for name in search_in]
    return query.where(or_(false(), *(func.lower(col).like(pattern, escape="\\") for col in columns)))


def _consenting(query: Select[Any], purposes: tuple[str, ...] | None) -> Select[Any]:
    """Only customers holding an active consent for one of `purposes` (None: no condition). Lets a listing page
    exactly over the customers the caller will be shown, instead of dropping some after the page was cut."""
    if purposes is None:
        return query
    k, c = models.ConsentRow, models.CustomerRow
    return query.where(exists().where(k.customer_id == c.id, k.purpose.in_(purposes), k.withdrawn_at.is_(None)))


def _limit(first: int) -> int:
    return max(0, min(first, MAX_PAGE))


def _id_page(v: Visibility, search: str | None, first: int, after_id: str | None, search_in: tuple[str, ...],
             consenting: tuple[str, ...] | None, entity: Any) -> Select[Any]:
    """A page of the visible customers in ID order (one more than the page, to tell whether more follow);
    `entity`: the ORM class (objects) or the table (plain rows)."""
    c = models.CustomerRow
    query = select(entity).where(visible(v)).order_by(c.id).limit(_limit(first) + 1)
    if after_id:
        query = query.where(c.id > after_id)
    return _consenting(_matching(query, search, search_in), consenting)


def _token_page(v: Visibility, owner: str, consumer: str, search: str | None, first: int, after_token: str | None,
                search_in: tuple[str, ...], consenting: tuple[str, ...] | None, entity: Any) -> Select[Any]:
    """A page of the visible customers in the order of their index tokens, each row led by its token."""
    rows = pseudonym_index.index_rows
    query = (select(rows.c.token, entity)
             .join(rows, pseudonym_index.by_token(owner, consumer))
             .where(visible(v)).order_by(rows.c.token).limit(_limit(first) + 1))
    if after_token:
        query = query.where(rows.c.token > after_token)
    return _consenting(_matching(query, search, search_in), consenting)


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer with everything a customer view reads from the master, read in one go. The customer,
    consents and consultant are rows read with SQLAlchemy Core: they have the models' attributes (by column
    name) and nothing else (no lazy loading, no session)."""

    customer: models.CustomerRow
    consents: list[models.ConsentRow]
    contracts: list[ContractRef]
    consultant: models.ConsultantRow | None


def _contracts_query(customer_ids: Sequence[str], core: bool = False) -> Select[Any]:
    r = models.ContractRow
    return select(r.__table__ if core else r).where(r.customer_id.in_(customer_ids)).order_by(
        r.customer_id, r.contract_id)


def _consents_query(customer_ids: Sequence[str], core: bool = False) -> Select[Any]:
    k = models.ConsentRow
    return select(k.__table__ if core else k).where(k.customer_id.in_(customer_ids)).order_by(
        k.customer_id, k.purpose, k.id)


_CUSTOMERS = models.CustomerRow.__table__
_CONSULTANTS = models.ConsultantRow.__table__


def _reads_master(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A database failure while reading or writing the master becomes MasterUnavailable: one retryable
    refusal the gateway answers with 503, instead of an internal error next to a half-built view."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (DBAPIError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError,
                ConnectionError) as exc:
            log.warning("customer master unavailable in %s: %s", method.__name__, type(exc).__name__)
            raise MasterUnavailable(str(exc)) from exc

    return guarded


class _ViewReads:
    """The four statements of a customer view for one shape of caller (which branch of `visible` applies),
    compiled once; the caller's IDs and the customer's are filled in per read."""

    def __init__(self, dialect: Any, v: Visibility) -> None:
        who = Visibility(v.role, v.purpose, Placeholder("consultant") if v.consultant_id else None,
                         Placeholder("customer") if v.customer_id else None,
                         Placeholder("partner") if v.partner_id else None)
        self.customer = CompiledRead(select(_CUSTOMERS).where(_CUSTOMERS.c.id == Placeholder("id"), visible(who)),
                                     dialect, "Customer")
        self.consents = CompiledRead(_consents_query([Placeholder("id")], core=True), dialect, "Consent")
        self.contracts = CompiledRead(_contracts_query([Placeholder("id")], core=True), dialect, "Contract")
        self.consultant = CompiledRead(select(_CONSULTANTS).where(_CONSULTANTS.c.id == Placeholder("id")), dialect,
                                       "Consultant")

    def steps(self, v: Visibility, customer_id: str,
              admit: Callable[[models.CustomerRow, list[models.ConsentRow]], bool] | None) -> Steps:
        # The same statements, in the same order, whether or not the customer is found or admitted.
        found = yield self.customer, {"consultant": v.consultant_id, "customer": v.customer_id,
                                      "partner": v.partner_id, "id": customer_id}
        row = found[0] if found else None
        consents = yield self.consents, {"id": row.id if row is not None else NO_CUSTOMER}
        if row is not None and admit is not None and not admit(row, consents):
            row = None
        key = row.id if row is not None else NO_CUSTOMER
        contracts = [_ref(r) for r in (yield self.contracts, {"id": key})]
        consultant_id = row.consultant_id if row is not None and row.consultant_id else NO_CUSTOMER
        consultants = yield self.consultant, {"id": consultant_id}
        if row is None:
            return None
        return CustomerView(row, consents, contracts, consultants[0] if consultants else None)


def _close_reader(raw: Any, engine: Any) -> None:
    if isinstance(raw, RawReader):
        raw.close()
    engine.dispose()


@dataclass(frozen=True, slots=True)
class _IndexBuild:
    fingerprint: str
    since: int  # calls numbered below this were made before the build began
    task: asyncio.Task[int]


class Master:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._index_builds: dict[tuple[str, str], _IndexBuild] = {}  # in flight, per (owner, consumer)
        self._index_calls = 0
        self._index_tables = False
        self.index_builds = 0  # builds that added rows, since start (tests count them)
        engine = sessions.kw["bind"]
        # SQLite: a synchronous engine on the same file: customer views read on its driver directly (RawReader),
        # pages of customers read through it in a worker thread.
        self._reader = reader = sqlite_reader(engine)
        self._raw: RawReader | AsyncpgReader = RawReader(reader) if reader is not None else AsyncpgReader(engine)
        self._view_shapes: dict[tuple[Any, ...], _ViewReads] = {}
        if reader is not None:
            weakref.finalize(self, _close_reader, self._raw, reader)

    @_reads_master
    async def index_pseudonyms(self, owner: str, consumer: str, fingerprint: str, tokens: pseudonym_index.Tokens,
                               progress: pseudonym_index.Progress | None = None) -> int:
        """Bring the pseudonym index of (owner, consumer) up to the newest customer (see pseudonym_index);
        returns how many rows the build this call waited for added.

        Never two builds of one index at once in this process: a call made while one is running waits for it
        (it began before the call, so it may miss a customer added meanwhile) and then shares the next one
        with every call that waited alongside. A build runs as a task of its own: a caller that gives up
        (a client gone, a deadline) does not cancel it for the others."""
        number = self._index_calls
        self._index_calls += 1
        while True:
            running = self._index_builds.get((owner, consumer))
            if running is None:
                build = _IndexBuild(fingerprint, self._index_calls, asyncio.ensure_future(
                    self._build_index(owner, consumer, fingerprint, tokens, progress)))
                self._index_builds[owner, consumer] = build
                build.task.add_done_callback(functools.partial(self._index_built, (owner, consumer), build))
                break
            if running.since > number and running.fingerprint == fingerprint and progress is None:
                build = running  # started after this call, with this key: it covers this call
                break
            await asyncio.wait([running.task])
        return await asyncio.shield(build.task)

    async def _build_index(self, owner: str, consumer: str, fingerprint: str, tokens: pseudonym_index.Tokens,
                           progress: pseudonym_index.Progress | None) -> int:
        engine = self._sessions.kw["bind"]
        if not self._index_tables:
            async with engine.begin() as conn:
                await conn.run_sync(pseudonym_index.metadata.create_all, checkfirst=True)
            self._index_tables = True
        try:
            added = await pseudonym_index.extend(engine, owner, consumer, fingerprint, tokens, progress)
        except pseudonym_index.KeyChanged as exc:  # processes with different keys: retryable once all reloaded
            log.error("%s", exc)
            raise MasterUnavailable(str(exc)) from exc
        if added:
            self.index_builds += 1
        return added

    def _index_built(self, pair: tuple[str, str], build: _IndexBuild, task: asyncio.Task[int]) -> None:
        if self._index_builds.get(pair) is build:
            del self._index_builds[pair]
        if not task.cancelled():
            task.exception()  # retrieved here too: every caller may have gone (each one that waits sees it)

    async def stop_indexing(self) -> None:
        """Cancel the builds in flight (the gateway is stopping): what they committed stays, the rest is
        picked up by the next build."""
        builds = [build.task for build in self._index_builds.values()]
        for task in builds:
            task.cancel()
        await asyncio.gather(*builds, return_exceptions=True)

    @_reads_master
    async def customer_id_by_token(self, owner: str, consumer: str, token: str) -> str | None:
        rows = pseudonym_index.index_rows
        async with self._sessions() as s:
            return (await s.execute(select(rows.c.customer_id).where(
                rows.c.owner == owner, rows.c.consumer == consumer, rows.c.token == token))).scalar()

    @_reads_master
    async def customers_by_token(self, v: Visibility, owner: str, consumer: str, search: str | None, first: int,
                                 after_token: str | None, search_in: tuple[str, ...] = (),
                                 consenting: tuple[str, ...] | None = None,
                                 ) -> tuple[list[tuple[str, models.CustomerRow]], bool]:
        """A page of the visible customers in the order of their index tokens (unrelated to the real IDs);
        `consenting`: only customers with an active consent for one of these purposes."""
        limit = _limit(first)
        query = _token_page(v, owner, consumer, search, first, after_token, search_in, consenting, models.CustomerRow)
        async with self._sessions() as s:
            found = [(token, customer) for token, customer in (await s.execute(query)).all()]
        return found[:limit], len(found) > limit

    @_reads_master
    async def customer_view(self, v: Visibility, customer_id: str,
                            admit: Callable[[models.CustomerRow, list[models.ConsentRow]], bool] | None = None,
                            ) -> CustomerView | None:
        """The customer (if visible and, given `admit`, admitted once their consents are known) with their
        consents, contract references and consultant: one session and one trip into the driver's thread.
        The same four statements run whether or not the customer is found or admitted (for an ID no one has
        otherwise), so the time a lookup takes says nothing about who exists."""

        # Four statements compiled once (_ViewReads), run on the driver itself: SQLAlchemy's work per
        # execution cost more than the reads (about 1 ms of CPU per view on SQLite, against 0.2).
        view: CustomerView | None = await self._raw.read(self._view_reads(v).steps(v, customer_id, admit))
        return view

    def _view_reads(self, v: Visibility) -> _ViewReads:
        shape = (v.role, v.purpose in SERVICE_PURPOSES, bool(v.consultant_id), bool(v.customer_id),
                 bool(v.partner_id))
        reads = self._view_shapes.get(shape)
        if reads is None:
            reads = self._view_shapes[shape] = _ViewReads(self._raw.dialect, v)
        return reads

    @_reads_master
    async def customer_ids(self, v: Visibility, search: str | None = None,
                           search_in: tuple[str, ...] = (), consenting: tuple[str, ...] | None = None) -> list[str]:
        """Every customer ID the caller may see, optionally matching `search` (and with an active consent for
        one of `consenting`): for work that has to look at all of them (resolving or ordering by pseudonyms,
        which cannot be inverted or computed in SQL)."""
        c = models.CustomerRow
        query = _consenting(_matching(select(c.id).where(visible(v)), search, search_in), consenting)
        async with self._sessions() as s:
            return list((await s.execute(query)).scalars())

    @_reads_master
    async def customers_by_ids(self, v: Visibility, ids: Sequence[str]) -> list[models.CustomerRow]:
        """The visible customers among `ids`."""
        async with self._sessions() as s:
            query = select(models.CustomerRow).where(models.CustomerRow.id.in_(ids), visible(v))
            return list((await s.execute(query)).scalars())

    @_reads_master
    async def customers(self, v: Visibility, search: str | None, first: int, after_id: str | None,
                        search_in: tuple[str, ...] = ("id", "given_name", "family_name"),
                        consenting: tuple[str, ...] | None = None) -> tuple[list[models.CustomerRow], bool]:
        """A page ordered by ID. `search_in` names the columns the caller may match on: matching on a
        column whose values the caller may not see would turn search into an oracle for them. `consenting`:
        only customers with an active consent for one of these purposes."""
        query = _id_page(v, search, first, after_id, search_in, consenting, models.CustomerRow)
        async with self._sessions() as s:
            rows = list((await s.execute(query)).scalars())
        limit = _limit(first)
        return rows[:limit], len(rows) > limit

    @_reads_master
    async def customer_views_page(self, v: Visibility, search: str | None, first: int, after_id: str | None,
                                  search_in: tuple[str, ...] = ("id", "given_name", "family_name"),
                                  consenting: tuple[str, ...] | None = None,
                                  ) -> tuple[list[tuple[str, CustomerView]], bool]:
        """The page `customers` reads, each customer with their consents, contracts and consultant (as
        `customer_view` reads one), in one session: one master read for the whole page."""
        query = _id_page(v, search, first, after_id, search_in, consenting, _CUSTOMERS)
        return await self._views_page(query, _limit(first), lambda row: row.id)

    @_reads_master
    async def customer_views_by_token(self, v: Visibility, owner: str, consumer: str, search: str | None,
                                      first: int, after_token: str | None, search_in: tuple[str, ...] = (),
                                      consenting: tuple[str, ...] | None = None,
                                      ) -> tuple[list[tuple[str, CustomerView]], bool]:
        """The page `customers_by_token` reads, each customer with consents, contracts and consultant: one read."""
        query = _token_page(v, owner, consumer, search, first, after_token, search_in, consenting, _CUSTOMERS)
        return await self._views_page(query, _limit(first), lambda row: row.token)

    async def _views_page(self, query: Select[Any], limit: int,
                          key_of: Callable[[Any], str]) -> tuple[list[tuple[str, CustomerView]], bool]:
        def read(conn: Connection) -> tuple[list[tuple[str, CustomerView]], bool]:
            found = list(conn.execute(query))
            page = found[:limit]
            ids = [row.id for row in page] or [NO_CUSTOMER]
            consents: dict[str, list[Any]] = defaultdict(list)
            for consent in conn.execute(_consents_query(ids, core=True)):
                consents[consent.customer_id].append(consent)
            contracts: dict[str, list[ContractRef]] = defaultdict(list)
            for contract in conn.execute(_contracts_query(ids, core=True)):
                contracts[contract.customer_id].append(_ref(contract))
            advisers = {row.consultant_id for row in page if row.consultant_id} or {NO_CUSTOMER}
            consultants = {c.id: c for c in conn.execute(select(_CONSULTANTS).where(_CONSULTANTS.c.id.in_(advisers)))}
            # Core rows carry the models' columns by name, as CustomerView's readers expect (see its docstring).
            views = [(key_of(row), CustomerView(row, consents[row.id], contracts[row.id],  # type: ignore[arg-type]  # Core row
                                                consultants.get(row.consultant_id)))  # type: ignore[arg-type]  # Core row
                     for row in page]
            return views, len(found) > limit

        if self._reader is not None:  # SQLite: every statement in one trip to a worker thread
            with_reader = self._reader

            def on_reader() -> tuple[list[tuple[str, CustomerView]], bool]:
                with with_reader.connect() as conn:
                    return read(conn)

            return await asyncio.to_thread(on_reader)
        async with self._sessions() as s:
            return await s.run_sync(lambda session: read(session.connection()))

    @_reads_master
    async def contracts_of(self, customer_ids: Sequence[str]) -> list[list[ContractRef]]:
        async with self._sessions() as s:
            rows = (await s.execute(_contracts_query(customer_ids))).scalars()
            grouped: dict[str, list[ContractRef]] = defaultdict(list)
            for row in rows:
                grouped[row.customer_id].append(_ref(row))
        return [grouped.get(cid, []) for cid in customer_ids]

    @_reads_master
    async def consents_of(self, customer_ids: Sequence[str]) -> list[list[models.ConsentRow]]:
        async with self._sessions() as s:
            rows = (await s.execute(_consents_query(customer_ids))).scalars()
            grouped: dict[str, list[models.ConsentRow]] = defaultdict(list)
            for row in rows:
                grouped[row.customer_id].append(row)
        return [grouped.get(cid, []) for cid in customer_ids]

    @_reads_master
    async def consultants(self, ids: Sequence[str]) -> list[models.ConsultantRow | None]:
        async with self._sessions() as s:
            rows = {r.id: r for r in (await s.execute(
                select(models.ConsultantRow).where(models.ConsultantRow.id.in_(ids)))).scalars()}
        return [rows.get(i) for i in ids]

    @_reads_master
    async def partners(self) -> list[models.PartnerRow]:
        async with self._sessions() as s:
            return list((await s.execute(select(models.PartnerRow).order_by(models.PartnerRow.id))).scalars())

    @_reads_master
    async def set_consent(self, customer_id: str, purpose: str, granted: bool,
                          evidence: str) -> tuple[models.ConsentRow, bool]:
        """Grant creates a new grant (unless one is active); withdrawal stamps every active grant. Returns the
        consent as it now stands and whether it was active before, read in the same transaction (the audit
        log records the change as before/after)."""
        k = models.ConsentRow
        now = datetime.now(UTC)
        active = and_(k.customer_id == customer_id, k.purpose == purpose, k.withdrawn_at.is_(None))
        async with self._sessions.begin() as s:
            current = (await s.execute(select(k).where(active).order_by(k.id.desc()))).scalars().first()
            was_active = current is not None
            if granted:
                if current is None:
                    current = k(customer_id=customer_id, purpose=purpose, granted_at=now, evidence=evidence)
                    s.add(current)
                    await s.flush()
                return current, was_active
            await s.execute(update(k).where(active).values(withdrawn_at=now))
            if current is None:
                return k(customer_id=customer_id, purpose=purpose, granted_at=now, withdrawn_at=now,
                         evidence=evidence), was_active
            await s.refresh(current)
            return current, was_active


class MasterLoaders:
    """Per-request batching of master reads, so listing 20 customers costs one query per relation."""

    def __init__(self, master: Master) -> None:
        self.contracts = DataLoader(load_fn=master.contracts_of)
        self.consents = DataLoader(load_fn=master.consents_of)
        self.consultants = DataLoader(load_fn=master.consultants)

    def prime(self, view: CustomerView) -> None:
        """Seed the loaders with what `Master.customer_view` read, so resolvers asking again wait for nothing."""
        self.consents.prime(view.customer.id, view.consents)
        self.contracts.prime(view.customer.id, view.contracts)
        if view.customer.consultant_id:
            self.consultants.prime(view.customer.consultant_id, view.consultant)
