"""Per-request loaders: every contract lookup made while resolving one query is collected, then sent as
one batch per partner, all partners in parallel. Also records each partner call for the audit trail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from resolvers.connectors import CallContext, Connector
from resolvers.source_errors import PartnerError
from resolvers.values import ContractValues

# (contract ID, joint fields wanted)
Key = tuple[str, frozenset[str]]


@dataclass(slots=True)
class PartnerCall:
    partner: str
    contracts: int
    outcome: str  # "ok" or a PARTNER_* code
    latency_ms: float


@dataclass(slots=True)
class PartnerLoaders:
    connectors: dict[str, Connector]
    context: CallContext
    calls: list[PartnerCall] = field(default_factory=list)
    _loaders: dict[str, DataLoader[Key, ContractValues]] = field(default_factory=dict)

    def load(self, partner_id: str, contract_id: str, fields: frozenset[str]) -> Awaitable[ContractValues]:
        """A future for one contract's values (no coroutine, no task per contract: many are awaited at once)."""
        loader = self._loaders.get(partner_id)
        if loader is None:
            loader = DataLoader(load_fn=self._batch_fn(partner_id))
            self._loaders[partner_id] = loader
        return loader.load((contract_id, fields))

    async def load_all(self, wanted: Sequence[tuple[str, str, frozenset[str]]]) -> list[ContractValues | PartnerError]:
        """Values for each (partner, contract, fields), all requested in the same tick (one batch per partner,
        partners in parallel); a failed partner's contracts get its PartnerError instead of values."""
        answers = await asyncio.gather(*(self.load(p, c, f) for p, c, f in wanted), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, PartnerError):
                raise answer
        return answers  # type: ignore[return-value]

    def _batch_fn(self, partner_id: str):  # type: ignore[no-untyped-def]
        connector = self.connectors.get(partner_id)

        async def batch(keys: Sequence[Key]) -> list[ContractValues | BaseException]:
            if connector is None:
                error = PartnerError("PARTNER_UNAVAILABLE", partner_id, "no connector configured")
                return [error for _ in keys]
            wanted = set().union(*(f for _, f in keys))
            started = time.monotonic()
            outcome = await connector.fetch([cid for cid, _ in keys], wanted, self.context)
            codes = {o.code for o in outcome.values() if isinstance(o, PartnerError)}
            self.calls.append(PartnerCall(partner_id, len(outcome), min(codes) if codes else "ok",
                                          round((time.monotonic() - started) * 1000, 2)))
            return [outcome[cid] for cid, _ in keys]

        return batch
