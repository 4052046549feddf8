"""Pseudonym indexes built ahead of traffic (gateway/indexing.py): at start-up (and `/readyz` not ready until
then), after a reload that rotates a key, by `vcv index build`; one build per index however many requests
arrive while it runs; and the batched token function equal to the one-at-a-time one."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import indexing
from gateway.cli import main as cli
from gateway.lookup import build_index
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.reload import reload_configuration
from gateway.state import STATE
from privacy import Guard
from privacy.pseudonyms import PseudonymKeys, ensure_demo_pseudonym_keys, index_token, index_tokens, key_fingerprint
from privacy.treatments import pseudonym
from resolvers.database import create_engine, session_factory
from resolvers.master import Master
from tests.gateway_support import Gateway, World, private_master, start_gateway

PARTNERS = ("bank", "invest", "life", "property")  # the demo agreements show every partner pseudonyms
PAGE = '{ customers(first: 100) { edges { node { id } } } }'
ONE = 'query($id: ID!) { customer(id: $id) { id } }'


@given(key=st.binary(min_size=16, max_size=100), values=st.lists(st.text(max_size=40), max_size=20))
@settings(max_examples=200, deadline=None)
def test_the_batched_tokens_are_the_one_at_a_time_tokens(key: bytes, values: list[str]) -> None:
    assert index_tokens(key, values) == [index_token(key, pseudonym(v, key)) for v in values]


def _fresh_master(world: World, directory: Path) -> tuple[str, Path]:
    """A private copy of the world's master without any pseudonym index (the shared one has them by now)."""
    url = private_master(world, directory)
    path = Path(url.split("///", 1)[1])
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE IF EXISTS pseudonym_index")
        conn.execute("DROP TABLE IF EXISTS pseudonym_index_state")
    return url, path


def _indexed(path: Path) -> dict[str, tuple[int, str]]:
    """Per consumer: rows in its index and its key's fingerprint."""
    with sqlite3.connect(path) as conn:
        if not conn.execute("select 1 from sqlite_master where name = 'pseudonym_index_state'").fetchone():
            return {}
        state = dict(conn.execute("select consumer, fingerprint from pseudonym_index_state").fetchall())
        rows = dict(conn.execute("select consumer, count(*) from pseudonym_index group by consumer").fetchall())
    return {consumer: (rows.get(consumer, 0), fingerprint) for consumer, fingerprint in state.items()}


@pytest.fixture
async def runners() -> AsyncIterator[list[web.AppRunner]]:
    started: list[web.AppRunner] = []
    yield started
    for runner in started:
        await runner.cleanup()


async def _start(world: World, runners: list[web.AppRunner], **overrides: Any) -> tuple[Gateway, web.Application]:
    gateway = await start_gateway(world, runners, settings_overrides=overrides)
    return gateway, runners[-1].app


