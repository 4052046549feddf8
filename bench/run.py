"""The "customer 360" benchmark (SPEC §9, issue 7): every figure from one command, written to bench/RESULTS.md.

    .venv/bin/python -m bench.run            # or: make bench   (full run, about 3 minutes)
    .venv/bin/python -m bench.run --quick    # short run for before/after comparisons, RESULTS.md untouched
    .venv/bin/python -m bench.run --quick --query page   # a page of 20 customers (`customers`) instead

One customer (C-000001), 20 contracts across the four partners, every field of every contract type selected,
as a consultant with purpose `advisory`. The partner simulators run as a `vcv partners run` process each
(`--partners-in-one-process`: all in one) and the gateway as one `vcv serve` process (SQLite master with 10,000
seeded customers, demo agreements, audit log on and fail closed, in a SQLite file of its own as `vcv demo` keeps
it; `--audit-in-master`: in the master's); this process is only the load generator. All on loopback on the same
machine.

Figures: gateway overhead (end-to-end minus the partners' injected latency, all partners set alike) p50/p99
at several concurrency levels; partner calls per query (from the simulators' `/_stats`); throughput of the
gateway with 0 ms partners (best of a few concurrency levels) and its peak RSS; the same query through a
naive sequential client as a ratio; and the audit log's append and verify rates (bench/audit.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.audit import measure as measure_audit
from bench.audit import pg_reachable
from bench.ports import free_port, free_range
from bench.procs import cpu_seconds, peak_rss_mib, pss_mib
from bench.results import replace_section
from fixtures.alliance import generate
from fixtures.partners.runner import new_credentials
from fixtures.seed import seed_master
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import ensure_demo_signing_keys, mint
from privacy.audit.keys import generate as generate_audit_keys
from privacy.pseudonyms import ensure_demo_pseudonym_keys

# The partner simulators as every bench starts them: without their line per call in the log (warnings and errors
# still reach it). They stand in for partners' own systems on other machines, yet share this machine's two
# cores with the gateway; that line was a quarter of a simulator's CPU per call (bench/RESULTS.md, 2026-12-05,
# fourth session).
SIMULATORS = [sys.executable, "-m", "gateway.cli", "--log-level", "WARNING", "partners", "run"]

TEMPLATE = Path(__file__).resolve().parent.parent / "fixtures" / "partners.yaml"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- bench.run:latest:start -->", "<!-- bench.run:latest:end -->"
SHOWCASE = "C-000001"
QUERY = """query C360($id: ID!) { customer(id: $id) { id givenName familyName birthDate email phone segment
  address { street postalCode city country } consultant { id name }
  contracts { contractId productType status startDate partner { id name }
    ... on BankAccount { iban balance { amount currency } overdraftLimit { amount currency } interestRate
                         recentTransactions { bookingDate amount { amount currency } counterparty reference } }
    ... on Loan { principal { amount currency } outstanding { amount currency } interestRate maturityDate }
    ... on LifePolicy { sumInsured { amount currency } premium { amount currency } paymentFrequency beneficiaries
                        surrenderValue { amount currency } healthClass }
    ... on PropertyPolicy { kind premium { amount currency } deductible { amount currency } insuredObject
                            claims { claimId reportedOn amount { amount currency } status } }
    ... on Depot { marketValue { amount currency } riskProfile
                   positions { isin name quantity value { amount currency } } }
  }
  portfolio { assets { amount currency } liabilities { amount currency } complete } } }"""
# `--query page`: the consultant's first page of 20 customers, each with their contracts' key figures and the
# portfolio (one master read for the page, one call per partner for all of it).
PAGE_QUERY = """query Page($first: Int) { customers(first: $first) { edges { cursor node { id givenName familyName
    segment consultant { name }
    contracts { contractId productType status partner { id }
      ... on BankAccount { iban balance { amount currency } }
      ... on Loan { outstanding { amount currency } }
      ... on LifePolicy { surrenderValue { amount currency } }
      ... on PropertyPolicy { premium { amount currency } }
      ... on Depot { marketValue { amount currency } } }
    portfolio { assets { amount currency } liabilities { amount currency } complete terminatedContracts } } }
  pageInfo { hasNextPage endCursor } } }"""
PAGE_SIZE = 20
NAMES = ("bank", "life", "property", "invest")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _set_latency(http: aiohttp.ClientSession, partners: Any, latency_ms: int) -> None:
    for p in partners.partners.values():
        async with http.post(f"{p.url}/_faults", json={"latency_ms": latency_ms, "mode": "none"},
                             headers={"Authorization": f"Bearer {p.admin_credential}"}) as response:
            response.raise_for_status()


async def _batch_calls(http: aiohttp.ClientSession, partners: Any) -> int:
    total = 0
    for p in partners.partners.values():
        async with http.get(f"{p.url}/_stats", headers={"Authorization": f"Bearer {p.admin_credential}"}) as response:
            response.raise_for_status()
            total += (await response.json())["batch_calls"]
    return total


async def _partner_batch(http: aiohttp.ClientSession, partners: Any, partner_id: str, ids: list[str]) -> None:
    """One batch call straight to a partner simulator, in its own API."""
    p = partners.partners[partner_id]
    headers = {"Authorization": f"Bearer {p.credential}"}
    if partner_id == "property":
        body = {"query": "query($ids:[ID!]!){ policies(ids:$ids){ contractId premium { amount } } }",
                "variables": {"ids": ids}}
        async with http.post(f"{p.url}/graphql", json=body, headers=headers) as response:
            await response.json()
    else:
        async with http.post(f"{p.url}/v1/contracts/batch", json={"ids": ids}, headers=headers) as response:
            await response.json()


async def _naive(http: aiohttp.ClientSession, partners: Any, alliance: Any) -> None:
    """What a hand-written integration does: each contract fetched on its own, one after another."""
    for ref in (c for c in alliance.contracts if c.customer_id == SHOWCASE):
        await _partner_batch(http, partners, ref.partner_id, [ref.contract_id])


async def _direct(http: aiohttp.ClientSession, partners: Any, alliance: Any) -> None:
    """The partners' side of one customer view, with no gateway: one batch per partner holding its contracts
    (the fields asked for matter little here: latency is injected per call), all at once."""
    held: dict[str, list[str]] = {}
    for ref in (c for c in alliance.contracts if c.customer_id == SHOWCASE):
        held.setdefault(ref.partner_id, []).append(ref.contract_id)
    await asyncio.gather(*(_partner_batch(http, partners, pid, ids) for pid, ids in held.items()))


# The gateway's own timers on its /metrics: seconds summed and counted, per request, per partner call (by partner)
# and per audit commit. Read before and after a level, they say where the gateway's time went there.
_TIMERS = {"vcv_request_seconds": "request", "vcv_audit_commit_seconds": "audit commit",
           "vcv_partner_call_seconds": "partner"}
Timers = dict[str, tuple[float, float]]  # what -> (seconds, count)


async def _timers(http: aiohttp.ClientSession, metrics_url: str) -> Timers:
    async with http.get(metrics_url) as response:
        response.raise_for_status()
        return timers_of(await response.text())


def timers_of(text: str) -> Timers:
    """The timers in a Prometheus exposition text: 'request', 'audit commit' and 'partner <id>' each."""
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        what = _TIMERS.get(family.name)
        if what is None:
            continue
        for sample in family.samples:
            kind = sample.name.rsplit("_", 1)[1]
            if kind in ("sum", "count"):
                key = f"{what} {sample.labels['partner']}" if what == "partner" else what
                totals.setdefault(key, [0.0, 0.0])[1 if kind == "count" else 0] += sample.value
    return {key: (seconds, count) for key, (seconds, count) in totals.items()}


def where_time_went(before: Timers, after: Timers, latency_ms: int) -> dict[str, float]:
    """Means over a level, in ms: a request inside the gateway (from its request log's timer), the slowest
    partner's calls beyond the injected latency, an audit commit, and the events a commit carried."""
    def spent(key: str) -> tuple[float, float]:
        seconds0, count0 = before.get(key, (0.0, 0.0))
        seconds1, count1 = after.get(key, (0.0, 0.0))
        return (seconds1 - seconds0) * 1000, count1 - count0

    request_ms, requests = spent("request")
    partners = [ms / n for ms, n in (spent(k) for k in after if k.startswith("partner ")) if n]
    commit_ms, commits = spent("audit commit")
    went: dict[str, float] = {}
    if requests:
        went["gateway_request_mean_ms"] = round(request_ms / requests, 2)
    if partners:
        went["slowest_partner_mean_over_latency_ms"] = round(max(partners) - latency_ms, 2)
    if commits:
        went["audit_commit_mean_ms"] = round(commit_ms / commits, 2)
        went["audit_events_per_commit"] = round(requests / commits, 2)
    return went


async def _partner_floor(http: aiohttp.ClientSession, partners: Any, alliance: Any, level: int, count: int,
                         latency_ms: int) -> float:
    """p50 over the injected latency of `count` customer views' partner calls made straight to the partners,
    `level` at a time."""
    spent: list[float] = []

    async def worker(views: int) -> None:
        for _ in range(views):
            started = time.perf_counter()
            await _direct(http, partners, alliance)
            spent.append((time.perf_counter() - started) * 1000 - latency_ms)

    await asyncio.gather(*(worker(max(1, count // level)) for _ in range(level)))
    return round(_pct(spent, 0.5), 2)


async def _wait_ready(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes] | None = None, *,
                      body: Any = None, log: Path | None = None, attempts: int = 600) -> None:
    """Until `url` answers below 500 (a POST of `body` when given, else a GET), 0.1 s apart; a process that
    exits meanwhile fails at once, with its `log` when there is one."""
    for _ in range(attempts):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}"
                               + (f":\n{log.read_text()}" if log is not None else ""))
        try:
            async with (http.post(url, json=body) if body is not None else http.get(url)) as response:
                if response.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Client:
    """Customer-360 requests against the gateway; every answer is checked for errors."""

    def __init__(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str], page: bool = False) -> None:
        self.http, self.url, self.headers = http, url, headers
        self.body = json.dumps({"query": PAGE_QUERY, "variables": {"first": PAGE_SIZE}} if page else
                               {"query": QUERY, "variables": {"id": SHOWCASE}})
        self.errors: dict[str, int] = {}  # error code -> answers carrying it (e.g. PARTNER_TIMEOUT under overload)

    async def one(self) -> float:
        started = time.perf_counter()
        async with self.http.post(self.url, data=self.body, headers=self.headers) as response:
            payload = await response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:500]!r}")
        if b'"errors"' in payload:  # a partial answer: counted and reported, the request still counts
            for code in {(e.get("extensions") or {}).get("code", "?") for e in json.loads(payload)["errors"]}:
                self.errors[code] = self.errors.get(code, 0) + 1
        return elapsed

    async def at(self, concurrency: int, requests: int) -> list[float]:
        """`requests` requests by `concurrency` clients, each sending its next one as soon as it has an answer."""
        latencies: list[float] = []
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                latencies.append(await self.one())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies

    async def for_seconds(self, concurrency: int, seconds: float) -> tuple[int, float]:
        """(requests answered, seconds taken) with `concurrency` clients for about `seconds`."""
        done, stop_at = 0, time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                await self.one()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - started


