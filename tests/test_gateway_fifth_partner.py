"""A fifth partner offering existing product types joins by configuration alone: a connector entry, its
agreement file and the master's contract references, no code. Its server here speaks its own vocabulary on loopback."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from aiohttp import web

from tests.gateway_support import World, on_loopback, service_desk_agreement, start_with_partner

COOP = {
    "CPB-0001": {"konto": "CPB-0001", "art": "TAGESGELD", "iban_nr": "DE02500105170137075030",
                 "saldo": {"amount": "1234.56", "currency": "EUR"}, "zins": 2.25, "geheim": "not mapped"},
    "CPB-0002": {"konto": "CPB-0002", "art": "DARLEHEN", "restschuld": {"amount": "9000.00", "currency": "EUR"},
                 "zins": 4.1, "ende": "2031-06-30"},
}


# Its data-sharing agreement: without one, default deny would hide every field it supplies.
COOP_AGREEMENT = service_desk_agreement("coop", "Cooperative Bank data-sharing agreement",
                                        {"BankAccount.*": "allow", "Loan.*": "allow"})

# Its contracts as the customer master references them.
COOP_CONTRACTS = [
    {"contract_id": "CPB-0001", "customer_id": "C-000002", "partner_id": "coop", "product_type": "SAVINGS",
     "status": "active", "start_date": date(2020, 1, 1)},
    {"contract_id": "CPB-0002", "customer_id": "C-000002", "partner_id": "coop", "product_type": "LOAN",
     "status": "active", "start_date": date(2021, 1, 1)},
]


async def _coop_server() -> tuple[web.AppRunner, str, list[dict]]:
    seen: list[dict] = []

    async def batch(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer coop-secret":
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.json()
        seen.append(body)
        found = [COOP[i] for i in body["ids"] if i in COOP]
        return web.json_response({"contracts": found, "not_found": [i for i in body["ids"] if i not in COOP]})

    app = web.Application()
    app.router.add_post("/api/lookup", batch)
    runner, url = await on_loopback(app)
    return runner, url, seen


async def test_fifth_partner_by_configuration_alone(world: World, tmp_path: Path) -> None:
    runner, url, seen = await _coop_server()
    runners: list[web.AppRunner] = [runner]
    try:
        gateway = await start_with_partner(world, runners, tmp_path, {
            "id": "coop", "name": "Cooperative Bank", "protocol": "rest", "base_url": url,
            "credential": "coop-secret", "contract_prefix": "CPB", "batch_path": "/api/lookup", "id_field": "konto",
            "product_field": "art", "products": {"TAGESGELD": "SAVINGS", "DARLEHEN": "LOAN"},
            "fields": {"iban": "iban_nr", "balance": "saldo", "interestRate": "zins", "outstanding": "restschuld",
                       "maturityDate": "ende"},
        }, COOP_AGREEMENT, COOP_CONTRACTS)
        query = """{ partners { id name productTypes }
          customer(id: "C-000002") { contracts(partner: "coop") { contractId productType partner { name }
            ... on BankAccount { iban balance { amount currency } interestRate }
            ... on Loan { outstanding { amount } maturityDate } } } }"""
        reply = await gateway.as_role(query, "service_agent", "service")
    finally:
        for each in runners:
            await each.cleanup()
    body = reply.body

    assert "errors" not in body, body
    assert {"id": "coop", "name": "Cooperative Bank", "productTypes": ["SAVINGS", "LOAN"]} in body["data"]["partners"]
    contracts = {c["contractId"]: c for c in body["data"]["customer"]["contracts"]}
    assert contracts["CPB-0001"] == {
        "contractId": "CPB-0001", "productType": "SAVINGS", "partner": {"name": "Cooperative Bank"},
        "iban": "DE02500105170137075030", "balance": {"amount": "1234.56", "currency": "EUR"}, "interestRate": 2.25}
    assert contracts["CPB-0002"]["outstanding"] == {"amount": "9000.00"}
    assert contracts["CPB-0002"]["maturityDate"] == "2031-06-30"
    assert len(seen) == 1 and sorted(seen[0]["ids"]) == ["CPB-0001", "CPB-0002"]
    assert "geheim" not in str(body)
