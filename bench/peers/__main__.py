"""vcv beside its peers (issue 15): Apollo Gateway on Apollo Server, Hive Gateway, and Hive Gateway with the
Rust query planner, all over the same subgraphs with the same seeded data, measured side by side.

    make bench-peers                         # npm ci in bench/peers, then this; writes the Peers section
    .venv/bin/python -m bench.peers --quick  # a short run that prints figures and leaves RESULTS.md alone

What runs (all on loopback, each in its own process): JS federation subgraphs for the customer master, bank,
life and invest (bench/peers/subgraphs.cjs, one Node process) serving an export of `generate(customers, 42)`;
the project's property simulator (`vcv partners run`); the supergraph composed with @apollo/composition; the
four gateways. vcv (`vcv serve`) reads its own SQLite master seeded with the same seed and reaches bank, life
and invest as `protocol: graphql` connectors, property as always: configuration only. vcv's caller is a
consultant with purpose `advisory` (JWT), policy and audit on, under agreements that allow every field of the
query, so all four return the same data; the driver checks that they do before measuring.

Measured in interleaved rounds (each round visits every gateway, in a rotating order): CPU per request of all
the gateway's processes (utime + stime from /proc) and throughput at concurrency 8 with 0 ms partners; overhead
(end to end minus the partners' 30 ms) p50/p99 at concurrency 1 and 8; peak RSS (VmHWM) at the end. The customer
master subgraph answers at 0 ms throughout, as vcv's local master does; only the four partners get latency.

Measured the same way, not compared for data: the *floor* (bench/floor.py), a server on vcv's own stack that
makes the same partner calls and does nothing else, so the table shows how much of vcv's figures is its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.peers.data import JS_PARTNERS, agreements, export, vcv_partners
from bench.ports import free_port, free_range
from bench.procs import cpu_seconds, peak_rss_mib
from bench.results import replace_section
from bench.run import NAMES, QUERY, RESULTS, SHOWCASE, SIMULATORS, TEMPLATE, Client, _pct, _wait_ready, machine
from fixtures.alliance import generate
from fixtures.seed import seed_master
from gateway.tokens import ensure_demo_signing_keys, mint
from privacy.audit.keys import generate as generate_audit_keys
from privacy.pseudonyms import ensure_demo_pseudonym_keys

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
START, END = "<!-- bench.peers:start -->", "<!-- bench.peers:end -->"
# bench.run's customer-360 query without `portfolio` (a vcv computation the peers do not have)
PEER_QUERY = QUERY.split("\n  portfolio")[0] + " } }"
SUBGRAPHS = ("master", *JS_PARTNERS)
NODE_ENV = {"NODE_ENV": "production"}  # as deployed: no stack traces in answers, production code paths
GATEWAYS = ("vcv", "apollo", "hive", "hive-rust")
# Measured like the gateways, not compared for identical data: vcv's stack doing only the partner calls.
MEASURED = (*GATEWAYS, "floor")
LABELS = {"vcv": "vcv (JWT, policy and audit on)", "apollo": "Apollo Gateway 2.14.4 on Apollo Server 5.5.1",
          "hive": "Hive Gateway 2.15.1",
          "hive-rust": "Hive Gateway + Rust planner (@graphql-hive/router-runtime 1.4.23)",
          "floor": "*floor*: vcv's stack making the partner calls and nothing else (bench/floor.py)"}


@dataclass
class Figures:
    requests: int = 0
    cpu_s: float = 0.0
    rps: list[float] = field(default_factory=list)
    overhead: dict[int, list[float]] = field(default_factory=lambda: {1: [], 8: []})
    errors: dict[str, int] = field(default_factory=dict)
    rss_mib: float = 0.0


class Stack:
    """Every process of the comparison, started in `work` and stopped together."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        self.admin: dict[str, tuple[str, str]] = {}  # partner -> (base URL, admin credential) for latency

    def spawn(self, name: str, argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        log = (self.work / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **(env or {})})

    async def wait(self, http: aiohttp.ClientSession, name: str, url: str, body: Any = None) -> None:
        await _wait_ready(http, url, self.procs[name], body=body, log=self.work / f"{name}.log", attempts=900)

    async def start(self, http: aiohttp.ClientSession) -> None:
        args, work = self.args, self.work
        alliance = generate(args.customers, 42)
        template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
        (work / "export.json").write_text(json.dumps(export(alliance, template)))
        creds = {n: {"credential": secrets.token_urlsafe(18), "admin_credential": secrets.token_urlsafe(18)}
                 for n in (*SUBGRAPHS, "property")}
        (work / "credentials.json").write_text(json.dumps(creds))

        ports: dict[str, int] = {}
        for n in SUBGRAPHS:
            while (port := free_port()) in ports.values():
                pass
            ports[n] = port
        self.spawn("subgraphs", ["node", str(HERE / "subgraphs.cjs"), str(work / "export.json"),
                                 str(work / "credentials.json"), *(f"{n}={p}" for n, p in ports.items())], cwd=HERE,
                   env=NODE_ENV)
        base = free_range(len(NAMES), set(ports.values()))
        self.spawn("simulators", [*SIMULATORS, "--customers",
                                  str(args.customers), "--seed", "42", "--base-port", str(base), "--credentials",
                                  str(work / "credentials.json")])
        urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        urls["property"] = f"http://127.0.0.1:{base + NAMES.index('property')}"
        for n in SUBGRAPHS:
            await self.wait(http, "subgraphs", f"{urls[n]}/healthz")
        await self.wait(http, "simulators", f"{urls['property']}/healthz")
        self.admin = {n: (urls[n], creds[n]["admin_credential"]) for n in (*JS_PARTNERS, "property")}
        self.sim_admin = (urls["property"], creds["property"]["admin_credential"])
        self.js_admin = {n: (urls[n], creds[n]["admin_credential"]) for n in SUBGRAPHS}

        # The supergraph: each subgraph's own SDL (`_service { sdl }`), composed by @apollo/composition.
        services = []
        for n in (*SUBGRAPHS, "property"):
            async with http.post(f"{urls[n]}/graphql", json={"query": "{ _service { sdl } }"},
                                 headers={"Authorization": f"Bearer {creds[n]['credential']}"}) as response:
                sdl = (await response.json())["data"]["_service"]["sdl"]
            services.append({"name": n, "url": f"{urls[n]}/graphql", "sdl": sdl})
        (work / "services.json").write_text(json.dumps(services))
        composed = subprocess.run(["node", str(HERE / "compose.mjs"), str(work / "services.json"),
                                   str(work / "supergraph.graphql")], cwd=HERE, capture_output=True, text=True)
        if composed.returncode:
            raise RuntimeError(f"composition failed:\n{composed.stderr}")
        headers = {n: f"Bearer {creds[n]['credential']}" for n in (*SUBGRAPHS, "property")}
        (work / "headers.json").write_text(json.dumps(headers))

        # vcv: its own master (same seed), the subgraphs as connectors, all-allowing agreements, audit on.
        db_url = f"sqlite+aiosqlite:///{work / 'master.db'}"
        await seed_master(db_url, customers=args.customers, seed=42)
        partners = vcv_partners(template, urls, {n: creds[n]["credential"] for n in creds})
        (work / "partners.yaml").write_text(yaml.safe_dump(partners, sort_keys=False))
        (work / "agreements").mkdir()
        for owner, text in agreements().items():
            (work / "agreements" / f"{owner}.yaml").write_text(text)
        jwks = ensure_demo_signing_keys(work)
        keys_dir = ensure_demo_pseudonym_keys(work / "pseudonym-keys", ["rm", *NAMES])
        audit_key, _ = generate_audit_keys(work / "audit-keys")
        gateway_ports: dict[str, int] = {}
        for g in MEASURED:  # distinct ports (a released port may be handed out again)
            while (port := free_port()) in gateway_ports.values():
                pass
            gateway_ports[g] = port
        self.spawn("vcv", [sys.executable, "-m", "gateway.cli", "serve", "--db", db_url, "--jwks", str(jwks),
                           "--partners", str(work / "partners.yaml"), "--agreements", str(work / "agreements"),
                           "--keys-dir", str(keys_dir), "--audit-key", str(audit_key),
                           # The audit log in a SQLite file of its own, as `vcv demo` keeps it.
                           "--audit-db", f"sqlite+aiosqlite:///{work / 'audit.db'}",
                           "--port", str(gateway_ports["vcv"])])
        self.spawn("apollo", ["node", str(HERE / "apollo.mjs"), str(work / "supergraph.graphql"),
                              str(gateway_ports["apollo"]), str(work / "headers.json")], cwd=HERE, env=NODE_ENV)
        hive = [str(HERE / "node_modules" / ".bin" / "hive-gateway"), "supergraph", str(work / "supergraph.graphql"),
                "--host", "127.0.0.1", "-c", str(HERE / "hive.config.mjs")]
        env = {"VCV_PEERS_HEADERS": str(work / "headers.json"), **NODE_ENV}
        self.spawn("hive", [*hive, "--port", str(gateway_ports["hive"])], cwd=HERE, env=env)
        self.spawn("hive-rust", [*hive, "--port", str(gateway_ports["hive-rust"]), "--hive-router-runtime"],
                   cwd=HERE, env=env)
        self.spawn("floor", [sys.executable, "-m", "bench.floor", "--partners", str(work / "partners.yaml"),
                             "--port", str(gateway_ports["floor"]), "--customers", str(args.customers)])
        self.urls = {g: f"http://127.0.0.1:{p}/graphql" for g, p in gateway_ports.items()}
        for g in MEASURED:
            await self.wait(http, g, self.urls[g], {"query": "{ __typename }"})
        self.token = mint(work, role="consultant", consultant_id=alliance.customer(SHOWCASE).consultant_id,
                          purposes=["advisory"])

    def headers(self, gateway: str) -> dict[str, str]:
        base = {"Content-Type": "application/json"}
        return {**base, "Authorization": f"Bearer {self.token}", "X-Purpose": "advisory"} if gateway == "vcv" else base

    async def latency(self, http: aiohttp.ClientSession, ms: int) -> None:
        for name, (url, admin) in self.admin.items():
            path, body = ("/_faults", {"latency_ms": ms, "mode": "none"}) if name == "property" else (
                "/_latency", {"latency_ms": ms})
            async with http.post(url + path, json=body, headers={"Authorization": f"Bearer {admin}"}) as response:
                response.raise_for_status()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _answer(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.post(url, json={"query": PEER_QUERY, "variables": {"id": SHOWCASE}}, headers=headers) as r:
        body = await r.json(content_type=None)
    if r.status != 200 or body.get("errors"):
        raise RuntimeError(f"{url}: HTTP {r.status}: {json.dumps(body)[:2000]}")
    return body["data"]


async def check_identical(http: aiohttp.ClientSession, stack: Stack) -> int:
    """Every gateway's answer equals vcv's, byte for byte as JSON; returns the number of contracts compared."""
    answers = {g: await _answer(http, stack.urls[g], stack.headers(g)) for g in GATEWAYS}
    reference = json.dumps(answers["vcv"], sort_keys=True)
    for g, data in answers.items():
        if json.dumps(data, sort_keys=True) != reference:
            (stack.work / f"answer-{g}.json").write_text(json.dumps(data, indent=1, sort_keys=True))
            (stack.work / "answer-vcv.json").write_text(json.dumps(answers["vcv"], indent=1, sort_keys=True))
            raise RuntimeError(f"{g} answers differently from vcv: see {stack.work}/answer-{g}.json")
    return len(answers["vcv"]["customer"]["contracts"])


async def _stats(http: aiohttp.ClientSession, url: str, admin: str) -> dict[str, Any]:
    async with http.get(f"{url}/_stats", headers={"Authorization": f"Bearer {admin}"}) as response:
        response.raise_for_status()
        return await response.json()


async def _calls(http: aiohttp.ClientSession, stack: Stack) -> int:
    """Requests the four JS subgraphs (master included) have answered."""
    return sum([(await _stats(http, *stack.js_admin[n]))["requests"] for n in SUBGRAPHS])


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="vcv-peers-"))
    stack = Stack(args, work)
    figures = {g: Figures() for g in MEASURED}
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await stack.start(http)
            out["contracts"] = await check_identical(http, stack)
            print(f"all {len(GATEWAYS)} gateways return identical data ({out['contracts']} contracts)", flush=True)
            floor = len((await _answer(http, stack.urls["floor"], stack.headers("floor")))["customer"]["contracts"])
            if floor != out["contracts"]:
                raise RuntimeError(f"the floor server got {floor} records from the partners, not {out['contracts']}")
            sim_cpu0, js_cpu0 = cpu_seconds(stack.procs["simulators"].pid), cpu_seconds(stack.procs["subgraphs"].pid)
            sim_batches0 = (await _stats(http, *stack.sim_admin))["batch_calls"]
            js_calls0 = await _calls(http, stack)
            for rnd in range(args.rounds):
                order = MEASURED[rnd % len(MEASURED):] + MEASURED[:rnd % len(MEASURED)]
                for g in order:
                    f, pid = figures[g], stack.procs[g].pid
                    client = Client(http, stack.urls[g], stack.headers(g))
                    client.body = json.dumps({"query": PEER_QUERY, "variables": {"id": SHOWCASE}})
                    await stack.latency(http, 0)
                    await client.at(8, 40)  # warm-up: caches, connection pools
                    before = cpu_seconds(pid)
                    done, seconds = await client.for_seconds(8, args.throughput_seconds)
                    f.cpu_s += cpu_seconds(pid) - before
                    f.requests += done
                    f.rps.append(done / seconds)
                    await stack.latency(http, args.latency_ms)
                    for level, count in ((1, args.requests), (8, args.requests * 2)):
                        f.overhead[level] += [t * 1000 - args.latency_ms for t in await client.at(level, count)]
                    for code, n in client.errors.items():
                        f.errors[code] = f.errors.get(code, 0) + n
                    print(f"  round {rnd + 1} {g:9}: {f.rps[-1]:.1f} req/s, "
                          f"overhead p50 c1 {_pct(f.overhead[1][-args.requests:], 0.5):.1f} ms", flush=True)
            await stack.latency(http, 0)
            sim_batches = (await _stats(http, *stack.sim_admin))["batch_calls"] - sim_batches0
            js_calls = await _calls(http, stack) - js_calls0
            out["property_cpu_ms_per_batch"] = round((cpu_seconds(stack.procs["simulators"].pid) - sim_cpu0) * 1000
                                                     / max(1, sim_batches), 3)
            out["js_subgraphs_cpu_ms_per_call"] = round((cpu_seconds(stack.procs["subgraphs"].pid) - js_cpu0) * 1000
                                                                / max(1, js_calls), 3)
            for g in MEASURED:
                figures[g].rss_mib = peak_rss_mib(stack.procs[g].pid)
            out["identical_after"] = await check_identical(http, stack)
    except BaseException:
        print(f"work directory kept for inspection: {work}", file=sys.stderr)
        raise
    finally:
        stack.stop()
    for g, f in figures.items():
        out[g] = {"cpu_ms_per_request": round(f.cpu_s * 1000 / max(1, f.requests), 2),
                  "rps_c8": round(sorted(f.rps)[len(f.rps) // 2], 1), "rps_rounds": [round(x, 1) for x in f.rps],
                  **{f"overhead_{q}_c{lvl}_ms": round(_pct(f.overhead[lvl], p), 1)
                     for lvl in (1, 8) for q, p in (("p50", 0.5), ("p99", 0.99))},
                  "peak_rss_mib": f.rss_mib, "answers_with_errors": f.errors}
    shutil.rmtree(work, ignore_errors=True)
    return out


def render(r: dict[str, Any], args: argparse.Namespace, command: str, load: tuple[str, str]) -> str:
    v = r["vcv"]

    def ratio(g: str, key: str) -> str:
        return f"{r[g][key] / v[key]:.2f}×" if v[key] else "—"

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [f"## Peers — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "", f"Command: `{command}`", "",
             f"Machine: {machine()}, Node {node}. "
             f"Load average (1 min) before / after: {load[0]} / {load[1]}.", "",
             f"The same query (bench.run's customer 360 without `portfolio`, customer {SHOWCASE}, {r['contracts']} "
             "contracts at 4 partners) through four gateways over the same subgraphs: JS federation subgraphs for "
             "the master, bank, life and invest serving an export of the same seed, the project's property "
             "simulator; vcv reaches bank, life and invest by `protocol: graphql` configuration alone and reads its "
             "own SQLite master (same seed), its audit log in a SQLite file of its own. All four answers were "
             "checked identical (as JSON) before and after "
             f"measuring. {args.customers:,} customers; {args.rounds} interleaved rounds; throughput and CPU "
             f"at concurrency 8 for {args.throughput_seconds:g} s per round with 0 ms partners; overhead = end to "
             f"end − {args.latency_ms} ms with the four partners at {args.latency_ms} ms (the master subgraph at "
             f"0 ms, like vcv's local master), {args.requests} requests at c=1 and {args.requests * 2} at c=8 per "
             "round. CPU is user + system time of all the gateway's processes from /proc. Ratios are peer / vcv.",
             "", "| gateway | CPU ms per request | ratio | req/s, c=8, 0 ms | ratio | overhead p50 / p99, c=1 "
             "| overhead p50 / p99, c=8 | peak RSS MiB | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for g in MEASURED:
        x = r[g]
        lines.append(f"| {LABELS[g]} | {x['cpu_ms_per_request']:.1f} | {ratio(g, 'cpu_ms_per_request')} "
                     f"| {x['rps_c8']:.0f} | {ratio(g, 'rps_c8')} "
                     f"| {x['overhead_p50_c1_ms']:.1f} / {x['overhead_p99_c1_ms']:.1f} ms "
                     f"| {x['overhead_p50_c8_ms']:.1f} / {x['overhead_p99_c8_ms']:.1f} ms "
                     f"| {x['peak_rss_mib']:.0f} | {ratio(g, 'peak_rss_mib')} |")
    errors = {g: r[g]["answers_with_errors"] for g in MEASURED if r[g]["answers_with_errors"]}
    lines += ["", "Throughput per round (req/s): " + "; ".join(
        f"{g} {', '.join(f'{x:.0f}' for x in r[g]['rps_rounds'])}" for g in MEASURED) + "."]
    floor, rust = r["floor"]["cpu_ms_per_request"], r["hive-rust"]["cpu_ms_per_request"]
    lines += ["", "The *floor* row is not a gateway: a server on vcv's stack (one process, uvloop, aiohttp, vcv's "
              "own partner client and connectors) that answers each request with the same four partner calls "
              "and the records they return, with no token, GraphQL, master, agreements, mapping or audit "
              f"(bench/floor.py). Its {floor:.2f} ms of CPU per request is "
              f"{floor / rust:.2f}× Hive Gateway + Rust planner's {rust:.2f} ms: what a gateway on this stack "
              "pays before doing any work of its own."]
    if errors:
        lines.append(f"Answers that carried errors (still counted): {json.dumps(errors)}.")
    lines += ["", "CPU per request is the figure other load on the machine moves least; throughput and latencies "
              "move with it (see the rounds above), so compare those on a quiet machine. What the partners cost "
              "during the run, CPU in their own processes: the property simulator "
              f"{r['property_cpu_ms_per_batch']:.2f} ms per batch, the JS subgraphs "
              f"{r['js_subgraphs_cpu_ms_per_call']:.2f} ms per call (the four "
              "together, master included); `python -m bench.simulators` measures each simulator alone."]
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    def first_time(text: str, block: str) -> str:  # after bench.run's latest section
        marker = "<!-- bench.run:latest:end -->"
        return text.replace(marker, f"{marker}\n\n{block}", 1) if marker in text else f"{text.rstrip()}\n\n{block}\n"

    replace_section(START, END, section, first_time)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=100, help="per round at c=1 (twice that at c=8)")
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="1 round, 4 s, 40 requests; RESULTS.md untouched")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.throughput_seconds, args.requests, args.customers, args.no_write = 1, 4.0, 40, 200, True
    return args


def cli() -> None:
    args = parse()
    if not (HERE / "node_modules").is_dir():
        sys.exit("bench/peers/node_modules is missing: run `make bench-peers` (npm ci there) first")
    load_before = f"{os.getloadavg()[0]:.1f}"
    started = time.perf_counter()
    results = asyncio.run(measure(args))
    print(json.dumps(results, indent=2))
    print(f"took {time.perf_counter() - started:.0f} s")
    if not args.no_write:
        command = " ".join(["python -m bench.peers", *sys.argv[1:]])
        write_results(render(results, args, command, (load_before, f"{os.getloadavg()[0]:.1f}")))
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    cli()
