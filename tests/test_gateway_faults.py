"""Partial results: a failing partner's fields are null with an error at their exact path, carrying the
code and the partner; every other partner's data still arrives, with HTTP 200."""

from __future__ import annotations

import json
import time

import pytest

from tests.gateway_support import SHOWCASE, Gateway, World

QUERY = """query($id: ID!) { customer(id: $id) { contracts { contractId
    ... on BankAccount { iban } ... on Loan { outstanding { amount } }
    ... on LifePolicy { premium { amount } } ... on PropertyPolicy { insuredObject premium { amount } }
    ... on Depot { riskProfile } } } }"""
PARTNER_FIELDS = {"BNK": ("iban", "outstanding"), "LIF": ("premium",), "PNC": ("insuredObject", "premium"),
                  "INV": ("riskProfile",)}

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True


async def _query(gateway: Gateway, world: World):
    consultant = world.alliance.customer(SHOWCASE).consultant_id
    return await gateway.as_role(QUERY, "consultant", "advisory", {"id": SHOWCASE}, consultant_id=consultant)


def _check_partial(reply, failing_prefix: str, code: str, partner: str) -> None:
    assert reply.status == 200
    contracts = reply.data["customer"]["contracts"]
    assert len(contracts) == 20
    expected_paths = set()
    for index, contract in enumerate(contracts):
        prefix = contract["contractId"][:3]
        present = [f for f in PARTNER_FIELDS[prefix] if f in contract]
        if prefix == failing_prefix:
            assert all(contract[f] is None for f in present), contract
            expected_paths |= {("customer", "contracts", index, f) for f in present}
        else:
            assert any(contract[f] is not None for f in present), contract
    errors = reply.errors
    assert {tuple(e["path"]) for e in errors} == expected_paths
    assert all(e["extensions"] == {"code": code, "partner": partner} for e in errors)
    text = json.dumps(errors)
    assert "127.0.0.1" not in text and "http" not in text and "Traceback" not in text


async def test_timeout_of_one_partner_leaves_the_others_intact(make_gateway, world: World) -> None:
    gateway = await make_gateway(property={"timeout_ms": 300})
    await world.fault("property", mode="timeout")
    _check_partial(await _query(gateway, world), "PNC", "PARTNER_TIMEOUT", "property")


@pytest.mark.parametrize(("mode", "code"), [
    ("error", "PARTNER_UNAVAILABLE"), ("reset", "PARTNER_UNAVAILABLE"),
    ("malformed", "PARTNER_BAD_RESPONSE"), ("wrong_types", "PARTNER_BAD_RESPONSE"),
])
async def test_failing_rest_partner(make_gateway, world: World, mode: str, code: str) -> None:
    gateway = await make_gateway()
    await world.fault("bank", mode=mode)
    _check_partial(await _query(gateway, world), "BNK", code, "bank")


@pytest.mark.parametrize(("mode", "code"), [("error", "PARTNER_UNAVAILABLE"), ("malformed", "PARTNER_BAD_RESPONSE"),
                                            ("wrong_types", "PARTNER_BAD_RESPONSE")])
async def test_failing_graphql_partner(make_gateway, world: World, mode: str, code: str) -> None:
    gateway = await make_gateway()
    await world.fault("property", mode=mode)
    _check_partial(await _query(gateway, world), "PNC", code, "property")


async def test_extra_unknown_fields_never_reach_the_response(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    for partner in ("bank", "life", "property", "invest"):
        await world.fault(partner, mode="extra_fields")
    reply = await _query(gateway, world)
    assert reply.errors == []
    reference = await gateway.as_role(QUERY, "consultant", "advisory", {"id": SHOWCASE},
                                      consultant_id=world.alliance.customer(SHOWCASE).consultant_id)
    await world.reset()
    clean = await _query(gateway, world)
    assert reply.data == reference.data == clean.data


async def test_the_overall_deadline_bounds_slow_partners(make_gateway, world: World) -> None:
    raw = world.config(**{p: {"timeout_ms": 5000} for p in ("bank", "life", "property", "invest")})
    raw["deadline_ms"] = 400
    gateway = await make_gateway(raw)
    await world.fault("invest", latency_ms=2000)
    reply = await _query(gateway, world)
    codes = {e["extensions"]["code"] for e in reply.errors}
    assert codes == {"PARTNER_TIMEOUT"}
    assert {e["extensions"]["partner"] for e in reply.errors} == {"invest"}


async def test_circuit_opens_after_repeated_failures(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    await world.fault("life", mode="error")
    for _ in range(5):
        await _query(gateway, world)
    calls_before = (await world.stats("life"))["requests"]
    reply = await _query(gateway, world)
    assert {e["extensions"]["code"] for e in reply.errors} == {"PARTNER_CIRCUIT_OPEN"}
    assert (await world.stats("life"))["requests"] == calls_before  # not called at all while open


async def test_a_failed_read_is_retried_once(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    await world.fault("invest", error_rate=1.0)
    reply = await _query(gateway, world)
    assert {e["extensions"]["code"] for e in reply.errors} == {"PARTNER_UNAVAILABLE"}
    assert (await world.stats("invest"))["requests"] == 2  # the first attempt and one retry, no more


ALL = ("bank", "life", "property", "invest")
MASTER_AND_PARTNERS = QUERY.replace("customer(id: $id) {", "customer(id: $id) { id familyName")


@pytest.mark.parametrize(("mode", "code"), [
    ("timeout", "PARTNER_TIMEOUT"), ("error", "PARTNER_UNAVAILABLE"), ("reset", "PARTNER_UNAVAILABLE"),
    ("malformed", "PARTNER_BAD_RESPONSE"), ("wrong_types", "PARTNER_BAD_RESPONSE"),
])
async def test_every_partner_failing_at_once_still_answers_with_the_master_data(make_gateway, world: World,
                                                                                mode: str, code: str) -> None:
    raw = world.config(**{p: {"timeout_ms": 300, "retries": 0} for p in ALL})
    raw["deadline_ms"] = 500
    gateway = await make_gateway(raw)
    for partner in ALL:
        await world.fault(partner, mode=mode)
    started = time.monotonic()
    reply = await gateway.as_role(MASTER_AND_PARTNERS, "consultant", "advisory", {"id": SHOWCASE},
                                  consultant_id=world.alliance.customer(SHOWCASE).consultant_id)
    elapsed = time.monotonic() - started
    assert reply.status == 200 and elapsed < 0.5 + 0.5  # bounded by the request deadline, not by the partners
    customer = reply.data["customer"]
    assert customer["id"] == SHOWCASE and customer["familyName"]  # the master's data is intact
    assert len(customer["contracts"]) == 20
    assert {e["extensions"]["code"] for e in reply.errors} == {code}
    assert {e["extensions"]["partner"] for e in reply.errors} == set(ALL)


async def test_jittery_partners_still_give_the_whole_view_in_one_call_each(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    for partner in ALL:
        await world.fault(partner, latency_ms=30, jitter_ms=40, seed=7)
    reply = await _query(gateway, world)
    assert reply.errors == []
    assert all(any(c.get(f) is not None for f in PARTNER_FIELDS[c["contractId"][:3]])
               for c in reply.data["customer"]["contracts"])
    assert await world.calls() == dict.fromkeys(ALL, 1)
