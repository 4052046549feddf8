"""Changing an agreement without a restart: `kill -HUP` makes a running `vcv serve` re-read the partners file
and the agreements; an invalid file is refused with its file and line, and the running configuration stays."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tokens import mint
from privacy.audit.keys import generate
from tests.gateway_support import SHOWCASE, World, free_port, wait_ready

QUERY = 'query($id: ID!) { customer(id: $id) { contracts(partner: "bank") { ... on BankAccount { iban } } } }'


async def test_sighup_reloads_agreements_and_refuses_a_broken_one(world: World, tmp_path: Path) -> None:
    agreements = tmp_path / "agreements"
    shutil.copytree(DEMO_AGREEMENTS, agreements)
    partners = tmp_path / "partners.yaml"
    partners.write_text(yaml.safe_dump(world.config()))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--db", world.db_url, "--jwks", str(world.keys_dir / "jwks.json"),
        "--partners", str(partners), "--agreements", str(agreements), "--keys-dir", str(world.pseudonym_keys),
        "--audit-key", str(generate(tmp_path / "audit")[0]), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    token = mint(world.keys_dir, role="partner", partner_id="life", purposes=["service"])

    async def ibans() -> list[Any]:
        async with world.http.post(f"http://127.0.0.1:{port}/graphql", json={
                "query": QUERY, "variables": {"id": world.pseudonym(SHOWCASE, "life")}},
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "service"}) as response:
            body = await response.json()
        return [c.get("iban") for c in body["data"]["customer"]["contracts"]]

    async def eventually(expected: Any) -> None:
        for _ in range(100):
            if await ibans() == expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"still {await ibans()}")

    try:
        await wait_ready(world.http, f"http://127.0.0.1:{port}/readyz")
        before = await ibans()
        assert before and all(iban.startswith("****") for iban in before)  # the last four, for direct debits

        bank = agreements / "bank.yaml"
        good = bank.read_text()
        # The bank withdraws the IBAN fragment from the insurers: the accounts stay listed, the IBANs go.
        rule = "# the account exists; the bank's loans stay unlisted\n      BankAccount.iban: {mask: last4}"
        assert rule in good
        bank.write_text(good.replace(rule, rule.split("\n")[0]))
        process.send_signal(signal.SIGHUP)
        await eventually([None] * len(before))

        bank.write_text(good.replace("BankAccount.iban: {mask: last4}", "BankAccount.ibn: {mask: last4}", 1))
        process.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        assert await ibans() == [None] * len(before)  # the broken file changed nothing
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert "reloaded" in log
    # The reload logs what changed for whom, as `vcv policy diff` would have shown the reviewer.
    assert ("bank -> life (role partner) for service:\n"
            "  - BankAccount.iban: mask last4 (bank/partners-iban-last4) -> redact (bank/default-deny)") in log
    assert "reload refused, the running configuration stays" in log and "bank.yaml:" in log
    assert "unknown field 'BankAccount.ibn'" in log
