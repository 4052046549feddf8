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
from gateway.policy_loader import DEMO_AGREEMENTS
from privacy.agreements import AgreementError
from privacy.audit.keys import generate as generate_audit_keys
from resolvers.connectors.partners_file import load
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
    assert "Pseudonyms:" not in result.stdout  # nothing pseudonymised for the consultant


def test_explain_shows_each_field_once_without_and_with_each_consent() -> None:
    result = _vcv("policy", "explain", "--owner", "bank", "--consumer", "life", "--purpose", "lead_management")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("field"))
    assert "without consent" in header and "with consent lead_management" in header
    rows = [line for line in lines if line.startswith(("BankAccount.", "Loan."))]
    fields = [row.split()[0] for row in rows]
    assert len(fields) == len(set(fields)) == 11  # one line per field of the bank
    iban = next(row for row in rows if row.startswith("BankAccount.iban "))
    assert iban.split()[1:3] == ["redact", "bank/default-deny"]  # without the customer's consent
    assert "mask last4" in iban and "bank/partners-leads (bank.yaml:" in iban  # with it


@pytest.mark.parametrize(("option", "value", "known"), [
    ("--owner", "nobody", "rm"), ("--consumer", "lifee", "service_agent"), ("--purpose", "marketing", "advisory")])
def test_explain_refuses_unknown_names_listing_the_known_ones(option: str, value: str, known: str) -> None:
    args = {"--owner": "bank", "--consumer": "life", "--purpose": "lead_management"} | {option: value}
    result = _vcv("policy", "explain", *[x for pair in args.items() for x in pair])
    assert result.returncode == 2 and result.stdout == ""
    assert f"unknown {option[2:]} '{value}'; one of " in result.stderr and known in result.stderr


def _changed_bank(tmp_path: Path) -> Path:
    """The bank stops masking IBANs for service desks (shown in full) and withdraws loan maturities from
    partners under lead_management."""
    target = tmp_path / "new"
    shutil.copytree(DEMO_AGREEMENTS, target)
    bank = target / "bank.yaml"
    text = bank.read_text(encoding="utf-8")
    lines = text.splitlines()
    desk = next(i for i, line in enumerate(lines) if "id: service-desk" in line)
    iban = next(i for i in range(desk, len(lines)) if "BankAccount.iban: {mask: last4}" in lines[i])
    lines[iban] = lines[iban].replace("{mask: last4}", "allow")
    lines = [line for line in lines if "Loan.maturityDate: {generalize: {to: year}}" not in line]
    bank.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def test_diff_lists_per_consumer_and_purpose_what_gains_loses_or_changes(tmp_path: Path) -> None:
    new = _changed_bank(tmp_path)
    result = _vcv("policy", "diff", str(DEMO_AGREEMENTS), str(new))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert ("bank -> service_agent (role service_agent) for service:\n"
            "  ~ BankAccount.iban: mask last4 (bank/service-desk) -> allow (bank/service-desk)") in out
    assert ("bank -> life (role partner) for lead_management:\n"
            "  - Loan.maturityDate: generalize to year (bank/partners-leads) -> redact (bank/default-deny)"
            "  [with consent lead_management]") in out
    assert "consultant" not in out  # nothing changes for consultants
    one_file = _vcv("policy", "diff", str(DEMO_AGREEMENTS / "bank.yaml"), str(new / "bank.yaml"))
    assert one_file.returncode == 1 and one_file.stdout == out

    same = _vcv("policy", "diff", str(DEMO_AGREEMENTS), str(DEMO_AGREEMENTS))
    assert same.returncode == 0 and same.stdout.startswith("no change")


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
