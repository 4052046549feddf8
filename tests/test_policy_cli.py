"""`vcv policy check | explain | records` and the gateway refusing to start on a bad agreement, each run
as a real process the way a data-protection officer or an operator runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import GatewaySettings, create_app
from gateway.policy import DEMO_AGREEMENTS
from privacy.agreements import AgreementError
from privacy.audit.keys import generate as generate_audit_keys
from resolvers.connectors.config import load
from tests.gateway_support import World

VCV = [sys.executable, "-m", "gateway.cli"]


def _vcv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VCV, *args], capture_output=True, text=True, timeout=60)


def _broken_agreements(tmp_path: Path) -> tuple[Path, int]:
    """A copy of the demo agreements where the bank masks a money field (a string treatment)."""
    target = tmp_path / "agreements"
    shutil.copytree(DEMO_AGREEMENTS, target)
    bank = target / "bank.yaml"
    lines = bank.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if "BankAccount.balance: allow" in line)
    lines[index] = lines[index].replace("BankAccount.balance: allow", "BankAccount.balance: {mask: last4}")
    bank.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target, index + 1


def test_check_accepts_the_demo_agreements() -> None:
    result = _vcv("policy", "check")
    assert result.returncode == 0, result.stderr
    assert "5 agreements" in result.stdout


def test_check_names_file_and_line_of_a_misfit_treatment(tmp_path: Path) -> None:
    agreements, line = _broken_agreements(tmp_path)
    result = _vcv("policy", "check", "--agreements", str(agreements))
    assert result.returncode == 1
    assert f"bank.yaml:{line}:" in result.stderr
    assert "BankAccount.balance" in result.stderr and "mask" in result.stderr


def test_explain_prints_field_treatment_and_rule() -> None:
    result = _vcv("policy", "explain", "--owner", "life", "--consumer", "consultant", "--purpose", "advisory")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("LifePolicy.")}
    assert rows["LifePolicy.healthClass"][1:3] == ["redact", "life/health-class-stays-with-life"]
    assert rows["LifePolicy.premium"][1:3] == ["allow", "life/consultant-advisory"]
    unknown = _vcv("policy", "explain", "--owner", "nobody", "--consumer", "consultant", "--purpose", "advisory")
    assert unknown.returncode == 2 and "unknown owner" in unknown.stderr
    assert "Pseudonyms:" not in result.stdout  # nothing pseudonymised for the consultant


def test_explain_names_the_key_family_of_a_pseudonym() -> None:
    result = _vcv("policy", "explain", "--owner", "rm", "--consumer", "bank", "--purpose", "service")
    assert result.returncode == 0, result.stderr
    assert "Customer.id" in result.stdout and "pseudonymize" in result.stdout
    assert "Pseudonyms: keyed per (owner, consumer) = (rm, bank)" in result.stdout


def test_records_of_processing_in_markdown_and_json() -> None:
    as_json = _vcv("policy", "records", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    text = json.dumps(records)
    for owner in ("rm", "bank", "life", "property", "invest"):
        assert owner in text
    assert "lead_management" in text
    markdown = _vcv("policy", "records")
    assert markdown.returncode == 0 and markdown.stdout.lstrip().startswith("#")


async def test_gateway_refuses_to_start_on_a_bad_agreement(world: World, tmp_path: Path) -> None:
    agreements, line = _broken_agreements(tmp_path)
    settings = GatewaySettings(db_url=world.db_url, jwks_path=world.keys_dir / "jwks.json",
                               partners=load(Path(__file__).parent.parent / "fixtures" / "partners.yaml",
                                             allow_missing_env=True),
                               agreements_dir=agreements, keys_dir=world.pseudonym_keys)
    with pytest.raises(AgreementError, match=f"bank.yaml:{line}:"):
        create_app(settings)


def test_serve_command_exits_with_the_agreement_error(world: World, tmp_path: Path) -> None:
    agreements, line = _broken_agreements(tmp_path)
    partners = tmp_path / "partners.yaml"
    partners.write_text((Path(__file__).parent.parent / "fixtures" / "partners.yaml").read_text()
                        .replace("${VCV_BANK_CREDENTIAL}", "x").replace("${VCV_LIFE_CREDENTIAL}", "x")
                        .replace("${VCV_PROPERTY_CREDENTIAL}", "x").replace("${VCV_INVEST_CREDENTIAL}", "x"))
    result = _vcv("serve", "--db", world.db_url, "--jwks", str(world.keys_dir / "jwks.json"), "--partners",
                  str(partners), "--agreements", str(agreements), "--keys-dir", str(world.pseudonym_keys),
                  "--audit-key", str(generate_audit_keys(tmp_path / "audit")[0]), "--port", "0")
    assert result.returncode == 1
    assert "not starting" in result.stderr and f"bank.yaml:{line}:" in result.stderr
