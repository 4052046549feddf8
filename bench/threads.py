"""Where the gateway's CPU goes, by thread: the event loop, the master's reader threads and the audit writer.

Starts partners and a gateway as `bench.run` does (same seed, partners at 0 ms), sends one query at a given
concurrency for a while, and reads each of the gateway's threads' CPU time from /proc before and after:
CPU per request in total and per thread. `--query typename` sends `{ __typename }` (through the gate and
the audit log, no master read, no partner), which shows the fixed cost of a request.

    python -m bench.threads [--query c360|typename] [--concurrency 8] [--seconds 15] [--customers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import run as bench_run


def threads_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of `pid` so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        seconds[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


async def measure(args: argparse.Namespace) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="vcv-threads-"))
    options = argparse.Namespace(customers=args.customers, profile=None, no_planner=False, audit_in_master=False,
                                 partners_in_one_process=False, workers=1)
    alliance, partners, procs, url, _ = await bench_run._start(options, work)
    gateway = procs[0]
    token = bench_run.mint(work, role="consultant", purposes=["advisory"],
                           consultant_id=alliance.customer(bench_run.SHOWCASE).consultant_id)
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "advisory", "Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await bench_run._wait_ready(http, url.replace("/graphql", "/readyz"), gateway)
            await bench_run._set_latency(http, partners, 0)
            body = bench_run.Client(http, url, headers).body if args.query == "c360" else \
                json.dumps({"query": "{ __typename }"}).encode()

            async def worker(until: float) -> int:
                done = 0
                while time.perf_counter() < until:
                    async with http.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"the gateway answered {response.status}")
                    done += 1
                return done

            await asyncio.gather(*(worker(time.perf_counter() + 3) for _ in range(args.concurrency)))  # warm-up
            before, started = threads_cpu(gateway.pid), time.perf_counter()
            done = sum(await asyncio.gather(*(worker(time.perf_counter() + args.seconds)
                                             for _ in range(args.concurrency))))
            elapsed, after = time.perf_counter() - started, threads_cpu(gateway.pid)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.wait(30)
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    figures = {"requests_per_s": done / elapsed, "cpu_ms_per_request": sum(spent.values()) * 1000 / done,
               "event_loop_ms_per_request": spent.get(gateway.pid, 0.0) * 1000 / done}
    others = sorted((s for tid, s in spent.items() if tid != gateway.pid and s > 0), reverse=True)
    for i, seconds in enumerate(others):
        figures[f"thread_{i + 1}_ms_per_request"] = seconds * 1000 / done
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--query", choices=("c360", "typename"), default="c360")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    figures = asyncio.run(measure(args))
    print(f"{args.query} at concurrency {args.concurrency}: {figures['requests_per_s']:.0f} req/s")
    for name, value in figures.items():
        if name != "requests_per_s":
            print(f"  {name.replace('_', ' ')}: {value:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