async def _readyz(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    async with gateway.http.get(f"{gateway.url}/readyz") as response:
        return response.status, await response.json()


async def _until_built(app: web.Application, runs: int = 1) -> None:
    for _ in range(600):
        if app[indexing.INDEXES].runs >= runs and app[indexing.INDEXES].status == "built":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the indexes were not built: {app[indexing.INDEXES].status}")


async def test_indexes_are_built_at_start_up_and_not_ready_until_then(
        world: World, runners: list[web.AppRunner], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, path = _fresh_master(world, tmp_path)
    release = asyncio.Event()
    build_all = indexing.build_all

    async def held(*args: Any, **kwargs: Any) -> dict[str, int]:
        await release.wait()  # the build "takes long": /readyz meanwhile
        return await build_all(*args, **kwargs)

    monkeypatch.setattr(indexing, "build_all", held)
    gateway, app = await _start(world, runners, db_url=db)
    status, body = await _readyz(gateway)
    assert (status, body["status"], body["indexes"]) == (503, "unavailable", "building")
    assert body["master"] == body["audit"] == "up"  # only the indexes hold it back
    release.set()
    await _until_built(app)
    status, body = await _readyz(gateway)
    assert (status, body["status"], body["indexes"]) == (200, "ready", "built")
    # Built before any request: every partner's index holds every customer, and no request builds again.
    customers = len(world.alliance.customers)
    assert {c: rows for c, (rows, _) in _indexed(path).items()} == dict.fromkeys(PARTNERS, customers)
    master = app[STATE].master
    builds = master.index_builds
    listed = await gateway.as_role(PAGE, "partner", "service", partner_id="life")
    assert len(listed.data["customers"]["edges"]) == len({c.customer_id for c in world.alliance.contracts
                                                          if c.partner_id == "life"})
    assert master.index_builds == builds


async def test_concurrent_first_requests_share_one_build(
        world: World, runners: list[web.AppRunner], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, path = _fresh_master(world, tmp_path)

    async def nothing(*args: Any, **kwargs: Any) -> dict[str, int]:
        return {}

    monkeypatch.setattr(indexing, "build_all", nothing)  # as before this change: the first requests build
    gateway, app = await _start(world, runners, db_url=db)
    master = app[STATE].master
    tokened: list[str] = []
    tokens_of = Guard.index_tokens_of

    def counted(self: Guard, owner: str, values: Sequence[str]) -> list[str] | None:
        tokened.extend(values)
        return tokens_of(self, owner, values)

    monkeypatch.setattr(Guard, "index_tokens_of", counted)
    pages = await asyncio.gather(*(gateway.as_role(PAGE, "partner", "service", partner_id="life") for _ in range(6)))
    assert all(p.status == 200 and not p.errors for p in pages)
    assert len({str(p.data) for p in pages}) == 1 and pages[0].data["customers"]["edges"]
    # One build: each customer's token computed once, not once per waiting request.
    assert master.index_builds == 1
    assert sorted(tokened) == sorted(c.id for c in world.alliance.customers)
    assert _indexed(path)["life"][0] == len(world.alliance.customers)


async def test_a_caller_that_gives_up_does_not_stop_the_build_others_wait_for(world: World, tmp_path: Path) -> None:
    db, path = _fresh_master(world, tmp_path)
    engine = create_engine(db)
    master = Master(session_factory(engine))
    keys = PseudonymKeys.load(["rm"], directory=world.pseudonym_keys)
    try:
        from gateway.policy_loader import load_keys, load_policy
        from resolvers.connectors.partners_file import parse

        policy = load_policy(DEMO_AGREEMENTS, parse(world.config()))
        guard = Guard(policy, load_keys(policy, world.pseudonym_keys), consumer="life", role="partner",
                      purpose="service")
        first = asyncio.ensure_future(build_index(master, guard))
        second = asyncio.ensure_future(build_index(master, guard))
        await asyncio.sleep(0)
        first.cancel()  # a client gone: the build it started goes on for the second caller
        # The second caller waited for that build, then found nothing left to do (had the build been cancelled
        # with the first caller, the second would have had to build everything itself).
        assert await second == 0
        assert master.index_builds == 1
        key = keys.for_consumer("rm", "life")
        assert key is not None
        assert _indexed(path)["life"] == (len(world.alliance.customers), key_fingerprint(key))
    finally:
        await engine.dispose()


async def test_a_reload_with_a_rotated_key_rebuilds_that_index(world: World, runners: list[web.AppRunner],
                                                                 tmp_path: Path) -> None:
    db, path = _fresh_master(world, tmp_path)
    keys_dir = tmp_path / "keys"
    shutil.copytree(world.pseudonym_keys, keys_dir)
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(world.config()))
    gateway, app = await _start(world, runners, db_url=db, keys_dir=keys_dir, partners_file=partners_file)
    await _until_built(app)
    before = _indexed(path)
    holder = next(c.customer_id for c in world.alliance.contracts if c.partner_id == "life")
    old = world.pseudonym(holder, "life")

    # A new key for the master's agreement (rm): every partner's pseudonyms change.
    (keys_dir / "rm.key").unlink()
    ensure_demo_pseudonym_keys(keys_dir, ["rm"])
    assert await reload_configuration(app)
    await _until_built(app, runs=2)
    status, body = await _readyz(gateway)
    assert (status, body["indexes"]) == (200, "built")
    after = _indexed(path)
    assert set(after) == set(before) == set(PARTNERS)
    for consumer in PARTNERS:
        assert after[consumer][0] == len(world.alliance.customers)  # rebuilt whole, the old rows gone
        assert after[consumer][1] != before[consumer][1]  # under the new key
    new_key = PseudonymKeys.load(["rm"], directory=keys_dir).for_consumer("rm", "life")
    assert new_key is not None
    builds = app[STATE].master.index_builds
    found = await gateway.as_role(ONE, "partner", "service", {"id": pseudonym(holder, new_key)}, partner_id="life")
    assert found.data["customer"]["id"] == pseudonym(holder, new_key)
    gone = await gateway.as_role(ONE, "partner", "service", {"id": old}, partner_id="life")
    assert gone.data["customer"] is None
    assert app[STATE].master.index_builds == builds  # the requests found the index ready


def test_vcv_index_build_builds_every_index_once(world: World, tmp_path: Path) -> None:
    db, path = _fresh_master(world, tmp_path)
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(world.config()))
    args = ["index", "build", "--db", db, "--partners", str(partners_file), "--agreements", str(DEMO_AGREEMENTS),
            "--keys-dir", str(world.pseudonym_keys)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    customers = len(world.alliance.customers)
    assert f"indexes to build: {', '.join(PARTNERS)}" in first.output
    for partner in PARTNERS:
        assert f"{partner}: {customers:,} customers indexed in" in first.output
    built = _indexed(path)
    assert {c: rows for c, (rows, _) in built.items()} == dict.fromkeys(PARTNERS, customers)
    # Idempotent: a second run finds everything up to date and changes nothing.
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert all(f"{partner}: up to date" in second.output for partner in PARTNERS)
    assert _indexed(path) == built
    # What a gateway would build finds the same tokens (the index the CLI wrote is the gateway's).
    key = PseudonymKeys.load(["rm"], directory=world.pseudonym_keys).for_consumer("rm", "life")
    assert key is not None
    with sqlite3.connect(path) as conn:
        rows = set(conn.execute("select token, customer_id from pseudonym_index where consumer = 'life'"))
    assert rows == {(index_token(key, pseudonym(c.id, key)), c.id) for c in world.alliance.customers}


def test_vcv_index_build_refuses_a_missing_key(world: World, tmp_path: Path) -> None:
    db, path = _fresh_master(world, tmp_path)
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(world.config()))
    empty = tmp_path / "no-keys"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["index", "build", "--db", db, "--partners", str(partners_file),
                                      "--agreements", str(DEMO_AGREEMENTS), "--keys-dir", str(empty)])
    assert result.exit_code == 1 and "no pseudonym key for rm" in result.output
    assert _indexed(path) == {}


