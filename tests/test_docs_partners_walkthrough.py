"""docs/partners.md's onboarding walkthrough, extracted from the page and run as written (shell blocks of
section 3, in order): a fifth partner registered and its contracts imported without SQL, the demo started
with it, and its contracts answered through the gateway. Only the scratch directory and the two ports are
swapped for free ones, so the test does not collide with a demo someone is running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.gateway_support import free_port

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "partners.md"


def walkthrough() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 3. Example"):text.index("## 4.")]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_doc_has_the_whole_walkthrough() -> None:
    script = "\n".join(walkthrough())
    for step in ("fixtures.partners.coop", "docs/examples/coop/connector.yaml", "vcv policy check",
                 "vcv onboard", "--dry-run", "vcv demo", "--agreements", "curl"):
        assert step in script, step


def test_the_onboarding_walkthrough_runs_as_written(tmp_path: Path) -> None:
    demo_port, coop_port = free_port(), free_port()
    script = "\n".join(walkthrough())
    script = (script.replace("/tmp/coop-walkthrough", str(tmp_path / "work"))
              .replace("8080", str(demo_port)).replace("9105", str(coop_port)))
    # The connector entry names port 9105: the copy the script appends is rewritten the same way.
    connector = (ROOT / "docs/examples/coop/connector.yaml").read_text().replace("9105", str(coop_port))
    (tmp_path / "connector.yaml").write_text(connector)
    script = script.replace("docs/examples/coop/connector.yaml", str(tmp_path / "connector.yaml"))
    # Stop what the walkthrough started in the background, whatever happens.
    wrapped = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("VCV_COOP_CREDENTIAL", None)
    result = subprocess.run(["bash", "-c", wrapped], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "5 agreements" not in out and "6 agreements" in out  # coop's agreement checked with the others
    assert "would import 3 contract references" in out and "dry run: nothing was written" in out
    assert "registered; imported 3 contract references for 2 customers" in out
    # curl's answer has no newline; the demo's "stopping…" follows it on the same line.
    answer, _ = json.JSONDecoder().raw_decode(out[out.rindex('{"data"'):])
    assert "errors" not in answer, answer
    contracts = {c["contractId"]: c for c in answer["data"]["customer"]["contracts"]}
    assert set(contracts) == {"CPB-0001", "CPB-0002"}  # C-000001's, as imported
    assert contracts["CPB-0001"]["balance"] == {"amount": "1234.56", "currency": "EUR"}
    assert contracts["CPB-0002"] == {"contractId": "CPB-0002", "productType": "LOAN", "status": "active",
                                     "outstanding": {"amount": "9000.00"}}
