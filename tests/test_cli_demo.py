"""The command line as a newcomer uses it: `vcv demo`, `vcv token`, `vcv schema`, each a real process."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import graphql

from gateway.identity import Verifier

VCV = [sys.executable, "-m", "gateway.cli"]


def test_schema_prints_the_sdl_with_the_public_names() -> None:
    out = subprocess.run([*VCV, "schema"], capture_output=True, text=True, check=True).stdout
    sdl = graphql.build_schema(out)  # what a partner developer's tooling does with it

    def signature(type_name: str, field: str) -> str:
        f = sdl.type_map[type_name].fields[field]  # type: ignore[union-attr]
        args = ", ".join(f"{name}: {arg.type}" for name, arg in f.args.items())
        return f"{field}({args}): {f.type}" if args else f"{field}: {f.type}"

    assert signature("Query", "customer") == "customer(id: ID!): Customer"
    assert signature("Query", "customers") == ("customers(search: String, first: Int, after: String): "
                                               "CustomerConnection!")
    assert signature("Query", "me") == "me: Customer"
    assert signature("Query", "partners") == "partners: [Partner!]!"
    assert signature("Customer", "portfolio") == "portfolio: PortfolioSummary"
    assert signature("Mutation", "setConsent") == "setConsent(purpose: String!, granted: Boolean!): Consent!"
    assert isinstance(sdl.type_map["Contract"], graphql.GraphQLInterfaceType)
    for concrete in ("BankAccount", "Loan", "LifePolicy", "PropertyPolicy", "Depot"):
        assert [i.name for i in sdl.type_map[concrete].interfaces] == ["Contract"]  # type: ignore[union-attr]
    assert sdl.type_map["Query"].fields["customer"].description  # type: ignore[union-attr]


def test_token_command_mints_verifiable_tokens(tmp_path: Path) -> None:
    out = subprocess.run([*VCV, "token", "--data-dir", str(tmp_path), "--role", "partner", "--partner-id", "life",
                          "--purposes", "service,lead_management", "--ttl", "120"],
                         capture_output=True, text=True, check=True).stdout.strip()
    caller = Verifier.from_file(tmp_path / "jwks.json").verify(f"Bearer {out}", "lead_management")
    assert (caller.role, caller.partner_id, caller.purposes) == ("partner", "life", ("service", "lead_management"))
    missing = subprocess.run([*VCV, "token", "--data-dir", str(tmp_path), "--role", "customer",
                              "--purposes", "self_service"], capture_output=True, text=True)
    assert missing.returncode == 2 and "--customer-id" in missing.stderr


async def test_demo_runs_answers_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen([*VCV, "demo", "--data-dir", str(tmp_path), "--port", "0", "--customers", "40"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info_path = tmp_path / "demo.json"
        deadline = time.monotonic() + 60
        while not info_path.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info_path.exists(), process.communicate(timeout=5)
        time.sleep(0.2)
        info = json.loads(info_path.read_text())
        assert set(info["partners"]) == {"bank", "life", "property", "invest"}
        assert info_path.stat().st_mode & 0o077 == 0  # credentials inside: owner only
        query = '{ customer(id: "C-000001") { givenName contracts { contractId ... on Depot { riskProfile } } } }'
        async with aiohttp.ClientSession() as http, http.post(
            info["graphql_url"], json={"query": query},
            headers={"Authorization": f"Bearer {info['tokens']['consultant']}", "X-Purpose": "advisory"},
        ) as response:
            body = await response.json()
        assert "errors" not in body, body
        assert len(body["data"]["customer"]["contracts"]) == 20
        # The verify command demo.json prints runs as printed: with the public key and the gateway's witness.
        verify = subprocess.run(shlex.split(info["audit"]["verify"]), capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0, verify.stderr
        assert verify.stdout.startswith("intact: ") and "--witness" in info["audit"]["verify"]
        assert Path(info["audit"]["witness"]).read_text().strip()  # the query's commit, signed, outside the database
        # The log in a file of its own, beside the master's (not in it: its commits would slow the master's reads).
        assert info["audit"]["database_url"].endswith("/audit.db") and (tmp_path / "audit.db").exists()
        assert info["audit"]["database_url"] != info["database_url"]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    for needle in ("GraphiQL:", "consultant (X-Purpose: advisory)", "compliance (X-Purpose: audit)", "curl"):
        assert needle in out, needle


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    # Partner developers learn the schema from GraphiQL and `vcv schema`: nothing may be left unexplained.
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    from gateway.schema import build_schema

    missing = []
    for name, kind in build_schema()._schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Float", "Boolean", "ID"):
            continue
        missing += [name] if not kind.description else []
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                missing += [f"{name}.{field_name}"] if not field.description else []
                for arg_name, arg in getattr(field, "args", {}).items():
                    missing += [f"{name}.{field_name}({arg_name})"] if not arg.description else []
        if isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, v in kind.values.items() if not v.description]
    assert missing == []


def test_keys_command_makes_every_trial_key_once(tmp_path: Path) -> None:
    run = [*VCV, "keys", "--dir", str(tmp_path / "secrets")]
    first = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    secrets = tmp_path / "secrets"
    assert f"VCV_JWKS={secrets / 'jwks.json'}" in first and f"VCV_KEYS_DIR={secrets / 'pseudonym-keys'}" in first
    Verifier.from_file(secrets / "jwks.json")  # a JWKS the gateway accepts
    private = [secrets / "audit-signing.key", *(secrets / "pseudonym-keys" / f"{o}.key"
                                                 for o in ("rm", "bank", "life", "property", "invest"))]
    assert all(path.stat().st_mode & 0o077 == 0 for path in private)  # readable by the owner only
    before = {path: path.read_text() for path in private}
    subprocess.run(run, capture_output=True, text=True, check=True)
    assert {path: path.read_text() for path in private} == before  # existing keys are kept


async def test_a_data_directory_from_before_keeps_its_audit_log_in_the_masters_file(tmp_path: Path) -> None:
    """A demo directory written before the log had a file of its own: its chain (and the witness of it) stay
    in the master's file, so `verify` still finds the log its witness speaks of."""
    from fixtures.demo import start_demo

    (tmp_path / "audit-witness.jsonl").write_text('{"seq": 10, "hash": "00", "signature": "00"}\n')
    demo = await start_demo(tmp_path, port=0, customers=20)
    try:
        assert demo.info["audit"]["database_url"] == demo.info["database_url"]
        assert not (tmp_path / "audit.db").exists()
    finally:
        await demo.stop()
