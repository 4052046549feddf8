"""Per-request loaders: every contract lookup made while resolving one query is collected, then sent as
one batch per partner, all partners in parallel. Also records each partner call for the audit trail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
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
    # What `load_known` fetched, by (partner, key): a later `load` (a fallback to strawberry) reads it here.
    _known: dict[tuple[str, Key], ContractValues | PartnerError] = field(default_factory=dict)

    def load(self, partner_id: str, contract_id: str, fields: frozenset[str]) -> Awaitable[ContractValues]:
        """A future for one contract's values (no coroutine, no task per contract: many are awaited at once)."""
        known = self._known.get((partner_id, (contract_id, fields)))
        if known is not None:
            future: asyncio.Future[ContractValues] = asyncio.get_running_loop().create_future()
            if isinstance(known, PartnerError):
                future.set_exception(known)
            else:
                future.set_result(known)
            return future
        return self._loader(partner_id).load((contract_id, fields))

    def _loader(self, partner_id: str) -> DataLoader[Key, ContractValues]:
        loader = self._loaders.get(partner_id)
        if loader is None:
            loader = self._loaders[partner_id] = DataLoader(load_fn=self._batch_fn(partner_id))
        return loader

    async def load_all(self, wanted: Sequence[tuple[str, str, frozenset[str]]]) -> list[ContractValues | PartnerError]:
        """Values for each (partner, contract, fields), all requested in the same tick, so that loads from other
        resolvers in that tick join the same batch (one per partner, partners in parallel); a failed
        partner's contracts get its PartnerError instead of values."""
        answers: list[ContractValues | PartnerError] = []
        for answer in await asyncio.gather(*(self.load(p, c, f) for p, c, f in wanted), return_exceptions=True):
            if isinstance(answer, BaseException) and not isinstance(answer, PartnerError):
                raise answer
            answers.append(answer)
        return answers

    async def load_known(self, wanted: Sequence[tuple[str, str, frozenset[str]]]
                         ) -> list[ContractValues | PartnerError]:
        """As `load_all`, for a caller that knows every contract of the operation up front (the planner): the
        batches are made here, without the DataLoader's future per contract. What it fetched is kept, so a
        `load` of the same key later (a fallback to strawberry) calls no partner."""
        answers = self._known
        batches: dict[str, list[Key]] = {}
        for partner, contract, fields in wanted:
            key = (contract, fields)
            if (partner, key) in answers:
                continue
            cached = self._loaders[partner].cache_map.get(key) if partner in self._loaders else None
            if cached is None:
                keys = batches.setdefault(partner, [])
                if key not in keys:
                    keys.append(key)
                continue
            try:  # asked before in this request (answered, or in flight)
                answers[(partner, key)] = await cached
            except PartnerError as failed:
                answers[(partner, key)] = failed

        async def batch(partner: str, keys: list[Key]) -> None:
            got = await self._batch_fn(partner)(keys)
            for key, answer in zip(keys, got, strict=True):
                if not isinstance(answer, ContractValues | PartnerError):
                    raise answer
                answers[(partner, key)] = answer

        await asyncio.gather(*(batch(p, keys) for p, keys in batches.items()))
        return [answers[(p, (c, f))] for p, c, f in wanted]

    def _batch_fn(self, partner_id: str) -> Callable[[Sequence[Key]], Awaitable[list[ContractValues | BaseException]]]:
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