async def _start(args: argparse.Namespace, work: Path) -> tuple[Any, Any, list[subprocess.Popen[bytes]], str, Any]:
    db_url = f"sqlite+aiosqlite:///{work / 'master.db'}"
    await seed_master(db_url, customers=args.customers, seed=42)
    alliance = generate(args.customers, 42)
    # Every partner's port checked free (a base port alone once ran into a port taken by a client socket).
    base_port = free_range(len(NAMES), set())
    gateway_port = free_port()
    while base_port <= gateway_port < base_port + len(NAMES):
        gateway_port = free_port()
    vcv = [sys.executable, "-m", "gateway.cli"]
    # Each partner in a process of its own, as partners are systems of their own: in one process, the calls of
    # several views that arrive together queue behind each other's work, and the overhead at concurrency 8
    # then measures that queue more than the gateway (bench/RESULTS.md, 2026-12-05).
    (work / "credentials.json").write_text(json.dumps(new_credentials(list(NAMES))))
    groups = [NAMES] if args.partners_in_one_process else [(n,) for n in NAMES]
    partner_procs = {group: subprocess.Popen(
        [*SIMULATORS, *group, "--customers", str(args.customers), "--seed", "42",
         "--base-port", str(base_port), "--credentials", str(work / "credentials.json")],
        stdout=subprocess.DEVNULL, stderr=(work / f"partners-{'-'.join(group)}.log").open("w")) for group in groups}
    partners = SimpleNamespace(partners={n: SimpleNamespace(url=f"http://127.0.0.1:{base_port + i}")
                                         for i, n in enumerate(NAMES)})
    try:
        async with aiohttp.ClientSession() as http:
            for group, proc in partner_procs.items():
                for name in group:
                    await _wait_ready(http, f"{partners.partners[name].url}/healthz", proc)
    except BaseException:  # one did not come up: the others are not left running behind the error
        for proc in partner_procs.values():
            proc.kill()
        raise
    credentials = json.loads((work / "credentials.json").read_text())
    for name, p in partners.partners.items():
        p.credential, p.admin_credential = credentials[name]["credential"], credentials[name]["admin_credential"]
    raw = yaml.safe_load(TEMPLATE.read_text())
    for entry in raw["partners"]:
        entry.update(base_url=partners.partners[entry["id"]].url, credential=partners.partners[entry["id"]].credential)
    (work / "partners.yaml").write_text(yaml.safe_dump(raw))
    jwks = ensure_demo_signing_keys(work)
    keys_dir = ensure_demo_pseudonym_keys(work / "pseudonym-keys", ["rm", *NAMES])
    audit_key, _ = generate_audit_keys(work / "audit-keys")
    profiled = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "gateway.cli"] if args.profile else vcv
    gateway_proc = subprocess.Popen([*profiled, "serve", "--db", db_url, "--jwks", str(jwks), "--partners",
                                     str(work / "partners.yaml"), "--agreements", str(DEMO_AGREEMENTS),
                                     "--keys-dir", str(keys_dir),
                                     "--audit-key", str(audit_key), "--port", str(gateway_port),
                                     *(["--no-planner"] if args.no_planner else []),
                                     *(["--workers", str(args.workers)] if args.workers > 1 else []),
                                     *([] if args.audit_in_master else
                                       ["--audit-db", f"sqlite+aiosqlite:///{work / 'audit.db'}"])],
                                    stdout=(work / "gateway.log").open("w"), stderr=subprocess.STDOUT)
    return (alliance, partners, [gateway_proc, *partner_procs.values()], f"http://127.0.0.1:{gateway_port}/graphql",
            jwks)


