"""`vcv serve`'s collector settings (gateway/collector.py): what start-up froze and a reload replaced is
freed, not kept for good. In a process of its own, since freezing concerns the whole interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(body: str) -> str:
    script = textwrap.dedent("""
        import asyncio, gc, weakref
        from aiohttp import web
        from gateway import collector

        class Node:
            pass

        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return a
    """) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_reload_frees_what_start_up_froze_and_the_reload_replaced() -> None:
    out = _run("""
        async def main():
            app = web.Application()
            tuned = collector.tuned(app)
            state = {"agreements": cycle()}  # built at start-up, in a reference cycle
            seen = weakref.ref(state["agreements"])
            await tuned.__anext__()  # start-up done: frozen
            assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == collector.YOUNG_THRESHOLD
            state["agreements"] = cycle()  # a reload replaces it
            gc.collect()
            kept = seen() is not None  # frozen: a full collection leaves it
            collector.refreeze()
            print(kept, seen() is None, gc.get_freeze_count() > 0)
            try:
                await tuned.__anext__()
            except StopAsyncIteration:
                pass
            print(gc.get_freeze_count(), gc.get_threshold()[0])

        asyncio.run(main())
    """)
    assert out.splitlines() == ["True True True", "0 700"]


def test_refreeze_does_nothing_where_nothing_was_frozen() -> None:
    out = _run("""
        collector.refreeze()
        print(gc.get_freeze_count())
    """)
    assert out == "0"


def test_what_the_parent_froze_before_forking_stays_shared_with_its_workers() -> None:
    # A worker's collection writes to every page holding an object it walks, and a written page is the worker's
    # own copy from then on. Frozen in the parent (`before_fork`), start-up's objects are not walked: their pages
    # stay shared with the parent and the other workers.
    out = _run("""
        import os

        def private_kib():
            for line in open("/proc/self/smaps_rollup"):
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1])

        held = [cycle() for _ in range(200_000)]  # what start-up builds, some 60 MiB

        def worker_copies(freeze):
            if freeze:
                collector.before_fork()
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                before = private_kib()
                gc.collect()
                os.write(write, str(private_kib() - before).encode())
                os._exit(0)
            os.waitpid(pid, 0)
            return int(os.read(read, 64))

        walked, frozen = worker_copies(False), worker_copies(True)
        print(walked > 20_000, frozen < walked / 10)
    """)
    assert out == "True True"
