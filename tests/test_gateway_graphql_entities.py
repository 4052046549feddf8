"""A GraphQL partner with several entity types joins by configuration alone: a bank subgraph exposing
`BankAccount` and `Loan` (behind the entity interface `BankContract`) gets one fragment per type in one
`_entities` call per batch. The subgraph is the real JS one the peers benchmark uses (bench/peers/subgraphs.cjs,
@apollo/subgraph from tests/node), on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from bench.peers.data import export, vcv_partners
from bench.ports import free_port
from fixtures.alliance import Alliance, generate, partner_record
from fixtures.seed import seed_master
from gateway.app import GatewaySettings, create_app
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import mint
from resolvers.connectors.mapping import to_joint
from resolvers.connectors.partners_file import PartnersConfigError, parse
from tests.gateway_support import TEMPLATE, World

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
CUSTOMERS, SEED = 30, 11
CUSTOMER = "C-000001"  # the showcase: 20 contracts, accounts and loans at the bank among them


@pytest.fixture
async def bank_subgraph(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str], Alliance]]:
    if shutil.which("node") is None or not (NODE_MODULES / "@apollo" / "subgraph").is_dir():
        pytest.fail("node and tests/node/node_modules are needed: run `make node`")
    alliance = generate(CUSTOMERS, SEED)
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    (tmp_path / "export.json").write_text(json.dumps(export(alliance, template)))
    creds = {"credential": "bank-graphql-secret", "admin_credential": "bank-admin-secret"}
    (tmp_path / "credentials.json").write_text(json.dumps({"bank": creds}))
    port = free_port()
    proc = subprocess.Popen(["node", str(ROOT / "bench" / "peers" / "subgraphs.cjs"), str(tmp_path / "export.json"),
                             str(tmp_path / "credentials.json"), f"bank={port}"],
                            env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
                try:
                    async with http.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield url, creds, alliance
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


async def test_bank_subgraph_with_two_entity_types(world: World, tmp_path: Path,
                                                   bank_subgraph: tuple[str, dict[str, str], Alliance]) -> None:
    url, creds, alliance = bank_subgraph
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'master.db'}"
    await seed_master(db_url, customers=CUSTOMERS, seed=SEED)
    raw = world.config()
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    bank = next(e for e in vcv_partners(template, {"bank": url, "life": "", "property": "", "invest": ""},
                                        {"bank": creds["credential"], "life": "", "property": "", "invest": ""}
                                        )["partners"] if e["id"] == "bank")
    assert bank["graphql_typename"] == "BankContract" and bank["graphql_types"] == {"BankAccount": "BankAccount",
                                                                                  "Loan": "Loan"}
    raw["partners"] = [bank if e["id"] == "bank" else e for e in raw["partners"]]
    gateway = web.AppRunner(create_app(GatewaySettings(
        db_url=db_url, jwks_path=world.keys_dir / "jwks.json", partners=parse(raw), agreements_dir=DEMO_AGREEMENTS,
        keys_dir=world.pseudonym_keys)))
    await gateway.setup()
    await web.TCPSite(gateway, "127.0.0.1", 0).start()
    query = """query($id: ID!) { customer(id: $id) { contracts(partner: "bank") { contractId productType
        ... on BankAccount { iban balance { amount currency } overdraftLimit { amount currency } interestRate }
        ... on Loan { principal { amount currency } outstanding { amount currency } interestRate maturityDate } } } }"""
    token = mint(world.keys_dir, role="consultant", consultant_id=alliance.customer(CUSTOMER).consultant_id,
                 purposes=["advisory"])
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{gateway.addresses[0][1]}/graphql",
                                 json={"query": query, "variables": {"id": CUSTOMER}},
                                 headers={"Authorization": f"Bearer {token}", "X-Purpose": "advisory"}) as response:
                body = await response.json()
            async with http.get(f"{url}/_stats",
                                headers={"Authorization": f"Bearer {creds['admin_credential']}"}) as response:
                stats = await response.json()
    finally:
        await gateway.cleanup()

    assert "errors" not in body, body
    refs = sorted((r for r in alliance.contracts if r.customer_id == CUSTOMER and r.partner_id == "bank"),
                  key=lambda r: r.contract_id)
    kinds = {r.product_type for r in refs}
    assert kinds & {"CURRENT_ACCOUNT", "SAVINGS"} and kinds & {"LOAN", "MORTGAGE"}  # both types in one batch
    expected = []
    for ref in refs:
        record = partner_record(alliance, ref)
        shown: dict[str, Any] = {"contractId": ref.contract_id, "productType": ref.product_type}
        if ref.product_type in ("CURRENT_ACCOUNT", "SAVINGS"):
            shown.update(iban=record["iban"], balance=record["balance"], overdraftLimit=record["overdraft_limit"],
                         interestRate=record["interest_rate"])
        else:
            shown.update(principal=record["principal"], outstanding=record["outstanding"],
                         interestRate=record["interest_rate"], maturityDate=record["maturity_date"])
        expected.append(shown)
    assert body["data"]["customer"]["contracts"] == expected
    assert (stats["requests"], stats["batch_calls"]) == (1, 1)  # one _entities call for every bank contract


def _bank_entry(**extra: Any) -> dict[str, Any]:
    return {"partners": [{
        "id": "coop", "name": "Cooperative Bank", "protocol": "graphql", "base_url": "http://127.0.0.1:1",
        "credential": "x", "contract_prefix": "CPB", "batch_path": "/graphql", "graphql_typename": "CoopContract",
        "id_field": "id", "product_field": "code", "products": {"TG": "SAVINGS", "KR": "LOAN"},
        "fields": {"balance": "saldo", "interestRate": "zins", "outstanding": "rest"}, **extra}]}


def test_each_type_may_map_its_own_fields() -> None:
    config = parse(_bank_entry(graphql_types={
        "BankAccount": "Konto", "Loan": {"typename": "Kredit", "fields": {"interestRate": "sollzins"}}}))
    coop = config.partners["coop"]
    account = to_joint(coop, {"id": "CPB-1", "code": "TG", "zins": 1.5, "sollzins": 9.9}, {"interestRate"})
    loan = to_joint(coop, {"id": "CPB-2", "code": "KR", "zins": 1.5, "sollzins": 9.9}, {"interestRate"})
    assert (account.values, loan.values) == ({"interestRate": 1.5}, {"interestRate": 9.9})
    assert coop.fields_of("Loan")["outstanding"].source == "rest"  # shared mapping still applies
    assert "balance" not in coop.fields_of("Loan")  # a BankAccount field is not selected on Kredit


@pytest.mark.parametrize(("extra", "message"), [
    ({"graphql_types": {"BankAccount": "Konto"}}, "no entry for Loan"),
    ({"graphql_types": {"BankAccount": "Konto", "Loan": "Kredit", "Depot": "Depot"}}, "names Depot"),
    ({"graphql_types": {"BankAccount": "Konto", "Loan": {"typename": "Kredit", "fields": {"iban": "iban"}}}},
     "'iban' is not a field of Loan"),
    ({"protocol": "rest", "graphql_types": {"BankAccount": "Konto", "Loan": "Kredit"}}, "only for a graphql"),
])
def test_graphql_types_mistakes_are_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(PartnersConfigError, match=message):
        parse(_bank_entry(**extra))
