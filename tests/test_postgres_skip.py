"""The PostgreSQL-backed tests on a machine whose server answers but whose `test` database is missing: they
skip with the reason (outside CI) or fail (under CI), instead of erroring one by one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, _pg_problem

ROOT = Path(__file__).resolve().parent.parent
MISSING = PG_URL.rsplit("/", 1)[0] + "/vcv_no_such_database"


def _run(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"VCV_TEST_PG_URL": MISSING}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/test_master_migrations.py::test_upgrade_is_idempotent_and_downgrade_removes_everything"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def server_answers() -> None:
    problem = _pg_problem(PG_URL)
    if problem and "not reachable" in problem:
        pytest.skip(problem)


def test_a_missing_database_is_named_as_the_reason(server_answers: None) -> None:
    problem = _pg_problem(MISSING)
    assert problem is not None and "vcv_no_such_database" in problem and "cannot be opened" in problem


def test_tests_skip_with_the_reason_outside_ci_and_fail_under_ci(server_answers: None) -> None:
    outside = _run(ci=False)
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert "1 passed, 1 skipped" in outside.stdout  # the SQLite case runs, the PostgreSQL case skips
    assert "vcv_no_such_database" in outside.stdout and " error" not in outside.stdout.splitlines()[-1]

    under_ci = _run(ci=True)
    assert under_ci.returncode == 1
    assert "required under CI" in under_ci.stdout and "1 passed, 1 error" in under_ci.stdout  # a fixture failure
