"""The plain words the pages show (`/vocabulary.json`) and the audit search by field that answers "who saw
this customer's health data" (`AuditFilter.fieldsShown`), checked at the HTTP API without a browser."""

from __future__ import annotations

from pathlib import Path

from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of, private_master

EVENTS = "query($f: AuditFilter) { auditEvents(filter: $f, first: 50) { events { caller { subject } } } }"
HEALTH = "query($id: ID!) { customer(id: $id) { contracts { ... on LifePolicy { healthClass beneficiaries } } } }"


async def test_vocabulary_names_partners_purposes_products_categories_and_rules(gateway: Gateway) -> None:
    async with gateway.http.get(gateway.url + "/vocabulary.json") as response:
        assert response.status == 200
        words = await response.json()
    assert words["organisations"]["bank"] == "Alliance Bank" and words["organisations"]["rm"]
    assert words["purposes"]["lead_management"]["title"] == "Product offers from alliance partners"
    assert words["products"]["CURRENT_ACCOUNT"] == "Current account"
    assert words["fields"]["LifePolicy.healthClass"] == "health"
    assert words["categories"]["health"] == "Health information"
    # Every field of the joint model has a category, so no access report falls back on a schema path.
    assert all(words["fields"][f] in words["categories"] for f in words["fields"])
    assert "special-category data" in words["rules"]["life/health-class-stays-with-life"]


async def test_compliance_finds_only_the_events_that_showed_a_field(make_gateway, world: World,
                                                                    tmp_path: Path) -> None:
    gateway = await make_gateway(settings_overrides={"db_url": private_master(world, tmp_path)})
    life = gateway.token("partner", ["service"], partner_id="life")
    assert (await gateway.post(HEALTH, token=life, purpose="service",
                               variables={"id": world.pseudonym(SHOWCASE, "life")})).errors == []
    consultant = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
    assert (await gateway.post(HEALTH, token=consultant, purpose="advisory", variables={"id": SHOWCASE})).status == 200

    async def callers(fields: list[str] | None) -> list[str]:
        reply = await gateway.as_role(EVENTS, "compliance", "audit",
                                      {"f": {"customerId": SHOWCASE, "fieldsShown": fields}})
        assert reply.errors == []
        return [e["caller"]["subject"] for e in reply.data["auditEvents"]["events"]]

    assert await callers(["LifePolicy.healthClass"]) == ["partner:life"]  # the consultant never got it
    both = ["partner:life", f"consultant:{consultant_of(world, SHOWCASE)}"]
    assert sorted(await callers(["LifePolicy.beneficiaries"])) == sorted(both)
    assert await callers([]) == []  # no field asked for: nothing showed it
    assert len(await callers(None)) >= 2  # no filter: every event about the customer