async def run_gateway(args: argparse.Namespace) -> dict[str, Any]:
    """Partners and gateway each run in their own process, as in production; this one is only the client."""
    work = Path(tempfile.mkdtemp(prefix="vcv-bench-"))
    alliance, partners, procs, url, _ = await _start(args, work)
    gateway_proc = procs[0]
    token = mint(work, role="consultant", consultant_id=alliance.customer(SHOWCASE).consultant_id,
                 purposes=["advisory"])
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "advisory", "Content-Type": "application/json"}
    results: dict[str, Any] = {"customers": args.customers, "latency_ms": args.latency_ms, "workers": args.workers,
                               "holding_partners": len({c.partner_id for c in alliance.contracts
                                                        if c.customer_id == SHOWCASE})}
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            try:
                await _wait_ready(http, url.replace("/graphql", "/healthz"), gateway_proc)
            except RuntimeError:
                raise RuntimeError(f"gateway did not start:\n{(work / 'gateway.log').read_text()}") from None
            client = Client(http, url, headers, page=args.query == "page")
            metrics = url.replace("/graphql", "/metrics")  # the gateway's own timers, read around each level
            await _set_latency(http, partners, args.latency_ms)
            await client.at(4, 20)  # warm-up: caches, connection pools
            if args.query == "page":  # the partners holding the page's contracts, from one answer
                async with http.post(url, data=client.body, headers=headers) as response:
                    edges = (await response.json())["data"]["customers"]["edges"]
                results["query"] = f"page of {len(edges)} customers"
                results["holding_partners"] = len({c["partner"]["id"] for e in edges for c in e["node"]["contracts"]})
            e2e_p50_sequential = None
            for level in args.levels:
                # The floor of this level's overhead: the partners themselves (their own work, the timer that
                # injects their latency, their queue when many calls arrive at once, loopback), without a gateway.
                count = args.requests * (1 if level == 1 else 2)
                floor = await _partner_floor(http, partners, alliance, level, count, args.latency_ms)
                before = await _batch_calls(http, partners)
                timers = await _timers(http, metrics)
                client.errors = {}
                latencies = await client.at(level, count)
                went = where_time_went(timers, await _timers(http, metrics), args.latency_ms)
                calls = (await _batch_calls(http, partners) - before) / count
                overhead = [t * 1000 - args.latency_ms for t in latencies]
                results[f"c{level}"] = {"overhead_p50_ms": round(_pct(overhead, 0.5), 2),
                                        "overhead_p99_ms": round(_pct(overhead, 0.99), 2),
                                        "end_to_end_p50_ms": round(_pct(latencies, 0.5) * 1000, 2),
                                        "partner_floor_p50_ms": floor,
                                        "partner_calls_per_query": round(calls, 2), "requests": count,
                                        "answers_with_errors": dict(client.errors), **went}
                if level == 1:
                    e2e_p50_sequential = statistics.median(latencies)
                print(f"  concurrency {level:3}: {results[f'c{level}']}", flush=True)

            if not args.skip_naive:
                if e2e_p50_sequential is None:
                    e2e_p50_sequential = statistics.median(await client.at(1, args.requests))
                naive = []
                for _ in range(args.naive_runs):
                    started = time.perf_counter()
                    await _naive(http, partners, alliance)
                    naive.append(time.perf_counter() - started)
                results["naive_sequential_p50_ms"] = round(statistics.median(naive) * 1000, 1)
                results["gateway_sequential_p50_ms"] = round(e2e_p50_sequential * 1000, 1)
                results["naive_over_gateway_ratio"] = round(statistics.median(naive) / e2e_p50_sequential, 1)
                print(f"  naive: {results['naive_sequential_p50_ms']} ms, "
                      f"ratio {results['naive_over_gateway_ratio']}", flush=True)

            await _set_latency(http, partners, 0)
            await client.at(8, 50)
            best: tuple[float, int] = (0.0, 0)
            client.errors = {}
            for level in args.throughput_levels:
                cpu_before = cpu_seconds(gateway_proc.pid)
                done, seconds = await client.for_seconds(level, args.throughput_seconds)
                rps = done / seconds
                cpu_ms = (cpu_seconds(gateway_proc.pid) - cpu_before) * 1000 / max(1, done)
                results[f"throughput_c{level}_rps"] = round(rps, 1)
                results[f"gateway_cpu_ms_per_request_c{level}"] = round(cpu_ms, 2)
                print(f"  throughput at {level}: {rps:.1f} req/s, gateway CPU {cpu_ms:.2f} ms per request", flush=True)
                best = max(best, (rps, level))
            results["throughput_rps"], results["throughput_concurrency"] = round(best[0], 1), best[1]
            results["throughput_answers_with_errors"] = dict(client.errors)
        results["gateway_peak_rss_mib"] = peak_rss_mib(gateway_proc.pid)
        results["gateway_pss_mib"] = pss_mib(gateway_proc.pid)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return results


