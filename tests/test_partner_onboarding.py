"""`vcv onboard` as an alliance's onboarding team runs it: every bad line named with its file and line,
nothing half-written (not even the partner's registration), `--dry-run` writes nothing, JSON like CSV."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from fixtures.seed import seed_master
from resolvers import models
from resolvers.database import create_engine

ROOT = Path(__file__).resolve().parent.parent
VCV = [sys.executable, "-m", "gateway.cli"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onboard") / "seeded.db"

    def seed() -> None:
        asyncio.run(seed_master(f"sqlite+aiosqlite:///{path}", customers=20, seed=5))

    # A loop of its own: this module-scoped fixture may run inside the test session's loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(seed).result()
    return path


@pytest.fixture
def master(seeded: Path, tmp_path: Path) -> str:
    copy = tmp_path / "master.db"
    shutil.copy(seeded, copy)
    return f"sqlite+aiosqlite:///{copy}"


@pytest.fixture
def partners(tmp_path: Path) -> Path:
    path = tmp_path / "partners.yaml"
    path.write_text((ROOT / "fixtures/partners.yaml").read_text() + (ROOT / "docs/examples/coop/connector.yaml")
                    .read_text())
    return path


def _onboard(master: str, partners: Path, contracts: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VCV, "onboard", "coop", "--db", master, "--partners", str(partners),
                           "--contracts", str(contracts), *extra], capture_output=True, text=True, timeout=60)


async def _state(master: str) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    engine = create_engine(master)
    try:
        async with engine.connect() as conn:
            p = models.PartnerRow
            partner_ids = list((await conn.execute(select(p.id).order_by(p.id))).scalars())
            r = models.ContractRow
            refs = [tuple(row) for row in await conn.execute(
                select(r.contract_id, r.customer_id, r.product_type, r.status).where(r.partner_id == "coop")
                .order_by(r.contract_id))]
    finally:
        await engine.dispose()
    return partner_ids, refs  # type: ignore[return-value]


async def test_every_bad_line_is_named_and_nothing_is_written(master: str, partners: Path, tmp_path: Path) -> None:
    contracts = tmp_path / "contracts.csv"
    contracts.write_text("customer_id,contract_id,product_code\n"
                         "C-000001,CPB-0001,TAGESGELD\n"
                         "C-999999,CPB-0002,TAGESGELD\n"   # unknown customer
                         "C-000002,BNK-0003,DARLEHEN\n"    # another partner's prefix
                         "C-000002,CPB-0001,DARLEHEN\n"    # duplicate
                         "C-000003,CPB-0005,GIRO\n")       # not a code of this partner
    before = await _state(master)
    result = _onboard(master, partners, contracts)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{contracts}:3: unknown customer C-999999",
        f"{contracts}:4: contract ID 'BNK-0003' does not start with coop's prefix CPB- "
        "(or is longer than 32 characters)",
        f"{contracts}:5: duplicate contract CPB-0001 (first on line 2)",
        f"{contracts}:6: unknown product code 'GIRO'; coop's codes are DARLEHEN, LOAN, SAVINGS, TAGESGELD",
        "4 problem(s); nothing was written"]
    assert await _state(master) == before and "coop" not in before[0]  # not even registered


async def test_dry_run_then_import_of_a_json_file(master: str, partners: Path, tmp_path: Path) -> None:
    contracts = tmp_path / "contracts.json"
    contracts.write_text(json.dumps([
        {"customer_id": "C-000001", "contract_id": "CPB-0001", "product_code": "TAGESGELD"},
        {"customer_id": "C-000002", "contract_id": "CPB-0002", "product_code": "LOAN", "status": "terminated",
         "start_date": "2020-01-01", "end_date": "2024-06-30"},
    ], indent=2))
    dry = _onboard(master, partners, contracts, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would register; would import 2 contract references for 2 customers" in dry.stdout
    assert "coop" not in (await _state(master))[0]

    done = _onboard(master, partners, contracts)
    assert done.returncode == 0, done.stderr
    ids, refs = await _state(master)
    assert "coop" in ids
    assert refs == [("CPB-0001", "C-000001", "SAVINGS", "active"), ("CPB-0002", "C-000002", "LOAN", "terminated")]

    again = _onboard(master, partners, contracts)  # a second run cannot import the same contracts twice
    assert again.returncode == 1
    assert f"{contracts}:2: contract CPB-0001 is already in the master (customer C-000001)" in again.stderr
    assert f"{contracts}:7: contract CPB-0002 is already in the master" in again.stderr


def test_a_malformed_file_is_an_error_naming_it(master: str, partners: Path, tmp_path: Path) -> None:
    contracts = tmp_path / "contracts.csv"
    contracts.write_text("customer,contract_id,product_code\nC-000001,CPB-0001,TAGESGELD\n")
    result = _onboard(master, partners, contracts)
    assert result.returncode == 1
    assert f"{contracts}:1: missing column 'customer_id'" in result.stderr
    unknown = subprocess.run([*VCV, "onboard", "nobody", "--db", master, "--partners", str(partners)],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "no partner 'nobody'" in unknown.stderr and "coop" in unknown.stderr
