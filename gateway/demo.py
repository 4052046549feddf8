"""`vcv demo`: the whole alliance on loopback in one process — a SQLite customer master (seeded if empty),
the four partner simulators and the gateway — plus ready-to-paste tokens and a `demo.json` for scripts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from fixtures.alliance import Alliance, generate
from fixtures.partners.runner import RunningPartners, start_partners
from fixtures.seed import is_seeded_url, seed_master
from gateway.app import GatewaySettings, create_app
from gateway.tokens import ensure_demo_keys, mint
from privacy.audit.keys import generate as generate_audit_keys
from privacy.audit.keys import load_signing_key
from privacy.pseudonyms import ensure_demo_keys as ensure_pseudonym_keys
from resolvers.connectors import config as connector_config

PARTNERS_TEMPLATE = Path(__file__).resolve().parent.parent / "fixtures" / "partners.yaml"


@dataclass(slots=True)
class Demo:
    data_dir: Path
    gateway_url: str
    partners: RunningPartners
    runner: web.AppRunner
    info: dict[str, Any]

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.partners.stop()


PURPOSES = {"consultant": ["advisory", "lead_management"], "customer": ["self_service"],
            "partner": ["service", "lead_management"], "service_agent": ["service", "complaint"],
            "compliance": ["audit"]}


def demo_tokens(data_dir: Path, alliance_customer: str, consultant: str) -> dict[str, str]:
    ttl = 8 * 3600
    ids = {"consultant": {"consultant_id": consultant}, "customer": {"customer_id": alliance_customer},
           "partner": {"partner_id": "bank"}}
    return {role: mint(data_dir, role=role, ttl_s=ttl, purposes=purposes, **ids.get(role, {}))
            for role, purposes in PURPOSES.items()}


def demo_identities(tokens: dict[str, str], alliance: Alliance) -> list[dict[str, Any]]:
    """What the pages offer as one-click identities in demo mode (never outside it)."""
    first = alliance.customers[0]
    consultant = next(c for c in alliance.consultants if c.id == first.consultant_id)
    labels = {"consultant": f"Consultant {consultant.name} ({consultant.id})",
              "customer": f"Customer {first.given_name} {first.family_name} ({first.id})",
              "partner": "Alliance Bank (partner)", "service_agent": "Service agent",
              "compliance": "Compliance officer"}
    return [{"role": role, "label": labels[role], "purposes": PURPOSES[role], "token": token}
            for role, token in tokens.items()]


async def start_demo(data_dir: Path, *, port: int = 8080, host: str = "127.0.0.1", customers: int = 200,
                     seed: int = 42, partner_ports: dict[str, int] | None = None,
                     partners_file: Path | None = None, agreements_dir: Path | None = None) -> Demo:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite+aiosqlite:///{data_dir / 'master.db'}"
    if not await is_seeded_url(db_url):
        await seed_master(db_url, customers=customers, seed=seed)
    alliance = generate(customers, seed)
    partners = await start_partners(alliance, host=host, ports=partner_ports)
    overrides = {pid: {"base_url": p.url, "credential": p.credential} for pid, p in partners.partners.items()}
    config_path = data_dir / "partners.yaml"
    raw = yaml.safe_load((partners_file or PARTNERS_TEMPLATE).read_text(encoding="utf-8"))
    for entry in raw["partners"]:
        entry.update(overrides.get(entry["id"], {}))
    _write_private(config_path, yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    partners_config = connector_config.load(config_path)
    # Demo pseudonym keys live in the data directory, outside the database; production takes them from
    # the environment or a mounted key directory.
    keys_dir = ensure_pseudonym_keys(data_dir / "pseudonym-keys", ["rm", *partners_config.partners])
    # The audit log shares the demo's SQLite file; its signing key, like the others, stays outside it.
    audit_key, audit_public = generate_audit_keys(data_dir / "audit-keys")
    jwks = ensure_demo_keys(data_dir)
    first = alliance.customers[0]
    tokens = demo_tokens(data_dir, first.id, first.consultant_id)
    settings = GatewaySettings(db_url=db_url, jwks_path=jwks, partners=partners_config,
                               keys_dir=keys_dir, audit_signing_key=load_signing_key(audit_key),
                               **({"agreements_dir": agreements_dir.resolve()} if agreements_dir else {}),
                               audit_checkpoint_every=10, demo_identities=demo_identities(tokens, alliance))
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    gateway_url = f"http://{host}:{bound}"
    info = {
        "gateway_url": gateway_url,
        "graphql_url": f"{gateway_url}/graphql",
        "database_url": db_url,
        "audit": {"database_url": db_url, "public_key": str(audit_public),
                  "verify": f"vcv audit verify --db {db_url} --public-key {audit_public}"},
        "jwks": str(settings.jwks_path),
        "partners_config": str(config_path),
        "partners": {pid: {"url": p.url, "credential": p.credential, "admin_credential": p.admin_credential}
                     for pid, p in partners.partners.items()},
        # Partners from --partners that are not simulators here: their own systems, at their own URLs.
        "other_partners": {pid: c.base_url for pid, c in partners_config.partners.items()
                           if pid not in partners.partners},
        "showcase_customer": first.id,
        "tokens": tokens,
    }
    _write_private(data_dir / "demo.json", json.dumps(info, indent=2))
    return Demo(data_dir, gateway_url, partners, runner, info)


def _write_private(path: Path, text: str) -> None:
    """Credentials and tokens are in these files: readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def banner(demo: Demo) -> str:
    info = demo.info
    lines = [
        "Virtual Customer View demo is running. Ctrl-C stops everything.",
        f"  Customer 360:    {info['gateway_url']}/   (also /self-service and /compliance)",
        f"  GraphiQL:        {info['graphql_url']}",
        f"  customer master: {info['database_url']}",
        *(f"  partner {pid:<9} {p['url']}" for pid, p in info["partners"].items()),
        *(f"  partner {pid:<9} {url} (its own system, from --partners)" for pid, url in info["other_partners"].items()),
        f"  demo.json:       {demo.data_dir / 'demo.json'} (URLs, credentials, tokens for scripts)",
        "",
        "Tokens (send as 'Authorization: Bearer <token>' with an 'X-Purpose' header):",
    ]
    purposes = {"consultant": "advisory", "customer": "self_service", "partner": "service",
                "service_agent": "service", "compliance": "audit"}
    for role, token in info["tokens"].items():
        lines.append(f"  {role} (X-Purpose: {purposes[role]}):\n    {token}")
    token_of = f"python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[\"tokens\"][\"consultant\"])' " \
               f"{demo.data_dir / 'demo.json'}"
    lines += [
        "",
        "The partner token is the bank's: partners see customers only as pseudonyms, so list them with",
        "  { customers(first: 5) { edges { node { id contracts { contractId } } } } }",
        "and open one with customer(id: \"PSN-…\").",
        "",
        "First query:",
        f"  curl -s {info['graphql_url']} -H 'Content-Type: application/json' \\",
        f"    -H \"Authorization: Bearer $({token_of})\" \\",
        "    -H 'X-Purpose: advisory' \\",
        f"    -d '{{\"query\": \"{{ customer(id: \\\"{info['showcase_customer']}\\\") {{ givenName familyName "
        "contracts { contractId productType partner { name } } } }\"}'",
    ]
    return "\n".join(lines)


async def run_demo(data_dir: Path, *, port: int, customers: int, seed: int, partners_file: Path | None = None,
                   agreements_dir: Path | None = None) -> None:
    demo = await start_demo(data_dir, port=port, customers=customers, seed=seed, partners_file=partners_file,
                            agreements_dir=agreements_dir)
    print(banner(demo), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping…", flush=True)
    await demo.stop()

