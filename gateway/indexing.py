"""Pseudonym indexes built ahead of traffic (resolvers/pseudonym_index.py).

A caller shown pseudonyms pages and opens customers through the index of its (owner, consumer) pair. Built
on a partner's first request, it would make that request wait for one HMAC pair and one row per customer
in the master; so the gateway builds every index its agreements imply before it takes traffic:

- at start-up, in the background: `/readyz` answers 503 with `"indexes": "building"` until each index is
  built (then `"built"`), so a load balancer sends a new gateway nothing it would have to make wait;
- after a reload (SIGHUP), for the configuration just switched to: a rotated pseudonym key (its
  fingerprint changed) rebuilds that consumer's index, a new partner gets one, the others only catch up
  with new customers. The gateway stays ready meanwhile (`"indexes": "building"`, HTTP 200): every gateway
  of a deployment reloads at once, and making them all unready would stop every caller, while only the
  callers of a rebuilt index have to wait, and only for it;
- by `vcv index build`, for an operator who wants it done before starting the gateways at all.

A request whose index is being built waits for that one build (resolvers.master.Master.index_pseudonyms:
never two builds of one index at once in a process, and a build is not cancelled with a caller who gives
up); across processes the builds may run side by side, rows written by one are skipped by the other. A
build that fails (the master unreachable) is tried again with a growing pause; until one succeeds,
requests build what they need themselves, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiohttp import web

from gateway.lookup import build_index, sees_pseudonyms
from gateway.policy import load_keys, load_policy
from privacy import PURPOSES, ROLES, Guard, PolicySet, PseudonymKeys
from resolvers import MASTER_OWNER, IndexProgress, Master, PartnersConfig, create_engine, session_factory

log = logging.getLogger("vcv.indexing")

Status = Literal["building", "built", "failed"]
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the indexes are built from: the running configuration (a reload replaces it)."""

    master: Master
    policy: PolicySet
    keys: PseudonymKeys
    partners: Iterable[str]  # partner IDs: consumers beside the roles


def consumers(policy: PolicySet, keys: PseudonymKeys, partners: Iterable[str]) -> list[Guard]:
    """One guard per consumer (partner ID, or a role for everyone else) that may be shown the master's
    customer IDs as pseudonyms for some purpose: exactly the consumers whose requests use an index
    (gateway/lookup.py decides with the same `sees_pseudonyms`). Only (owner, consumer) picks an index;
    the purpose does not, so one guard per consumer."""
    callers = [(role, role) for role in ROLES if role != "partner"]  # a partner is always known by its ID
    callers += [(partner, "partner") for partner in sorted(partners)]
    found = []
    for consumer, role in callers:
        for purpose in PURPOSES:
            guard = Guard(policy, keys, consumer=consumer, role=role, purpose=purpose)
            if sees_pseudonyms(guard) and guard.index_fingerprint(MASTER_OWNER) is not None:
                found.append(guard)
                break
    return found


async def build_all(inputs: Inputs, progress: Callable[[str], IndexProgress] | None = None) -> dict[str, int]:
    """Build (or bring up to date) every index `inputs` imply, one after the other; rows added per consumer.
    `progress(consumer)` gives the callback for that consumer's build (`vcv index build` prints it)."""
    added = {}
    for guard in consumers(inputs.policy, inputs.keys, inputs.partners):
        added[guard.consumer] = await build_index(inputs.master, guard,
                                                  progress(guard.consumer) if progress else None) or 0
    return added


class Indexes:
    """The builds ahead of traffic of one gateway process, and what `/readyz` says of them."""

    def __init__(self, inputs: Callable[[], Inputs]) -> None:
        self._inputs = inputs
        self._run: asyncio.Task[None] | None = None
        self.status: Status = "building"
        self.ready = False  # every index of the start-up configuration built once: stays True afterwards
        self.runs = 0  # completed runs (tests wait for them)

    def start(self) -> None:
        """Build for the running configuration, in the background; a run still going for an older one is
        stopped first (the builds it shares with requests go on, see Master.index_pseudonyms)."""
        if self._run is not None:
            self._run.cancel()
        self.status = "building"
        self._run = asyncio.ensure_future(self._build(self._inputs()))

    async def _build(self, inputs: Inputs) -> None:
        pause = RETRY_FIRST_S
        while True:
            try:
                added = await build_all(inputs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the master unreachable, a lock: try again, requests build meanwhile
                self.status = "failed"
                log.warning("building the pseudonym indexes failed (%s); trying again in %.0f s",
                            type(exc).__name__, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            break
        self.status, self.ready = "built", True
        self.runs += 1
        log.info("pseudonym indexes built: %s", ", ".join(f"{c} (+{n})" for c, n in added.items()) or "none needed")

    async def stop(self) -> None:
        if self._run is not None:
            self._run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run
        await self._inputs().master.stop_indexing()


INDEXES = web.AppKey("indexes", Indexes)


async def build_offline(db_url: str, partners: PartnersConfig, agreements: Path, keys_dir: Path | None,
                        say: Callable[[str], None], every_s: float = 2.0) -> dict[str, int]:
    """`vcv index build`: every index the configuration implies, built (or brought up to date) against the
    master at `db_url`, saying how far it got at most every `every_s` seconds and when each one is done.
    Idempotent: a second run finds every index up to date and adds nothing."""
    policy = load_policy(agreements, partners)
    keys = load_keys(policy, keys_dir)
    engine = create_engine(db_url)
    master, added = Master(session_factory(engine)), {}
    try:
        guards = consumers(policy, keys, partners.partners)
        say(f"indexes to build: {', '.join(g.consumer for g in guards) or 'none (no agreement shows pseudonyms)'}")
        for guard in guards:
            last, started = [time.monotonic()], time.monotonic()

            def tell(done: int, total: int, consumer: str = guard.consumer, last: list[float] = last) -> None:
                if time.monotonic() - last[0] >= every_s and done < total:
                    last[0] = time.monotonic()
                    say(f"{consumer}: {done:,} of {total:,} customers indexed ({done * 100 // max(total, 1)} %)")

            rows = added[guard.consumer] = await build_index(master, guard, tell) or 0
            took = time.monotonic() - started
            say(f"{guard.consumer}: {rows:,} customers indexed in {took:.1f} s" if rows
                else f"{guard.consumer}: up to date")
    finally:
        await engine.dispose()
    return added


def ahead_of_traffic(inputs: Callable[[web.Application], Inputs]) -> Callable[[web.Application],
                                                                            AsyncIterator[None]]:
    """For `app.cleanup_ctx`, after the context that opens the master: builds at start-up, stops the builds
    at shutdown. `inputs(app)` reads the running configuration."""

    async def running(app: web.Application) -> AsyncIterator[None]:
        indexes = app[INDEXES] = Indexes(lambda: inputs(app))
        indexes.start()
        yield
        await indexes.stop()

    return running


def rebuild(app: web.Application) -> None:
    """After a reload switched the configuration: build for the new one (see the module's description)."""
    indexes = app.get(INDEXES)
    if indexes is not None:
        indexes.start()


def readiness(app: web.Application) -> tuple[Status, bool]:
    """What `/readyz` says of the indexes, and whether they let the gateway be ready."""
    indexes = app.get(INDEXES)
    if indexes is None:
        return "building", False
    return indexes.status, indexes.ready
