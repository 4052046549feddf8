"""Where `vcv serve` takes its settings from: flags, then VCV_* variables, then the --config file; and what
an operator sees when the file or a setting is wrong (the process does not start, the message says why)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import _one_process, main
from gateway.serve import identity_settings
from gateway.serve_config import ServeConfigError, load_config
from privacy.audit.keys import generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    path = tmp_path / "vcv.yaml"
    path.write_text(yaml.safe_dump({"database_url": "sqlite+aiosqlite:///from-file.db", "jwks": str(jwks),
                                    "partners": str(ROOT / "fixtures" / "partners.yaml"),
                                    "agreements": str(ROOT / "fixtures" / "agreements"), "port": 9000,
                                    "workers": 4}))
    return path


def test_flags_beat_environment_beat_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config(config_file).port == 9000
    monkeypatch.setenv("VCV_PORT", "9100")
    monkeypatch.setenv("VCV_DATABASE_URL", "postgresql+asyncpg://vcv@db/vcv")
    config = load_config(config_file, port=9200, workers=None)  # None: that flag was not given
    assert (config.port, config.workers, config.database_url) == (9200, 4, "postgresql+asyncpg://vcv@db/vcv")
    assert load_config(config_file).port == 9100


def test_a_misspelt_key_is_an_error_not_a_silent_default(config_file: Path) -> None:
    config_file.write_text(config_file.read_text() + "wokers: 8\n")
    with pytest.raises(ServeConfigError, match=r"wokers: unknown setting"):
        load_config(config_file)


def test_missing_and_invalid_settings_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VCV_DATABASE_URL", "VCV_JWKS", "VCV_PARTNERS", "VCV_WORKERS", "VCV_AGREEMENTS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "vcv.yaml"
    path.write_text("workers: 0\njwks: /nowhere/jwks.json\n")
    with pytest.raises(ServeConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert str(path) in message
    assert "database_url: required (a flag, VCV_DATABASE_URL or `database_url:` in the configuration file)" in message
    assert "workers: Input should be greater than or equal to 1" in message
    # Production never falls back to the demo's agreements: without them it does not start, and says so.
    assert "agreements: required (a flag, VCV_AGREEMENTS or `agreements:` in the configuration file)" in message
    assert "jwks: Value error, no such file: /nowhere/jwks.json" in message


@pytest.mark.parametrize(("content", "expected"), [
    ("port: [8080\n", r"vcv\.yaml:2: not valid YAML"),
    ("- port\n- 8080\n", r"expected a mapping of settings .* found a list"),
])
def test_a_broken_file_is_named_with_its_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "vcv.yaml"
    path.write_text(content)
    with pytest.raises(ServeConfigError, match=expected):
        load_config(path)


def test_vcv_serve_refuses_to_start_and_says_why(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VCV_AUDIT_SIGNING_KEY", raising=False)
    result = CliRunner().invoke(main, ["serve", "--config", str(config_file), "--workers", "0"])
    assert result.exit_code != 0
    assert "not starting: invalid configuration" in result.output and "workers:" in result.output

    # Credentials come from the variables the partners file names; without them it says which is missing.
    result = CliRunner().invoke(main, ["serve", "--config", str(config_file)])
    assert "environment variable VCV_BANK_CREDENTIAL is not set" in result.output
    monkeypatch.setenv("VCV_BANK_CREDENTIAL", "")  # e.g. read from a file that was not there yet
    result = CliRunner().invoke(main, ["serve", "--config", str(config_file)])
    assert "partners/0 (bank): environment variable VCV_BANK_CREDENTIAL is empty" in result.output

    # A valid configuration without an audit signing key: nothing may be served unlogged.
    for partner in ("BANK", "LIFE", "PROPERTY", "INVEST"):
        monkeypatch.setenv(f"VCV_{partner}_CREDENTIAL", "secret")
    result = CliRunner().invoke(main, ["serve", "--config", str(config_file)])
    assert result.exit_code != 0
    assert "not starting: no audit signing key: set $VCV_AUDIT_SIGNING_KEY or give a key file" in result.output


@pytest.mark.parametrize("workers", [1, 4])
def test_vcv_serve_refuses_a_port_another_process_listens_on(config_file: Path, tmp_path: Path,
                                                             workers: int) -> None:
    # Several workers bind one socket each with SO_REUSEPORT, which a gateway already on the port (say a stale
    # one with other agreements) could share: the two would split its traffic without a word. Refused instead,
    # as one process is refused, and before the gateway is built.
    env = {**os.environ, "VCV_AUDIT_SIGNING_KEY": generate(tmp_path / "audit")[0].read_text().strip(),
           **{f"VCV_{partner}_CREDENTIAL": "secret" for partner in ("BANK", "LIFE", "PROPERTY", "INVEST")}}
    with socket.socket() as running:
        running.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as a gateway's worker binds
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = running.getsockname()[1]
        # A process of its own: were the check gone, several workers would fork from it, not from pytest.
        result = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config_file),
                                 "--workers", str(workers), "--port", str(port)],
                                env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"not starting: cannot listen at 127.0.0.1:{port}: Address already in use" in result.stderr


def test_metrics_in_memory_only_when_serve_runs_one_process(config_file: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Read before the configuration is loaded (loading it defines metrics), with load_config's precedence.
    monkeypatch.delenv("VCV_WORKERS", raising=False)
    assert not _one_process(config_file, None)  # the file says 4
    assert _one_process(config_file, 1)  # the flag wins
    monkeypatch.setenv("vcv_workers", "1")  # as pydantic-settings, whatever the case
    assert _one_process(config_file, None) and not _one_process(config_file, 2)
    monkeypatch.delenv("vcv_workers")
    assert _one_process(None, None)  # the default
    broken = tmp_path / "broken.yaml"
    broken.write_text("workers: [")
    assert not _one_process(broken, None)  # unclear: shared files, which serve one process as well


def test_vcv_serve_refuses_to_start_without_identity_configuration(config_file: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VCV_JWKS", "VCV_JWKS_URL", "VCV_ISSUER", "VCV_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # where the demo would keep its keys (.vcv): nothing may appear there
    settings = yaml.safe_load(config_file.read_text())
    del settings["jwks"]
    config_file.write_text(yaml.safe_dump(settings))
    result = CliRunner().invoke(main, ["serve", "--config", str(config_file)])
    assert result.exit_code != 0
    assert ("not starting: invalid configuration (flags, VCV_* environment, " + str(config_file) + "): no identity "
            "provider configured: give `jwks` (a JWKS file), `jwks_url` or `issuer` (flags --jwks, --jwks-url, "
            "--issuer; VCV_JWKS, VCV_JWKS_URL, VCV_ISSUER); vcv serve never uses the demo's keys") in result.output
    assert not (tmp_path / ".vcv").exists()


def test_a_provider_needs_an_audience_and_one_source_of_keys(config_file: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VCV_JWKS", "VCV_JWKS_URL", "VCV_ISSUER", "VCV_AUDIENCE", "VCV_CLAIMS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ServeConfigError, match=r"give `jwks` \(a file\) or `jwks_url`, not both"):
        load_config(config_file, jwks_url="https://login.bank.example/realms/rm/protocol/openid-connect/certs")
    settings = yaml.safe_load(config_file.read_text())
    del settings["jwks"]
    settings["issuer"] = "https://login.bank.example/realms/rm"
    config_file.write_text(yaml.safe_dump(settings))
    with pytest.raises(ServeConfigError, match=r"identity: `audience` is required with a provider's keys"):
        load_config(config_file)
    with pytest.raises(ServeConfigError, match=r"issuer: Value error, not an http\(s\) URL: login.bank.example"):
        load_config(config_file, issuer="login.bank.example", audience="vcv")

    settings.update(audience="vcv-gateway", claims={"role": {"claim": "realm_access.roles", "prefix": "vcv-"},
                                                    "purposes": {"claim": "scope", "prefix": "purpose:"}})
    config_file.write_text(yaml.safe_dump(settings))
    identity = identity_settings(load_config(config_file))
    assert (identity.issuer, identity.audience, identity.jwks_file) == (settings["issuer"], "vcv-gateway", None)
    assert identity.claims.role.claim == "realm_access.roles" and identity.claims.purposes.prefix == "purpose:"
    assert identity.claims.consultant_id.claim == "consultant_id"  # what the file does not say stays the demo's
    # The environment can carry the mapping too, as JSON.
    monkeypatch.setenv("VCV_CLAIMS", '{"role": {"claim": "groups", "map": {"g-1": "auditor"}}}')
    with pytest.raises(ServeConfigError, match=r"claims\.role: Value error, role map targets auditor"):
        load_config(config_file)
