"""What an operator sees: JSON log lines that follow one request from the gateway into each partner by its
request ID and carry no customer values, and Prometheus metrics at /metrics that count partner calls by
outcome, errors by code and redactions by owner."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.logs import log_handler
from tests.gateway_support import SHOWCASE, Gateway, World, account_ibans, consultant_of, free_port, wait_ready

QUERY = """query($id: ID!) { customer(id: $id) { familyName contracts { contractId
    ... on BankAccount { iban balance { amount } } ... on Depot { marketValue { amount } } } } }"""


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = log_handler("json", buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


async def test_json_logs_follow_one_request_into_every_partner_without_values(
        gateway: Gateway, world: World, json_log: io.StringIO) -> None:
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    reply = await gateway.post(QUERY, token=token, purpose="advisory", variables={"id": SHOWCASE},
                               headers={"X-Request-ID": "trace-4711"})
    assert reply.errors == [] and reply.headers["X-Request-ID"] == "trace-4711"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    ours = [line for line in lines if line.get("request_id") == "trace-4711"]
    gateway_line = next(line for line in ours if line["logger"] == "vcv.gateway")
    assert gateway_line["status"] == 200 and gateway_line["role"] == "consultant"
    assert gateway_line["purpose"] == "advisory" and gateway_line["duration_ms"] > 0
    partner_lines = {line["partner"]: line for line in ours if line["logger"].startswith("vcv.partner.")}
    assert set(partner_lines) == {"bank", "invest"}  # only the partners whose fields were asked for
    assert all(line["purpose"] == "advisory" for line in partner_lines.values())
    text = json_log.getvalue()
    customer = world.alliance.customer(SHOWCASE)
    assert customer.family_name not in text
    assert all(iban not in text for iban in account_ibans(world, SHOWCASE))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def _metrics(gateway: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with gateway.http.get(f"{gateway.url}/metrics") as response:  # no token: scraped on the inside
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return _samples(await response.text())


async def test_metrics_count_partner_outcomes_errors_and_redactions(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    await world.fault("invest", mode="timeout")
    before = await _metrics(gateway)
    consultant = consultant_of(world, SHOWCASE)
    replies = [
        await gateway.as_role(QUERY, "consultant", "advisory", {"id": SHOWCASE}, consultant_id=consultant),
        await gateway.as_role(QUERY, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                              partner_id="life"),
        await gateway.as_role(QUERY, "consultant", "advisory", {"id": "C-999999"}, consultant_id=consultant)]
    after = await _metrics(gateway)
    reported = Counter((r["owner"], r["treatment"].split()[0], r["rule"])
                       for reply in replies for r in (reply.body.get("extensions") or {}).get("redactions", ()))

    def delta(name: str, **labels: str) -> float:
        """Change of the samples carrying these labels, summed over any other labels they have."""
        def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
            return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))
        return total(after) - total(before)

    assert delta("vcv_partner_calls_total", partner="bank", outcome="ok") == 2
    assert delta("vcv_partner_calls_total", partner="invest", outcome="PARTNER_TIMEOUT") == 2
    assert delta("vcv_errors_total", code="PARTNER_TIMEOUT") > 0
    assert delta("vcv_errors_total", code="CUSTOMER_NOT_FOUND") == 1
    assert delta("vcv_requests_total", status="200") == 3
    assert delta("vcv_request_seconds_count", operation="adhoc") == 3
    assert delta("vcv_audit_commit_seconds_count") >= 1  # every one of them waited for its audit event
    assert delta("vcv_redactions_total", owner="rm", rule="rm/partners-leads") >= 1
    # The life insurer sees the master's customer data only masked, and bank IBANs only as the last four.
    assert delta("vcv_redactions_total", owner="rm", treatment="mask") >= 1
    assert delta("vcv_redactions_total", owner="bank", treatment="mask") >= 1
    # Every redaction the callers were told of is counted once, under its owner, kind of treatment and rule.
    assert len(reported) > 3 and any(count > 1 for count in reported.values())
    for (owner, treatment, rule), count in reported.items():
        assert delta("vcv_redactions_total", owner=owner, treatment=treatment, rule=rule) == count
    # No label carries anything about a customer.
    async with gateway.http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    assert SHOWCASE not in text and world.alliance.customer(SHOWCASE).family_name not in text


async def test_partners_run_logs_request_id_and_purpose_as_json(tmp_path: Path) -> None:
    port, credentials = free_port(), tmp_path / "credentials.json"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "--log-format", "json", "partners", "run", "bank",
                             "--customers", "20", "--base-port", str(port), "--credentials", str(credentials)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, f"http://127.0.0.1:{port}/healthz")
            credential = json.loads(credentials.read_text())["bank"]["credential"]
            async with http.post(f"http://127.0.0.1:{port}/v1/contracts/batch", json={"ids": ["BNK-00000001"]},
                                 headers={"Authorization": f"Bearer {credential}", "X-Request-ID": "trace-1",
                                          "X-Purpose": "service"}) as response:
                assert response.status == 200
                assert response.headers["X-Request-ID"] == "trace-1"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("request_id") == "trace-1"]
    assert logged, stderr
    assert logged[0]["purpose"] == "service" and logged[0]["logger"] == "vcv.partner.bank"
    assert logged[0]["level"] == "INFO"
