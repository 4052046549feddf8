"""A real alliance on loopback for gateway tests: a seeded SQLite master, the four partner simulators and
gateways built on demand (each test may tune the connector configuration)."""

from __future__ import annotations

import asyncio
import copy
import shutil
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from sqlalchemy import insert

from fixtures.alliance import Alliance, generate, partner_record
from fixtures.partners.runner import RunningPartners, start_partners
from fixtures.seed import seed_master
from gateway import indexing
from gateway.app import GatewaySettings, create_app
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import ensure_demo_signing_keys, mint
from privacy.audit.keys import load_public_key
from privacy.audit.store import AuditLog
from privacy.audit.store import metadata as audit_tables
from privacy.audit.verify import Verdict, verify
from privacy.pseudonyms import PseudonymKeys, ensure_demo_pseudonym_keys
from privacy.treatments import pseudonym
from resolvers import models
from resolvers.connectors.partners_file import parse
from resolvers.database import create_engine

CUSTOMERS, SEED = 60, 11
TEMPLATE = Path(__file__).resolve().parent.parent / "fixtures" / "partners.yaml"


# The showcase customer: 20 contracts across all four partners and an active lead_management consent.
SHOWCASE = "C-000001"


def consultant_of(world: World, customer_id: str) -> str:
    return world.alliance.customer(customer_id).consultant_id


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


@dataclass
class Gateway:
    url: str
    keys_dir: Path
    http: aiohttp.ClientSession

    def token(self, role: str, purposes: list[str], **ids: str) -> str:
        return mint(self.keys_dir, role=role, purposes=purposes, **ids)

    async def post(self, query: str, *, token: str | None, purpose: str | None,
                   variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if purpose is not None:
            sent["X-Purpose"] = purpose
        async with self.http.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                  headers=sent) as response:
            body = await response.json(content_type=None)
            return Reply(response.status, body, dict(response.headers))

    async def as_role(self, query: str, role: str, purpose: str, variables: dict[str, Any] | None = None,
                      **ids: str) -> Reply:
        return await self.post(query, token=self.token(role, [purpose], **ids), purpose=purpose,
                               variables=variables)


def account_ibans(world: World, customer_id: str) -> list[str]:
    """The IBANs of the customer's bank accounts as the bank holds them; never empty, so a check that none of
    them leaked really looked at some."""
    ibans = [partner_record(world.alliance, ref)["iban"] for ref in world.alliance.contracts
             if ref.customer_id == customer_id and ref.product_type in ("CURRENT_ACCOUNT", "SAVINGS")]
    assert ibans, f"{customer_id} has no bank account to check"
    return ibans


