"""`dataExport`: a customer downloads everything held about them (GDPR Art. 15/20) in one document — master
record, every contract from every partner fetched live, consents with their history, the access report —
with a failing partner stated rather than silently missing, and the export audited like any read."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from privacy.audit.store import AuditLog
from resolvers.database import create_engine
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of, private_master

EXPORT = "{ dataExport { fileName generatedAt complete document } }"


def _holder(world: World) -> str:
    """The showcase: contracts at every partner."""
    assert {r.partner_id for r in world.alliance.contracts if r.customer_id == SHOWCASE} == {
        "bank", "life", "property", "invest"}
    return SHOWCASE


async def _events(db_url: str, request_id: str) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    try:
        return [e["body"] for e in await AuditLog(engine, None).read() if e["body"]["request_id"] == request_id]
    finally:
        await engine.dispose()


async def test_a_customer_exports_everything_held_about_them(make_gateway, world: World, tmp_path: Path) -> None:
    db_url = private_master(world, tmp_path)
    gateway: Gateway = await make_gateway(settings_overrides={"db_url": db_url})
    customer = _holder(world)
    person = world.alliance.customer(customer)
    consultant = consultant_of(world, customer)
    await gateway.as_role("query($id: ID!) { customer(id: $id) { familyName } }", "consultant", "advisory",
                          {"id": customer}, consultant_id=consultant)

    token = gateway.token("customer", ["self_service"], customer_id=customer)
    consent = 'mutation($g: Boolean!) { setConsent(purpose: "advisory", granted: $g) { active } }'
    for granted in (True, False, True):  # a grant withdrawn and a new grant: all belong to the history
        changed = await gateway.post(consent, token=token, purpose="self_service", variables={"g": granted})
        assert changed.data == {"setConsent": {"active": granted}}, changed.body
    request_id = f"export-{uuid.uuid4()}"
    reply = await gateway.post(EXPORT, token=token, purpose="self_service", headers={"X-Request-ID": request_id})
    assert reply.errors == []
    export = reply.data["dataExport"]
    assert export["complete"] is True and export["fileName"].startswith(f"{customer}-data-export-")
    document = export["document"]
    assert document["format"] == "vcv-data-export/1" and document["subject"] == customer
    assert document["masterRecord"]["familyName"] == person.family_name
    assert document["masterRecord"]["id"] == customer
    held = sorted(r.contract_id for r in world.alliance.contracts if r.customer_id == customer)
    assert sorted(c["contractId"] for c in document["contracts"]) == held
    assert {c["partner"]["id"] for c in document["contracts"]} == {"bank", "life", "property", "invest"}
    # Values come live from the partners (a bank account carries its IBAN, a depot its positions' fields).
    assert any(c.get("iban") for c in document["contracts"])
    history = [(c["purpose"], c["withdrawnAt"] is not None) for c in document["consents"]]
    assert ("advisory", True) in history and ("advisory", False) in history
    seeded = [c for c in world.alliance.consents if c.customer_id == customer]
    assert len(history) == len(seeded) + (1 if any(c.purpose == "advisory" for c in seeded) else 2)
    changes = [c for a in document["accessReport"] for c in a["consentChanges"]]
    assert [(c["purpose"], c["after"]) for c in changes] == [
        ("advisory", "granted"), ("advisory", "not granted"), ("advisory", "granted")]
    assert any(a["organisation"] == "rm" and a["purpose"] == "advisory" for a in document["accessReport"])
    assert document["failures"] == []
    # What was withheld is said in the document and, at the same places, in the response's redactions.
    reported = reply.body.get("extensions", {}).get("redactions", [])
    assert [r["path"][:2] for r in reported] == [["dataExport", "document"]] * len(reported)
    assert [r["path"][2:] for r in reported] == [w["path"] for w in document["withheld"]]
    assert consultant not in str(document["accessReport"])  # organisations are named there, never employees

    [event] = await _events(db_url, request_id)  # audited like any read: one event, the customer, the partners
    assert event["customers"] == [customer] and event["outcome"] == "allowed"
    assert {p["partner"] for p in event["partners"]} == {"bank", "life", "property", "invest"}


async def test_a_failing_partner_is_stated_and_the_rest_exported(make_gateway, world: World) -> None:
    gateway: Gateway = await make_gateway(invest={"retries": 0})
    customer = _holder(world)
    await world.fault("invest", mode="error", error_rate=1.0)
    reply = await gateway.as_role(EXPORT, "customer", "self_service", {}, customer_id=customer)
    export = reply.data["dataExport"]
    assert export["complete"] is False
    failures = export["document"]["failures"]
    assert failures and {f["partner"] for f in failures} == {"invest"}
    assert all(f["code"].startswith("PARTNER_") and f["path"][0] == "contracts" for f in failures)
    bank = [c for c in export["document"]["contracts"] if c["partner"]["id"] == "bank"]
    assert bank and any(c.get("iban") for c in bank)


async def test_only_the_customer_themself_exports(gateway: Gateway, world: World) -> None:
    customer = _holder(world)
    reply = await gateway.as_role(EXPORT, "consultant", "advisory", {}, consultant_id=consultant_of(world, customer))
    assert reply.data is None and reply.codes() == ["FORBIDDEN"]
