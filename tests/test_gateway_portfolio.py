"""The portfolio a consultant and a customer read: totals over contracts still held, terminated contracts
listed apart with the day they really ended, and redaction reports at the response keys the query used."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fixtures.alliance import partner_record
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

VALUES = ("balance", "market_value", "surrender_value")


async def test_totals_cover_contracts_still_held_and_terminated_ones_are_listed_apart(
        gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) {
        contracts { contractId status startDate endDate }
        portfolio { assets { amount currency } complete missingContracts terminatedContracts } } }"""
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE},
                                  consultant_id=consultant_of(world, SHOWCASE))
    assert reply.errors == []
    refs = [r for r in world.alliance.contracts if r.customer_id == SHOWCASE]
    terminated = [r for r in refs if r.status == "terminated"]
    # The showcase has terminated assets with a value at their partner (a savings account, a depot).
    assert sum(1 for r in terminated if any(k in partner_record(world.alliance, r) for k in VALUES)) >= 2

    held = sum((Decimal(partner_record(world.alliance, r)[k]["amount"]) for r in refs if r.status != "terminated"
                for k in VALUES if k in partner_record(world.alliance, r)), Decimal())
    portfolio = reply.data["customer"]["portfolio"]
    assert portfolio["assets"] == [{"amount": str(held), "currency": "EUR"}]
    assert portfolio["complete"] is True and portfolio["missingContracts"] == []
    counted_kinds = {"CURRENT_ACCOUNT", "SAVINGS", "LOAN", "MORTGAGE", "LIFE", "DISABILITY", "ANNUITY", "DEPOT"}
    assert portfolio["terminatedContracts"] == sorted(r.contract_id for r in terminated
                                                      if r.product_type in counted_kinds)

    contracts = {c["contractId"]: c for c in reply.data["customer"]["contracts"]}
    for ref in refs:
        shown = contracts[ref.contract_id]
        assert shown["startDate"] == ref.start_date.isoformat()
        if ref.status == "terminated":  # the real end, not the start date
            assert ref.end_date is not None and ref.start_date < ref.end_date
            assert shown["endDate"] == ref.end_date.isoformat()
        else:
            assert shown["endDate"] is None


async def test_end_dates_follow_the_agreement_like_start_dates(gateway: Gateway, world: World) -> None:
    # Partners preparing leads see contract dates only to the month.
    query = """query($id: ID!) { customer(id: $id) { contracts { ... on LifePolicy { endDate } } } }"""
    reply = await gateway.as_role(query, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    ended = [r for r in world.alliance.contracts if r.customer_id == SHOWCASE and r.partner_id == "life"
             and r.end_date is not None]
    assert ended
    dates = [c["endDate"] for c in reply.data["customer"]["contracts"] if c.get("endDate")]
    assert dates == [r.end_date.replace(day=1).isoformat() for r in ended]
    reported = {(r["field"], r["treatment"]) for r in reply.body["extensions"]["redactions"]}
    assert ("Contract.endDate", "generalize to month") in reported


async def test_missing_contracts_are_reported_under_the_alias_and_only_when_asked_for(
        make_gateway: Callable[..., Any], world: World) -> None:
    # The brokerage shows other partners its depots under pseudonyms (per partner) and their values only
    # rounded: for the life insurer they are missing from the totals, listed by pseudonym, each one reported.
    gateway = await make_gateway()
    depots = [r.contract_id for r in world.alliance.contracts
              if r.customer_id == SHOWCASE and r.partner_id == "invest" and r.status != "terminated"]

    asked = """query($id: ID!) { customer(id: $id) { p: portfolio { complete gaps: missingContracts } } }"""
    reply = await gateway.as_role(asked, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert reply.errors == []
    portfolio = reply.data["customer"]["p"]
    assert portfolio["complete"] is False
    assert not set(depots) & set(portfolio["gaps"])
    reported = [r for r in reply.body["extensions"]["redactions"] if r["field"] == "Depot.contractId"]
    assert len(reported) == len(depots)
    assert {tuple(r["path"]) for r in reported} == {("customer", "p", "gaps")}

    not_asked = """query($id: ID!) { customer(id: $id) { portfolio { complete } } }"""
    reply = await gateway.as_role(not_asked, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert reply.data["customer"]["portfolio"]["complete"] is False
    assert not [r for r in reply.body["extensions"]["redactions"] if r["field"] == "Depot.contractId"]
