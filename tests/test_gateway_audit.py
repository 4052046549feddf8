"""Every GraphQL operation, allowed or refused, leaves exactly one audit event (SPEC §7), and the event says who,
why, which customers, which partners with which outcome, which fields shown and withheld — never a value."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from privacy.audit.store import AuditLog
from privacy.audit.verify import verify
from resolvers.database import create_engine
from tests.gateway_support import SHOWCASE, Gateway, World, account_ibans, consultant_of, private_master

QUERY = """query View($id: ID!) { customer(id: $id) { familyName contracts { contractId
    ... on BankAccount { iban recentTransactions { reference } } ... on Depot { marketValue { amount } } } } }"""

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True


async def _events_for(world: World, request_id: str) -> list[dict[str, Any]]:
    engine = create_engine(world.db_url)
    try:
        return [e["body"] for e in await AuditLog(engine, None).read() if e["body"]["request_id"] == request_id]
    finally:
        await engine.dispose()


async def test_a_query_leaves_one_event_with_who_why_what_and_no_values(gateway: Gateway, world: World) -> None:
    request_id = f"audit-{uuid.uuid4()}"
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    reply = await gateway.post(QUERY, token=token, purpose="advisory", variables={"id": SHOWCASE},
                               headers={"X-Request-ID": request_id})
    assert reply.errors == []
    [event] = await _events_for(world, request_id)
    assert event["caller"]["role"] == "consultant" and event["caller"]["subject"].startswith("consultant:")
    assert event["purpose"] == "advisory" and event["outcome"] == "allowed"
    assert event["operation"]["name"] == "View" and len(event["operation"]["hash"]) == 64
    assert event["customers"] == [SHOWCASE]
    assert sorted(p["partner"] for p in event["partners"]) == ["bank", "invest"]
    assert all(p["outcome"] == "ok" and p["latency_ms"] >= 0 for p in event["partners"])
    assert "bank/BankAccount.iban" in event["fields"]["shown"] and "rm/Customer.familyName" in event["fields"]["shown"]
    # The consultant does not see bookings (banking secrecy): withheld, with the rule, at the response path.
    withheld = {(w["field"], w["rule"]) for w in event["fields"]["withheld"]}
    assert ("BankAccount.recentTransactions", "bank/consultant-advisory") in withheld
    text = json.dumps(event, ensure_ascii=False)
    assert world.alliance.customer(SHOWCASE).family_name not in text
    assert all(iban not in text for iban in account_ibans(world, SHOWCASE))


async def test_a_failing_partner_is_in_the_event(make_gateway, world: World) -> None:
    gateway = await make_gateway(invest={"retries": 0})
    await world.fault("invest", mode="error")
    request_id = f"audit-{uuid.uuid4()}"
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    reply = await gateway.post(QUERY, token=token, purpose="advisory", variables={"id": SHOWCASE},
                               headers={"X-Request-ID": request_id})
    assert {e["extensions"]["code"] for e in reply.errors} == {"PARTNER_UNAVAILABLE"}
    [event] = await _events_for(world, request_id)
    outcomes = {p["partner"]: p["outcome"] for p in event["partners"]}
    assert outcomes == {"bank": "ok", "invest": "PARTNER_UNAVAILABLE"}
    assert event["outcome"] == "partial" and event["errors"] == ["PARTNER_UNAVAILABLE"]


async def test_refused_requests_are_logged_too_and_the_chain_holds(gateway: Gateway, world: World) -> None:
    request_id = f"audit-{uuid.uuid4()}"
    reply = await gateway.post("{ partners { id } }", token=None, purpose="advisory",
                               headers={"Authorization": "Bearer not.a.jwt", "X-Request-ID": request_id})
    assert reply.status == 401
    [event] = await _events_for(world, request_id)
    assert event["outcome"] == "refused" and event["errors"] == ["UNAUTHENTICATED"] and event["http_status"] == 401
    assert event["caller"] == {"subject": None, "role": None, "organisation": None}
    engine = create_engine(world.db_url)
    try:
        verdict = await verify(engine, None, check_signatures=False)  # this test gateway signs nothing
    finally:
        await engine.dispose()
    assert verdict.consistent and not verdict.intact and verdict.events > 0, verdict
    assert str(verdict).startswith("unsigned: ")


EVENTS = """query($f: AuditFilter, $after: String) { auditEvents(filter: $f, first: 50, after: $after) {
    events { seq requestId caller { subject role organisation } purpose operationName customers
             partners { partner outcome } fieldsShown fieldsWithheld { path field rule } outcome }
    endCursor hasNextPage } }"""
ACCESS = """query($id: ID!) { accessLog(customerId: $id, first: 100) {
    events { time organisation purpose dataShown } hasNextPage } }"""


async def test_compliance_finds_an_access_and_reading_it_is_audited(gateway: Gateway, world: World) -> None:
    customer = "C-000003"
    request_id = f"audit-{uuid.uuid4()}"
    token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, customer))
    await gateway.post(QUERY, token=token, purpose="advisory", variables={"id": customer},
                       headers={"X-Request-ID": request_id})
    reply = await gateway.as_role(EVENTS, "compliance", "audit", {"f": {"customerId": customer, "outcome": "allowed"}})
    assert reply.errors == []
    found = [e for e in reply.data["auditEvents"]["events"] if e["requestId"] == request_id]
    assert len(found) == 1 and found[0]["customers"] == [customer] and found[0]["purpose"] == "advisory"
    assert found[0]["caller"]["role"] == "consultant" and found[0]["operationName"] == "View"
    assert all(customer in e["customers"] for e in reply.data["auditEvents"]["events"])
    # The compliance officer's own reading is in the log as well.
    mine = await gateway.as_role(EVENTS, "compliance", "audit", {"f": {"purpose": "audit"}})
    assert any(e["operationName"] is None and e["caller"]["role"] == "compliance"
               for e in mine.data["auditEvents"]["events"])


async def test_only_compliance_reads_the_audit_log(gateway: Gateway, world: World) -> None:
    for role, purpose, ids in (("consultant", "advisory", {"consultant_id": "K-001"}),
                               ("customer", "self_service", {"customer_id": SHOWCASE}),
                               ("partner", "service", {"partner_id": "bank"})):
        reply = await gateway.as_role(EVENTS, role, purpose, {}, **ids)
        assert reply.data is None and reply.codes() == ["FORBIDDEN"], role


async def test_a_customer_sees_who_accessed_their_data_without_employee_names(gateway: Gateway,
                                                                              world: World) -> None:
    customer = "C-000004"
    consultant = consultant_of(world, customer)
    await gateway.as_role(QUERY, "consultant", "advisory", {"id": customer}, consultant_id=consultant)
    reply = await gateway.as_role(ACCESS, "customer", "self_service", {"id": customer}, customer_id=customer)
    assert reply.errors == []
    events = reply.data["accessLog"]["events"]
    assert any(e["organisation"] == "rm" and e["purpose"] == "advisory" and "Customer.familyName" in e["dataShown"]
               for e in events)
    assert consultant not in json.dumps(reply.body)  # the organisation is named, the employee is not
    # Their own look at the report is not an access by someone else.
    again = await gateway.as_role(ACCESS, "customer", "self_service", {"id": customer}, customer_id=customer)
    assert len(again.data["accessLog"]["events"]) == len(events)
    other = await gateway.as_role(ACCESS, "customer", "self_service", {"id": SHOWCASE}, customer_id=customer)
    assert other.codes() == ["FORBIDDEN"]
    compliance = await gateway.as_role(ACCESS, "compliance", "audit", {"id": customer})
    assert compliance.data["accessLog"]["events"] == events
    # Compliance reading the report is itself an access the customer gets to see.
    after = await gateway.as_role(ACCESS, "customer", "self_service", {"id": customer}, customer_id=customer)
    assert after.data["accessLog"]["events"][-1]["purpose"] == "audit"
    assert after.data["accessLog"]["events"][-1]["time"].endswith("+00:00")


CHAIN = "{ auditChain { intact events checkpoints brokenAt reason summary } }"


async def test_compliance_verifies_the_chain_and_sees_where_it_breaks(make_gateway, world: World, tmp_path) -> None:
    master = private_master(world, tmp_path)  # this test edits the log
    gateway = await make_gateway(settings_overrides={"db_url": master,
                                                     "audit_signing_key": Ed25519PrivateKey.generate()})
    reply = await gateway.as_role(CHAIN, "consultant", "advisory", {}, consultant_id="K-001")
    assert reply.data is None and reply.codes() == ["FORBIDDEN"]
    reply = await gateway.as_role(CHAIN, "compliance", "audit")
    chain = reply.data["auditChain"]
    # The private log starts empty: only the consultant's refused read is in it when compliance verifies.
    assert chain["intact"] and chain["brokenAt"] is None and chain["events"] == 1
    assert chain["summary"] == f"intact: {chain['events']} events, {chain['checkpoints']} signed checkpoints"

    engine = create_engine(master)  # someone edits the second event in place, keeping its hash
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE audit_events SET body = json_set(body, '$.purpose', 'tampered') "
                                    "WHERE seq = 2"))
    finally:
        await engine.dispose()
    chain = (await gateway.as_role(CHAIN, "compliance", "audit")).data["auditChain"]
    assert not chain["intact"] and chain["brokenAt"] == 2
    assert chain["summary"].startswith("broken at sequence number 2: ")


async def test_a_gateway_without_a_signing_key_never_calls_its_log_intact(make_gateway, world: World,
                                                                          tmp_path) -> None:
    gateway = await make_gateway(settings_overrides={"db_url": private_master(world, tmp_path)})
    await gateway.as_role("{ partners { id } }", "consultant", "advisory", {}, consultant_id="K-001")
    chain = (await gateway.as_role(CHAIN, "compliance", "audit")).data["auditChain"]
    assert not chain["intact"] and chain["brokenAt"] is None
    assert chain["summary"].startswith("unsigned: ") and "signatures not checked" in chain["summary"]


CONSENT = "mutation($g: Boolean!) { setConsent(purpose: \"lead_management\", granted: $g) { active } }"
CHANGES = "consentChanges { customerId purpose before after }"


async def test_consent_changes_are_on_the_record_for_compliance_and_in_the_access_report(
        make_gateway, world: World, tmp_path) -> None:
    gateway = await make_gateway(settings_overrides={"db_url": private_master(world, tmp_path)})
    customer = "C-000005"  # withdrew their lead_management consent in 2024
    for granted in (True, False, False):  # grant, withdraw, withdraw again (no change, still recorded as such)
        reply = await gateway.as_role(CONSENT, "customer", "self_service", {"g": granted}, customer_id=customer)
        assert reply.data == {"setConsent": {"active": granted}}

    events = """query($f: AuditFilter) { auditEvents(filter: $f, first: 100) {
        events { customers caller { role } outcome CHANGES } } }""".replace("CHANGES", CHANGES)
    found = await gateway.as_role(events, "compliance", "audit", {"f": {"customerId": customer}})
    assert found.errors == []
    changes = [c for e in found.data["auditEvents"]["events"] for c in e["consentChanges"]]
    assert changes == [
        {"customerId": customer, "purpose": "lead_management", "before": before, "after": after}
        for before, after in (("not granted", "granted"), ("granted", "not granted"),
                              ("not granted", "not granted"))]
    assert all(e["customers"] == [customer] for e in found.data["auditEvents"]["events"] if e["consentChanges"])

    access = """query($id: ID!) { accessLog(customerId: $id, first: 100) {
        events { organisation purpose CHANGES } } }""".replace("CHANGES", CHANGES)
    report = await gateway.as_role(access, "customer", "self_service", {"id": customer}, customer_id=customer)
    assert report.errors == []
    shown = [e for e in report.data["accessLog"]["events"] if e["consentChanges"]]
    assert [(e["purpose"], e["consentChanges"][0]["after"]) for e in shown] == [
        ("self_service", "granted"), ("self_service", "not granted"), ("self_service", "not granted")]
    # Reading the report is still not listed as an access by someone else.
    again = await gateway.as_role(access, "customer", "self_service", {"id": customer}, customer_id=customer)
    assert len(again.data["accessLog"]["events"]) == len(report.data["accessLog"]["events"])