async def test_the_build_on_postgresql_writes_the_same_rows_and_follows_a_rotated_key(
        world: World, pg_schema_url: str, tmp_path: Path) -> None:
    from fixtures.seed import seed_master
    from gateway.policy_loader import load_keys, load_policy
    from resolvers import pseudonym_index
    from resolvers.connectors.partners_file import parse
    from tests.gateway_support import CUSTOMERS, SEED

    await seed_master(pg_schema_url, customers=CUSTOMERS, seed=SEED)
    policy = load_policy(DEMO_AGREEMENTS, parse(world.config()))
    engine = create_engine(pg_schema_url)
    master = Master(session_factory(engine))

    async def stored() -> set[tuple[str, str]]:
        rows = pseudonym_index.index_rows
        async with engine.connect() as conn:
            return set((await conn.execute(rows.select().with_only_columns(rows.c.token, rows.c.customer_id)
                                           .where(rows.c.consumer == "life"))).all())

    def expected(keys: PseudonymKeys) -> set[tuple[str, str]]:
        key = keys.for_consumer("rm", "life")
        assert key is not None
        return {(index_token(key, pseudonym(f"C-{n:06d}", key)), f"C-{n:06d}") for n in range(1, CUSTOMERS + 1)}

    try:
        keys = load_keys(policy, world.pseudonym_keys)
        guard = Guard(policy, keys, consumer="life", role="partner", purpose="service")
        assert await build_index(master, guard) == CUSTOMERS
        assert await build_index(master, guard) == 0  # up to date
        assert await stored() == expected(keys)
        rotated = tmp_path / "rotated"
        shutil.copytree(world.pseudonym_keys, rotated)
        (rotated / "rm.key").unlink()
        ensure_demo_pseudonym_keys(rotated, ["rm"])
        new_keys = load_keys(policy, rotated)
        assert await build_index(master, Guard(policy, new_keys, consumer="life", role="partner",
                                               purpose="service")) == CUSTOMERS
        assert await stored() == expected(new_keys)  # the old key's rows are gone
    finally:
        await engine.dispose()


async def test_a_build_never_mixes_its_rows_into_an_index_another_process_switched_to_another_key(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.policy_loader import load_keys, load_policy
    from resolvers import pseudonym_index
    from resolvers.connectors.partners_file import parse

    db, path = _fresh_master(world, tmp_path)
    monkeypatch.setattr(pseudonym_index, "BATCH", 25)  # 60 customers: three batches
    policy = load_policy(DEMO_AGREEMENTS, parse(world.config()))
    keys = load_keys(policy, world.pseudonym_keys)
    guard = Guard(policy, keys, consumer="life", role="partner", purpose="service")
    batches: list[int] = []
    tokens_of = Guard.index_tokens_of

    def meanwhile(self: Guard, owner: str, values: Sequence[str]) -> list[str] | None:
        batches.append(len(values))
        if len(batches) == 2:  # after the first batch was written: another process rotates to its own key
            with sqlite3.connect(path) as conn:
                conn.execute("delete from pseudonym_index where consumer = 'life'")
                conn.execute("update pseudonym_index_state set fingerprint = 'another-key', upto = '' "
                             "where consumer = 'life'")
        return tokens_of(self, owner, values)

    monkeypatch.setattr(Guard, "index_tokens_of", meanwhile)
    engine = create_engine(db)
    try:
        await build_index(Master(session_factory(engine)), guard)
    finally:
        await engine.dispose()
    key = keys.for_consumer("rm", "life")
    assert key is not None
    # This build saw the switch, started over under its own key, and left exactly its own rows.
    assert _indexed(path)["life"] == (len(world.alliance.customers), key_fingerprint(key))
    with sqlite3.connect(path) as conn:
        rows = set(conn.execute("select token, customer_id from pseudonym_index where consumer = 'life'"))
    assert rows == {(index_token(key, pseudonym(c.id, key)), c.id) for c in world.alliance.customers}
    assert len(batches) > 3  # it did start over
