"""The garbage collector, set for a long-running gateway (`vcv serve` only; tests and tools keep Python's).

Start-up leaves some 170,000 objects the collector tracks (the schema, graphql-core and strawberry, the
compiled agreements, the connectors) that live as long as the process. With CPython's defaults, a full
collection walked all of them about once per 400 customer views (some 70 ms each) and a young one ran every
700 allocations, a few times per view: 12 % of the gateway's CPU went to finding no garbage (bench/RESULTS.md,
2026-12-05). So, once start-up is done, what is alive then is frozen (`gc.freeze`: left out of every later
collection), and young collections run after 10,000 allocations rather than 700 (a view's own objects are
freed by reference counting; the collector is only there for cycles).

A reload (SIGHUP) replaces the agreements and connectors that were frozen; `refreeze` lets the collector
see them once, so whatever of them sits in reference cycles is freed instead of kept for good.

With several workers the parent freezes what it holds before forking them (`before_fork`): the workers share
its memory page by page until they write to a page, and a collection walking the parent's objects would write
to every page holding one (the collector's own bookkeeping in each object). Frozen, those pages stay shared:
two workers and their parent came to 173 MiB of memory (PSS, shared pages counted once) instead of 229."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aiohttp import web

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)


async def tuned(_app: web.Application) -> AsyncIterator[None]:
    """For `app.cleanup_ctx`, after every context that builds state at start-up."""
    previous = gc.get_threshold()
    gc.collect()  # start-up's own garbage, rather than frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])
    yield
    gc.set_threshold(*previous)
    gc.unfreeze()


def refreeze() -> None:
    """After a reload: where start-up froze, what the reload replaced is collected once and the rest frozen
    again. Elsewhere (the in-process gateways of the tests) nothing is done."""
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def before_fork() -> None:
    """In the parent of worker processes, just before it forks them (see the module's docstring). A reload in
    a worker (`refreeze`) walks these objects once more, so some of the pages stop being shared then."""
    gc.collect()
    gc.freeze()
