"""The federated view end to end: real partner servers, real SQLite master, real gateway on loopback."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from fixtures.alliance import partner_record
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True


@pytest.fixture
def gateway(gateway_on_each_master: Gateway) -> Gateway:
    """Every test here runs against the SQLite master and against PostgreSQL."""
    return gateway_on_each_master

FULL = """
query Full($id: ID!) {
  customer(id: $id) {
    id givenName familyName
    contracts {
      contractId productType status startDate partner { id }
      ... on BankAccount { iban balance { amount currency } overdraftLimit { amount } interestRate
                           recentTransactions(first: 3) { bookingDate amount { amount } counterparty } }
      ... on Loan { principal { amount } outstanding { amount currency } maturityDate interestRate }
      ... on LifePolicy { sumInsured { amount } premium { amount } paymentFrequency beneficiaries
                          surrenderValue { amount } healthClass }
      ... on PropertyPolicy { kind premium { amount } deductible { amount } insuredObject
                              claims { claimId amount { amount } status } }
      ... on Depot { marketValue { amount currency } riskProfile positions { isin quantity value { amount } } }
    }
  }
}"""


async def full_view(gateway: Gateway, world: World, customer_id: str = SHOWCASE):
    """The customer's own view: their agreements show them everything but the insurer's health class."""
    return await gateway.as_role(FULL, "customer", "self_service", {"id": customer_id}, customer_id=customer_id)


async def test_showcase_customer_is_joined_with_every_partners_values(gateway: Gateway, world: World) -> None:
    reply = await full_view(gateway, world)
    assert reply.status == 200 and reply.errors == [], reply.errors
    assert {r["field"] for r in reply.body["extensions"]["redactions"]} == {"LifePolicy.healthClass"}
    contracts = reply.data["customer"]["contracts"]
    refs = [c for c in world.alliance.contracts if c.customer_id == SHOWCASE]
    assert sorted(c["contractId"] for c in contracts) == sorted(r.contract_id for r in refs)
    assert {c["partner"]["id"] for c in contracts} == {"bank", "life", "property", "invest"}
    by_id = {c["contractId"]: c for c in contracts}
    for ref in refs:
        record, got = partner_record(world.alliance, ref), by_id[ref.contract_id]
        assert got["productType"] == ref.product_type
        if ref.partner_id == "bank" and "iban" in record:
            assert got["iban"] == record["iban"]
            assert Decimal(got["balance"]["amount"]) == Decimal(record["balance"]["amount"])
            assert len(got["recentTransactions"]) == min(3, len(record["transactions"]))
        elif ref.partner_id == "bank":
            assert got["outstanding"]["amount"] == record["outstanding"]["amount"]
            assert got["maturityDate"] == record["maturity_date"]
        elif ref.partner_id == "life":
            assert got["sumInsured"]["amount"] == record["sum_insured"]["amount"]
            assert got["beneficiaries"] == record["beneficiaries"]
            assert got["healthClass"] is None  # underwriting data never leaves the life insurer
        elif ref.partner_id == "property":
            assert got["insuredObject"] == record["insuredObject"]
            assert [c["claimId"] for c in got["claims"]] == [c["claimId"] for c in record["claims"]]
        else:
            assert got["marketValue"]["amount"] == record["market_value"]["amount"]
            assert [p["isin"] for p in got["positions"]] == [p["isin"] for p in record["positions"]]


async def test_each_partner_serves_exactly_one_call_per_query(gateway: Gateway, world: World) -> None:
    reply = await full_view(gateway, world)
    assert reply.errors == []
    assert await world.calls() == {"bank": 1, "life": 1, "property": 1, "invest": 1}
    stats = await world.stats("bank")
    assert stats["contract_lookups"] == sum(
        1 for c in world.alliance.contracts if c.customer_id == SHOWCASE and c.partner_id == "bank")
    assert stats["recent"][-1]["purpose"] == "self_service"
    assert stats["recent"][-1]["request_id"] == reply.headers["X-Request-ID"]


async def test_master_fields_alone_call_no_partner(gateway: Gateway, world: World) -> None:
    query = "query($id: ID!) { customer(id: $id) { contracts { contractId productType status startDate } } }"
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE},
                                  consultant_id=consultant_of(world, SHOWCASE))
    assert reply.errors == [] and len(reply.data["customer"]["contracts"]) == 20
    assert await world.calls() == {"bank": 0, "life": 0, "property": 0, "invest": 0}


async def test_only_partners_with_selected_fields_are_called(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) { contracts {
        contractId ... on Depot { riskProfile } ... on LifePolicy { premium { amount } } } } }"""
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE},
                                  consultant_id=consultant_of(world, SHOWCASE))
    assert reply.errors == []
    assert await world.calls() == {"bank": 0, "life": 1, "property": 0, "invest": 1}
    # and the partner was asked only for the fields selected
    assert (await world.stats("invest"))["recent"][-1]["fields"] == ["risk_profile"]