def private_master(world: World, directory: Path) -> str:
    """A copy of the world's SQLite master for a test that changes it (a consent, the audit log), so that
    other tests keep seeing the shared one as seeded. Its audit log starts empty (the gateway creates it on
    first use): what the test finds there is what the test did, however many tests ran before it."""
    copy = directory / "master.db"
    with sqlite3.connect(world.db_url.split("///", 1)[1]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        for table in reversed(audit_tables.sorted_tables):
            target.execute(f'DROP TABLE IF EXISTS "{table.name}"')
    return f"sqlite+aiosqlite:///{copy}"


def free_port() -> int:
    """A port for a gateway started as a subprocess (which cannot report a port 0 back)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def audit_chain(db_url: str, public_key: Path) -> tuple[Verdict, list[str]]:
    """The audit log's verdict and the request ID of every event in it, in order."""
    engine = create_engine(db_url)
    try:
        verdict = await verify(engine, load_public_key(public_key))
        return verdict, [event["body"]["request_id"] for event in await AuditLog(engine, None).read()]
    finally:
        await engine.dispose()


async def wait_ready(http: aiohttp.ClientSession, url: str, timeout_s: float = 10.0) -> None:
    """Until `url` (a /readyz or /healthz of a process just started) answers 200."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        try:
            async with http.get(url) as response:
                if response.status == 200:
                    return
        except (OSError, aiohttp.ClientError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not become ready in {timeout_s} s")


@dataclass
class World:
    alliance: Alliance
    partners: RunningPartners
    db_url: str
    keys_dir: Path
    http: aiohttp.ClientSession
    pseudonym_keys: Path

    def pseudonym(self, value: str, consumer: str, owner: str = "rm") -> str:
        """How `consumer` (a partner ID, or a role), shown `owner`'s IDs only as pseudonyms, knows this customer
        (or contract): one key per (owner, consumer), so every consumer knows it by a different pseudonym."""
        keys = PseudonymKeys.load([owner], directory=self.pseudonym_keys)
        key = keys.for_consumer(owner, consumer)
        assert key is not None
        return pseudonym(value, key)

    def config(self, **per_partner: dict[str, Any]) -> dict[str, Any]:
        raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
        for entry in raw["partners"]:
            running = self.partners.partners[entry["id"]]
            entry.update(base_url=running.url, credential=running.credential)
            entry.update(per_partner.get(entry["id"], {}))
        return raw

    async def stats(self, partner: str) -> dict[str, Any]:
        running = self.partners.partners[partner]
        async with self.http.get(f"{running.url}/_stats",
                                 headers={"Authorization": f"Bearer {running.admin_credential}"}) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def calls(self) -> dict[str, int]:
        return {pid: (await self.stats(pid))["batch_calls"] for pid in self.partners.partners}

    async def reset(self) -> None:
        for running in self.partners.partners.values():
            auth = {"Authorization": f"Bearer {running.admin_credential}"}
            async with self.http.post(f"{running.url}/_faults", json={"mode": "none", "latency_ms": 0,
                                                                       "jitter_ms": 0, "error_rate": 0.0},
                                      headers=auth) as response:
                assert response.status == 200, await response.text()
            async with self.http.post(f"{running.url}/_stats/reset", headers=auth) as response:
                assert response.status == 200, await response.text()

    async def fault(self, partner: str, **faults: Any) -> None:
        running = self.partners.partners[partner]
        async with self.http.post(f"{running.url}/_faults", json=faults,
                                  headers={"Authorization": f"Bearer {running.admin_credential}"}) as response:
            assert response.status == 200, await response.text()


@pytest.fixture(scope="session")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    base = tmp_path_factory.mktemp("world")
    db_url = f"sqlite+aiosqlite:///{base / 'master.db'}"
    await seed_master(db_url, customers=CUSTOMERS, seed=SEED)
    alliance = generate(CUSTOMERS, SEED)
    partners = await start_partners(alliance)
    keys_dir = base / "keys"
    ensure_demo_signing_keys(keys_dir)
    pseudonym_keys = ensure_demo_pseudonym_keys(base / "pseudonym-keys", ["rm", "bank", "life", "property", "invest"])
    async with aiohttp.ClientSession() as http:
        yield World(alliance, partners, db_url, keys_dir, http, pseudonym_keys)
    await partners.stop()


async def on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """`app` served on a free loopback port: its runner (to clean up) and its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def start_gateway(world: World, runners: list[web.AppRunner], raw_config: dict[str, Any] | None = None,
                        settings_overrides: dict[str, Any] | None = None, **per_partner: dict[str, Any]) -> Gateway:
    """A gateway against `world` on a free loopback port; `runners` collects it for cleanup."""
    settings_overrides = settings_overrides or {}
    raw = copy.deepcopy(raw_config) if raw_config is not None else world.config(**per_partner)
    fields: dict[str, Any] = {"db_url": world.db_url, "jwks_path": world.keys_dir / "jwks.json",
                              "partners": parse(raw), "keys_dir": world.pseudonym_keys}
    settings = GatewaySettings(**{**fields, **settings_overrides})
    runner, url = await on_loopback(create_app(settings))
    runners.append(runner)
    return Gateway(url, world.keys_dir, world.http)


async def indexes_settled(app: web.Application, timeout_s: float = 60.0) -> None:
    """Until the start-up build of the pseudonym indexes (gateway/indexing.py) is over, built or failed, as a
    load balancer waits for /readyz: a test's traffic then meets the gateway as callers do, and statements the
    build runs in the background do not mix with the ones a test counts."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while app[indexing.INDEXES].status == "building":
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the pseudonym indexes were still building after {timeout_s} s")
        await asyncio.sleep(0.02)


def service_desk_agreement(owner: str, description: str, fields: dict[str, str]) -> str:
    """A partner's data-sharing agreement (YAML) with one rule: service agents, for service, see `fields`."""
    return yaml.safe_dump({"owner": owner, "version": 1, "description": description, "rules": [
        {"id": "service-desk", "consumers": ["service_agent"], "purposes": ["service"], "fields": fields}]})


async def start_with_partner(world: World, runners: list[web.AppRunner], directory: Path, entry: dict[str, Any],
                             agreement: str, contracts: list[dict[str, Any]]) -> Gateway:
    """A gateway over a master of its own that knows one more partner than the world: `entry` (its connector
    entry, added to the world's), its data-sharing agreement (YAML text; without one, default deny hides every
    field it supplies) and its contract references in the master."""
    db_url = f"sqlite+aiosqlite:///{directory / 'master.db'}"
    await seed_master(db_url, customers=20, seed=5)
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(insert(models.PartnerRow).values(id=entry["id"], name=entry["name"],
                                                            contract_prefix=entry["contract_prefix"]))
        await conn.execute(insert(models.ContractRow), contracts)
    await engine.dispose()
    raw = world.config()
    raw["partners"].append(entry)
    agreements = directory / "agreements"
    shutil.copytree(DEMO_AGREEMENTS, agreements)
    (agreements / f"{entry['id']}.yaml").write_text(agreement, encoding="utf-8")
    return await start_gateway(world, runners, raw, {"db_url": db_url, "agreements_dir": agreements})


# The two execution paths: the planner, and strawberry alone (the planner off). A test module that sets
# `BOTH_PATHS = True` runs every gateway test on both (the privacy, audit, access, fan-out, fault and hostile
# suites, where a difference would matter); every other gateway test runs on the planner, the default.
PATHS = ("planner", "strawberry")


@pytest.fixture
def gateway_path(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "planner")


def parametrise_paths(metafunc: pytest.Metafunc) -> None:
    """For conftest's pytest_generate_tests: both paths where the module asks for them."""
    if "gateway_path" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_PATHS", False):
        metafunc.parametrize("gateway_path", PATHS, indirect=True)


@pytest.fixture
async def make_gateway(world: World, gateway_path: str) -> AsyncIterator[Callable[..., Any]]:
    """Start a gateway against `world`; keyword arguments tune a partner's connector entry."""
    runners: list[web.AppRunner] = []
    await world.reset()

    async def start(raw_config: dict[str, Any] | None = None, settings_overrides: dict[str, Any] | None = None,
                    **per_partner: dict[str, Any]) -> Gateway:
        overrides = {"planner": gateway_path == "planner", **(settings_overrides or {})}
        gateway = await start_gateway(world, runners, raw_config, overrides, **per_partner)
        await indexes_settled(runners[-1].app)
        return gateway

    yield start
    for runner in runners:
        await runner.cleanup()
    await world.reset()


@pytest.fixture
async def gateway(make_gateway: Callable[..., Any]) -> Gateway:
    return await make_gateway()


@pytest.fixture(params=["sqlite", "postgresql"])
async def gateway_on_each_master(request: pytest.FixtureRequest, make_gateway: Callable[..., Any]) -> Gateway:
    """The same gateway against the embedded SQLite master and against PostgreSQL, the production path. A test
    module runs on both by overriding `gateway` with this fixture."""
    if request.param == "sqlite":
        return await make_gateway()
    return await make_gateway(settings_overrides={"db_url": request.getfixturevalue("pg_master_url")})
