"""The connector extension point (docs/connectors.md): a protocol is a `Connector` subclass with one method,
registered in one place that both the partners file's schema and the gateway read. The example protocol is
taken from the docs page as written, registered, and a partner speaking it on loopback is read through the
gateway; a protocol nobody registered is refused when the partners file is read; no partner cookie is kept."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from resolvers import Batch, Connector, PartnersConfigError, build_connectors, parse, protocol_names, register_protocol
from resolvers.connectors import protocols
from tests.gateway_support import World, on_loopback, service_desk_agreement, start_with_partner

DOC = Path(__file__).resolve().parent.parent / "docs" / "connectors.md"

COOP = {
    "CPB-0001": {"konto": "CPB-0001", "art": "TAGESGELD", "iban_nr": "DE02500105170137075030",
                 "saldo": {"amount": "1234.56", "currency": "EUR"}, "zins": 2.25},
    "CPB-0003": {"konto": "CPB-0003", "art": "TAGESGELD", "iban_nr": "DE75512108001245126199",
                 "saldo": {"amount": "50.00", "currency": "EUR"}, "zins": 1.5},
}
AGREEMENT = service_desk_agreement("coop", "Cooperative Bank data-sharing agreement", {
    "BankAccount.contractId": "allow", "BankAccount.iban": "allow", "BankAccount.balance": "allow"})
CONTRACTS = [{"contract_id": cid, "customer_id": "C-000002", "partner_id": "coop", "product_type": "SAVINGS",
              "status": "active", "start_date": date(2020, 1, 1)} for cid in ("CPB-0001", "CPB-0002", "CPB-0003")]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a test registers is gone when it ends: the registry is a copy for the test."""
    monkeypatch.setattr(protocols, "_PROTOCOLS", dict(protocols._PROTOCOLS))


def documented_protocol() -> dict[str, Any]:
    """The example of docs/connectors.md, run as written (it registers itself)."""
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(code) == 1, "docs/connectors.md has one example protocol"
    namespace: dict[str, Any] = {"__name__": "docs_connectors_example"}
    exec(compile(code[0], str(DOC), "exec"), namespace)
    return namespace