async def test_contract_filters_limit_the_fan_out(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) {
        life: contracts(partner: "life") { contractId ... on LifePolicy { premium { amount } } }
        depots: contracts(productType: DEPOT) { contractId productType ... on Depot { riskProfile } } } }"""
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE},
                                  consultant_id=consultant_of(world, SHOWCASE))
    assert reply.errors == []
    customer = reply.data["customer"]
    assert customer["life"] and all(c["contractId"].startswith("LIF-") for c in customer["life"])
    assert customer["depots"] and all(c["productType"] == "DEPOT" for c in customer["depots"])
    assert await world.calls() == {"bank": 0, "life": 1, "property": 0, "invest": 1}


async def test_many_customers_still_one_call_per_partner(gateway: Gateway, world: World) -> None:
    query = """{ customers(first: 50) { edges { node { id contracts {
        ... on BankAccount { balance { amount } } ... on Depot { marketValue { amount } } } } } } }"""
    reply = await gateway.as_role(query, "service_agent", "service")
    assert reply.errors == []
    assert len(reply.data["customers"]["edges"]) == 50
    calls = await world.calls()
    assert calls["life"] == calls["property"] == 0
    shown = {e["node"]["id"] for e in reply.data["customers"]["edges"]}
    bank_ids = {c.contract_id for c in world.alliance.contracts if c.customer_id in shown
                and c.product_type in ("CURRENT_ACCOUNT", "SAVINGS")}  # loans: nothing selected, not asked for
    assert calls["bank"] == -(-len(bank_ids) // 50)  # one call per max-batch-size chunk


async def test_batches_split_only_by_the_partners_maximum(make_gateway, world: World) -> None:
    gateway = await make_gateway(bank={"max_batch_size": 2})
    reply = await full_view(gateway, world)
    assert reply.errors == []
    bank_contracts = sum(1 for c in world.alliance.contracts if c.customer_id == SHOWCASE and c.partner_id == "bank")
    calls = await world.calls()
    assert calls["bank"] == -(-bank_contracts // 2)
    assert calls["life"] == calls["property"] == calls["invest"] == 1


async def test_partners_are_called_in_parallel(gateway: Gateway, world: World) -> None:
    # Warm up first: a new gateway's first request also opens its database and partner connections.
    assert (await full_view(gateway, world)).errors == []
    await world.reset()
    # 100 ms per partner: four calls in a row would take 400 ms or more.
    for partner in ("bank", "life", "property", "invest"):
        await world.fault(partner, latency_ms=100)
    started = time.monotonic()
    reply = await full_view(gateway, world)
    elapsed = time.monotonic() - started
    assert reply.errors == []
    windows = {partner: (await world.stats(partner))["windows"] for partner in ("bank", "life", "property", "invest")}
    assert all(len(w) == 1 for w in windows.values()), windows
    # Every partner had the request before any of them answered: all four calls were in flight at once.
    last_arrival = max(w[0][0] for w in windows.values())
    first_answer = min(w[0][1] for w in windows.values())
    assert last_arrival < first_answer, windows
    # The user-visible consequence: the view waited for the partners (not less than one partner's latency).
    # How much more is the machine's business (bench/ measures it): the windows above are the proof that the
    # four calls overlapped, and they hold on a loaded machine where a wall-clock bound does not.
    assert elapsed >= 0.1, elapsed


async def test_portfolio_totals_per_currency(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) { portfolio {
        assets { amount currency } liabilities { amount currency } complete missingContracts } } }"""
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE},
                                  consultant_id=consultant_of(world, SHOWCASE))
    assert reply.errors == []
    portfolio = reply.data["customer"]["portfolio"]
    assets = liabilities = Decimal(0)
    for ref in (c for c in world.alliance.contracts if c.customer_id == SHOWCASE and c.status != "terminated"):
        record = partner_record(world.alliance, ref)
        for key in ("balance", "market_value", "surrender_value"):
            if key in record:
                assets += Decimal(record[key]["amount"])
        if "outstanding" in record:
            liabilities += Decimal(record["outstanding"]["amount"])
    assert portfolio["complete"] is True and portfolio["missingContracts"] == []
    assert portfolio["assets"] == [{"amount": str(assets), "currency": "EUR"}]
    assert portfolio["liabilities"] == [{"amount": str(liabilities), "currency": "EUR"}]