async def run_audit(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        out["sqlite"] = await measure_audit(f"sqlite+aiosqlite:///{Path(work) / 'audit.db'}", args.audit_events,
                                            args.audit_concurrency)
    print(f"  audit sqlite: {out['sqlite']}", flush=True)
    if await pg_reachable(args.pg):
        from bench.audit import measure_pg

        out["postgresql"] = await measure_pg(args.pg, args.audit_events, args.audit_concurrency)
        print(f"  audit postgresql: {out['postgresql']}", flush=True)
    return out


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def went_text(level: dict[str, Any], latency_ms: int) -> str:
    parts = [f"{level['gateway_request_mean_ms']:.1f} ms inside the gateway (its request log's timer)"]
    if "slowest_partner_mean_over_latency_ms" in level:
        parts.append(f"the slowest partner's calls {latency_ms} + {level['slowest_partner_mean_over_latency_ms']:.1f} "
                     "ms")
    if "audit_commit_mean_ms" in level:
        parts.append(f"an audit commit {level['audit_commit_mean_ms']:.1f} ms "
                     f"({level['audit_events_per_commit']:.1f} events each)")
    return parts[0] + (": of it " + ", ".join(parts[1:]) if parts[1:] else "")


def render(results: dict[str, Any], command: str, load: tuple[str, str], note: str) -> str:
    g, a = results["gateway"], results.get("audit", {})
    latency = g["latency_ms"]
    mb = g["gateway_peak_rss_mib"] * 1.048576
    lines = [f"## Latest full run — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             f"Command: `{command}`", "",
             f"Machine: {machine()}. Load average (1 min) before / after the run: {load[0]} / {load[1]}.", ""]
    if note:
        lines += [note, ""]
    workers = f"the gateway in {g['workers']} worker processes, " if g.get("workers", 1) > 1 else ""
    lines += [f"Partners at {latency} ms, {g['customers']:,} customers seeded, {workers}SQLite master and audit log "
              "(each a file of its own), audit on (fail closed), every privacy check on.", "",
              "| figure | measured | target | |", "|---|---|---|---|"]
    for key, value in g.items():
        if not (key.startswith("c") and isinstance(value, dict)):
            continue
        level = key[1:]
        at8 = level == "8"
        bound = {"1": 3, "8": 10}.get(level)  # issue 15's targets
        verdict = _mark(value["overhead_p50_ms"] <= bound) if bound else ""
        lines.append(f"| overhead p50, concurrency {level} | {value['overhead_p50_ms']:.1f} ms "
                     f"| {f'≤ {bound} ms' if bound else '—'} | {verdict} |")
        lines.append(f"| overhead p99, concurrency {level} | {value['overhead_p99_ms']:.1f} ms "
                     f"| {'≤ 15 ms' if at8 else '—'} | {_mark(value['overhead_p99_ms'] <= 15) if at8 else ''} |")
        if "partner_floor_p50_ms" in value:
            lines.append(f"| the partners' own at concurrency {level} (the same calls made straight to them, no "
                         f"gateway), p50 | {value['partner_floor_p50_ms']:.1f} ms | — | |")
        if "gateway_request_mean_ms" in value:
            lines.append(f"| where the time went at concurrency {level} (means, from the gateway's /metrics) | "
                         f"{went_text(value, latency)} | — | |")
    partial = {f"concurrency {k[1:]}": v["answers_with_errors"] for k, v in g.items()
               if k.startswith("c") and isinstance(v, dict) and v.get("answers_with_errors")}
    if g.get("throughput_answers_with_errors"):
        partial["throughput phase"] = g["throughput_answers_with_errors"]
    if partial:
        said = "; ".join(f"{where}: " + ", ".join(f"{n} × {code}" for code, n in codes.items())
                         for where, codes in partial.items())
        lines.insert(lines.index("| figure | measured | target | |") - 1,
                     f"\nAnswers that carried errors (partial answers, still counted in the figures): {said}.")
    calls = [v["partner_calls_per_query"] for k, v in g.items() if k.startswith("c") and isinstance(v, dict)]
    if calls:
        worst = max(calls)
        lines.append(f"| partner calls per query (all levels) | {worst:g} | = {g['holding_partners']} partners "
                     f"holding the contracts | {_mark(worst == g['holding_partners'])} |")
    if "naive_over_gateway_ratio" in g:
        lines.append(f"| naive sequential client, p50 | {g['naive_sequential_p50_ms']:.0f} ms | — | |")
        lines.append(f"| gateway, concurrency 1, end-to-end p50 | {g['gateway_sequential_p50_ms']:.1f} ms | — | |")
        lines.append(f"| naive / gateway | {g['naive_over_gateway_ratio']:.1f}× | — | |")
    levels = ", ".join(f"{k.split('_')[1][1:]}: {v:.0f}" for k, v in g.items()
                       if k.startswith("throughput_c") and k.endswith("_rps"))
    lines.append(f"| throughput, 0 ms partners (best of concurrency {levels}) | {g['throughput_rps']:.0f} req/s "
                 f"at {g['throughput_concurrency']} | ≥ 250 req/s | {_mark(g['throughput_rps'] >= 250)} |")
    cpu = {k.rsplit("_c", 1)[1]: v for k, v in g.items() if k.startswith("gateway_cpu_ms_per_request_c")}
    if cpu:
        per_level = ", ".join(f"{level}: {ms:.1f} ms" for level, ms in cpu.items())
        lines.append(f"| gateway CPU per request, 0 ms partners (concurrency {per_level}) | "
                     f"{min(cpu.values()):.1f} ms | ≤ 4 ms (what 250 req/s on one core allows) | "
                     f"{_mark(min(cpu.values()) <= 4)} |")
    lines.append(f"| gateway peak RSS (VmHWM, after the throughput phase) | {g['gateway_peak_rss_mib']:.1f} MiB "
                 f"({mb:.0f} MB) | ≤ 200 MB | {_mark(mb <= 200)} |")
    if "gateway_pss_mib" in g:
        lines.append(f"| gateway memory after the throughput phase, each shared page once (PSS) | "
                     f"{g['gateway_pss_mib']:.1f} MiB | — | |")
    for backend, figures in a.items():
        target = backend == "sqlite"
        lines.append(f"| audit append, {backend}, {figures['concurrency']} in flight | "
                     f"{figures['append_events_per_s']:,} events/s | {'≥ 2,000 events/s' if target else '—'} | "
                     f"{_mark(figures['append_events_per_s'] >= 2000) if target else ''} |")
        lines.append(f"| audit verify, {backend} | {figures['verify_events_per_s']:,} events/s | ≥ 100,000 events/s "
                     f"| {_mark(figures['verify_events_per_s'] >= 100_000)} |")
    if "postgresql" not in a and a:
        lines.append("| audit, PostgreSQL | not reachable, skipped | | |")
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    def first_time(text: str, block: str) -> str:  # after the introduction, before the history sections
        head, sep, tail = text.partition("\n## ")
        return f"{head.rstrip()}\n\n{block}\n\n{sep.lstrip()}{tail}" if sep else f"{text.rstrip()}\n\n{block}\n"

    replace_section(START, END, section, first_time)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"gateway": await run_gateway(args)}
    if not args.skip_audit:
        results["audit"] = await run_audit(args)
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=int, default=30, help="partner latency for the overhead phase")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels of the overhead phase")
    parser.add_argument("--requests", type=int, default=300,
                        help="requests per overhead level (twice that above concurrency 1)")
    parser.add_argument("--throughput-levels", default="8,16", help="concurrency levels, 0 ms partners")
    parser.add_argument("--throughput-seconds", type=float, default=15.0, help="per throughput level")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--naive-runs", type=int, default=10)
    parser.add_argument("--audit-events", type=int, default=10_000)
    parser.add_argument("--audit-concurrency", type=int, default=32)
    parser.add_argument("--pg", default=os.environ.get("VCV_TEST_PG_URL",
                                                       "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="short run (levels 1,8; 150 requests; 8 s throughput at 8; 2,000 customers; no audit, "
                             "no naive) that prints figures and leaves RESULTS.md alone")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave RESULTS.md alone")
    parser.add_argument("--note", default="", help="a sentence to put into the RESULTS.md section")
    parser.add_argument("--audit-in-master", action="store_true",
                        help="the audit log in the master's SQLite file (default: a file of its own, as `vcv demo`)")
    parser.add_argument("--no-planner", action="store_true", help="the gateway without its planner (strawberry only)")
    parser.add_argument("--partners-in-one-process", action="store_true",
                        help="the four partner simulators in one process (the layout before 2026-12-05)")
    parser.add_argument("--workers", type=int, default=1,
                        help="`vcv serve --workers N` (CPU and RSS are then the sum over its processes)")
    parser.add_argument("--query", choices=("c360", "page"), default="c360",
                        help="c360: one customer's full view (default); page: a page of 20 customers (`customers`)")
    parser.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile, stats written to FILE")
    args = parser.parse_args(argv)
    if args.quick:
        args.levels, args.requests, args.throughput_levels = "1,8", 150, "8"
        args.throughput_seconds, args.customers, args.skip_audit, args.skip_naive = 8.0, 2000, True, True
        args.no_write = True
    if args.query == "page":
        args.skip_naive = True  # the naive client fetches one customer's contracts; a page has no counterpart
    args.levels = [int(x) for x in str(args.levels).split(",") if x]
    args.throughput_levels = [int(x) for x in str(args.throughput_levels).split(",") if x]
    return args


def cli() -> None:
    args = parse()
    load_before = f"{os.getloadavg()[0]:.1f}"
    started = time.perf_counter()
    results = asyncio.run(main(args))
    print(json.dumps(results, indent=2))
    print(f"took {time.perf_counter() - started:.0f} s")
    if not args.no_write:
        shown = [a for i, a in enumerate(sys.argv[1:]) if a != "--note" and not a.startswith("--note=")
                 and (i == 0 or sys.argv[i] != "--note")]  # the note is printed as a sentence, not as a flag
        command = " ".join(["python -m bench.run", *shown])
        write_results(render(results, command, (load_before, f"{os.getloadavg()[0]:.1f}"), args.note))
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    cli()