async def _ndjson_partner() -> tuple[web.AppRunner, str, list[dict[str, Any]]]:
    """A partner that speaks the documented protocol: GET with the IDs and fields, one JSON record a line."""
    seen: list[dict[str, Any]] = []

    async def contracts(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer coop-secret":
            return web.Response(status=401)
        seen.append({"ids": request.query.getall("id"), "fields": request.query.getall("field", []),
                     "purpose": request.headers.get("X-Purpose")})
        lines = [orjson.dumps(COOP[i]).decode() for i in request.query.getall("id") if i in COOP]
        return web.Response(text="\n".join(lines) + "\n", content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/contracts", contracts)
    runner, url = await on_loopback(app)
    return runner, url, seen


def _entry(url: str, protocol: str = "ndjson") -> dict[str, Any]:
    return {"id": "coop", "name": "Cooperative Bank", "protocol": protocol, "base_url": url,
            "credential": "coop-secret", "contract_prefix": "CPB", "batch_path": "/contracts", "id_field": "konto",
            "product_field": "art", "products": {"TAGESGELD": "SAVINGS"},
            "fields": {"iban": "iban_nr", "balance": "saldo", "interestRate": "zins"}}


async def test_the_documented_protocol_serves_a_partner_through_the_gateway(registry: None, world: World,
                                                                            tmp_path: Path) -> None:
    example = documented_protocol()
    assert "ndjson" in protocol_names() and issubclass(example["NdjsonConnector"], Connector)
    runner, url, seen = await _ndjson_partner()
    runners: list[web.AppRunner] = [runner]
    try:
        gateway = await start_with_partner(world, runners, tmp_path, _entry(url), AGREEMENT, CONTRACTS)
        reply = await gateway.as_role("""{ customer(id: "C-000002") { contracts(partner: "coop") {
            contractId ... on BankAccount { iban balance { amount currency } interestRate } } } }""",
                                      "service_agent", "service")
    finally:
        for each in runners:
            await each.cleanup()

    listed = reply.data["customer"]["contracts"]
    contracts = {c["contractId"]: c for c in listed}
    assert contracts["CPB-0001"] == {"contractId": "CPB-0001", "iban": "DE02500105170137075030",
                                     "balance": {"amount": "1234.56", "currency": "EUR"}, "interestRate": None}
    assert contracts["CPB-0003"]["balance"] == {"amount": "50.00", "currency": "EUR"}
    # One call for the whole batch, with the caller's purpose; the agreement withholds interestRate.
    assert len(seen) == 1 and sorted(seen[0]["ids"]) == ["CPB-0001", "CPB-0002", "CPB-0003"]
    assert seen[0]["purpose"] == "service"
    # CPB-0002, which the partner did not answer, fails alone (and says which partner).
    assert [c["contractId"] for c in listed] == ["CPB-0001", "CPB-0002", "CPB-0003"]
    assert {(e["extensions"]["code"], e["extensions"]["partner"], *e["path"][:3]) for e in reply.errors} == {
        ("PARTNER_BAD_RESPONSE", "coop", "customer", "contracts", 1)}
    assert {r["field"] for r in reply.body["extensions"]["redactions"]} == {"BankAccount.interestRate"}


def test_an_unknown_protocol_is_refused_when_the_partners_file_is_read(registry: None, world: World) -> None:
    raw = world.config()
    raw["partners"].append(_entry("http://127.0.0.1:9", protocol="soap"))
    with pytest.raises(PartnersConfigError) as refused:
        parse(raw, "partners.yaml")
    assert str(refused.value) == (
        f"partners.yaml: partners/{len(raw['partners']) - 1}/protocol: unknown protocol 'soap'; the registered "
        "protocols are graphql, rest (resolvers.register_protocol adds one)")


async def test_the_schema_and_the_gateway_read_the_one_registry(registry: None, world: World) -> None:
    class Soap(Connector):
        async def call_batch(self, batch: Batch) -> list[Any]:
            return []

    raw = world.config()
    raw["partners"].append(_entry("http://127.0.0.1:9", protocol="soap"))
    register_protocol("soap", Soap)
    config = parse(raw)  # the schema offers it now
    async with aiohttp.ClientSession() as session:
        assert type(build_connectors(config, session)["coop"]) is Soap
        # A configuration built in code, not read from a file, is checked by build_connectors itself.
        protocols._PROTOCOLS.pop("soap")
        with pytest.raises(PartnersConfigError, match="partner coop: unknown protocol 'soap'"):
            build_connectors(config, session)


def test_a_protocol_is_a_connector_with_call_batch_under_a_name_taken_once(registry: None) -> None:
    class Unfinished(Connector):
        pass

    class Other(Connector):
        async def call_batch(self, batch: Batch) -> list[Any]:
            return []

    with pytest.raises(TypeError, match="implements call_batch"):
        register_protocol("unfinished", Unfinished)
    with pytest.raises(TypeError, match=r"not a subclass of resolvers\.Connector"):
        register_protocol("dict", dict)  # type: ignore[arg-type]  # what an untyped caller could pass
    with pytest.raises(ValueError, match=r"'rest' is taken by resolvers\.connectors\.rest\.RestConnector"):
        register_protocol("rest", Other)
    with pytest.raises(ValueError, match="lower-case letters"):
        register_protocol("Soap Service", Other)
    register_protocol("other", Other)
    register_protocol("other", Other)  # the same class again changes nothing
    assert protocol_names() == ["graphql", "other", "rest"]


async def test_a_partner_cookie_never_travels_to_the_next_callers_call(world: World, tmp_path: Path) -> None:
    # Every protocol shares the gateway's one partner session: a partner that sets a cookie on one caller's
    # call must not see it come back with another caller's (it would let the partner link the two).
    cookies: list[str | None] = []

    async def batch(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        ids = (await request.json())["ids"]
        response = web.json_response({"contracts": [COOP[i] for i in ids if i in COOP]})
        response.set_cookie("caller", f"seen-{len(cookies)}", max_age=3600)
        return response

    app = web.Application()
    app.router.add_post("/batch", batch)
    runner, url = await on_loopback(app)
    runners: list[web.AppRunner] = [runner]
    try:
        # By name, not by address: a cookie jar keeps no cookies from a bare IP address.
        named = url.replace("127.0.0.1", "localhost")
        gateway = await start_with_partner(world, runners, tmp_path, {**_entry(named, "rest"), "batch_path": "/batch"},
                                           AGREEMENT, CONTRACTS)
        query = '{ customer(id: "C-000002") { contracts(partner: "coop") { contractId ... on BankAccount { iban } } } }'
        replies = [await gateway.as_role(query, "service_agent", "service") for _ in range(2)]
    finally:
        for each in runners:
            await each.cleanup()
    assert [r.data["customer"]["contracts"][0]["iban"] for r in replies] == ["DE02500105170137075030"] * 2
    assert cookies == [None, None]
