"""resolvers/loaders.py: one call per partner for everything an operation needs, whichever way it is asked.

The connectors are swapped for an in-memory one that answers and counts (the transport is the connectors'
business, tested on loopback elsewhere); what is checked here is the batching and the cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from resolvers import CallContext, ContractValues, PartnerError, PartnerLoaders


class InMemory:
    """Answers every contract with its own ID; a partner marked failing answers PARTNER_UNAVAILABLE."""

    def __init__(self, partner: str, failing: bool = False) -> None:
        self.partner, self.failing = partner, failing
        self.calls: list[tuple[list[str], set[str]]] = []

    async def fetch(self, ids: Sequence[str], joint_fields: set[str], ctx: CallContext) -> dict[str, Any]:
        self.calls.append((list(ids), set(joint_fields)))
        await asyncio.sleep(0)
        if self.failing:
            return {i: PartnerError("PARTNER_UNAVAILABLE", self.partner, "down") for i in ids}
        return {i: ContractValues(i, self.partner, "current_account", {"echo": i}) for i in ids}


def _loaders(*failing: str) -> tuple[PartnerLoaders, dict[str, InMemory]]:
    connectors = {p: InMemory(p, p in failing) for p in ("bank", "life")}
    ctx = CallContext("r-1", "advisory", time.monotonic() + 5)
    return PartnerLoaders(connectors, ctx), connectors  # type: ignore[arg-type]


A, B = frozenset({"iban"}), frozenset({"balance"})


async def test_known_contracts_are_fetched_in_one_call_per_partner_in_the_order_asked() -> None:
    loaders, connectors = _loaders("life")
    wanted = [("bank", "B-1", A), ("life", "L-1", A), ("bank", "B-2", B), ("bank", "B-1", A)]
    got = await loaders.load_known(wanted)
    assert [g.contract_id if isinstance(g, ContractValues) else g.code for g in got] == \
        ["B-1", "PARTNER_UNAVAILABLE", "B-2", "B-1"]
    # One call each, every contract once, the fields of all of them.
    assert connectors["bank"].calls == [(["B-1", "B-2"], {"iban", "balance"})]
    assert connectors["life"].calls == [(["L-1"], {"iban"})]
    assert [(c.partner, c.contracts, c.outcome) for c in loaders.calls] == \
        [("bank", 2, "ok"), ("life", 1, "PARTNER_UNAVAILABLE")]


async def test_what_was_fetched_is_not_fetched_again_by_a_later_load() -> None:
    loaders, connectors = _loaders("life")
    await loaders.load_known([("bank", "B-1", A), ("life", "L-1", A)])
    # A fallback to strawberry asks again through the DataLoader: nothing goes out.
    again = await loaders.load("bank", "B-1", A)
    assert isinstance(again, ContractValues) and again.contract_id == "B-1"
    try:
        await loaders.load("life", "L-1", A)
    except PartnerError as failed:
        assert failed.code == "PARTNER_UNAVAILABLE"
    else:
        raise AssertionError("the failed partner's contract must fail again, from the cache")
    assert await loaders.load_known([("bank", "B-1", A)]) == [again]
    assert len(connectors["bank"].calls) == len(connectors["life"].calls) == 1
    # Other fields are another question to the partner.
    await loaders.load_known([("bank", "B-1", B)])
    assert len(connectors["bank"].calls) == 2


async def test_loads_from_several_resolvers_in_one_tick_share_one_call_per_partner() -> None:
    loaders, connectors = _loaders()
    first, second = await asyncio.gather(loaders.load_all([("bank", "B-1", A), ("life", "L-1", A)]),
                                         loaders.load_all([("bank", "B-2", A)]))
    assert [v.contract_id for v in [*first, *second] if isinstance(v, ContractValues)] == ["B-1", "L-1", "B-2"]
    assert [ids for ids, _ in connectors["bank"].calls] == [["B-1", "B-2"]]
    assert len(connectors["life"].calls) == 1
