"""An attacker's view of the schema: no query shape gets a value the agreements hide (SPEC §6 invariants).
Each way in has its own test. Real gateway, real partner servers, the demo agreements."""

from __future__ import annotations

import base64
import json
import logging
import math
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from fixtures.alliance import partner_record
from gateway.policy_loader import DEMO_AGREEMENTS
from privacy.pseudonyms import PseudonymKeys, index_token
from privacy.treatments import pseudonym
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True


@pytest.fixture
def gateway(gateway_on_each_master: Gateway) -> Gateway:
    """Every test here runs against the SQLite master and against PostgreSQL."""
    return gateway_on_each_master


def _bank_accounts(world: World, customer: str = SHOWCASE):  # type: ignore[no-untyped-def]
    return [r for r in world.alliance.contracts if r.customer_id == customer and r.partner_id == "bank"
            and r.product_type in ("CURRENT_ACCOUNT", "SAVINGS")]


async def test_aliases_get_the_same_treatment(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) { contracts(partner: "bank") {
        ... on BankAccount { a: iban b: iban balance { amount } c: balance { amount } } } } }"""
    reply = await gateway.as_role(query, "partner", "service", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert reply.errors == []
    contracts = reply.data["customer"]["contracts"]
    ibans = {partner_record(world.alliance, r)["iban"] for r in _bank_accounts(world)}
    for contract in (c for c in contracts if "a" in c):
        assert contract["a"] == contract["b"] and contract["a"].startswith("****") and contract["a"] not in ibans
        assert contract["balance"] is None and contract["c"] is None
    paths = {tuple(r["path"][-1:]) for r in reply.body["extensions"]["redactions"]}
    assert {("a",), ("b",), ("balance",), ("c",)} <= paths  # reported under the alias the caller used


async def test_fragments_on_the_interface_do_not_reach_hidden_fields(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) { contracts {
        ...Health ... on Contract { ... on LifePolicy { hc: healthClass } } } } }
        fragment Health on LifePolicy { healthClass premium { amount } }"""
    consultant = world.alliance.customer(SHOWCASE).consultant_id
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE}, consultant_id=consultant)
    assert reply.errors == []
    life = [c for c in reply.data["customer"]["contracts"] if "healthClass" in c]
    assert life and all(c["healthClass"] is None and c["hc"] is None for c in life)
    assert all(c["premium"] is not None for c in life)
    # the life insurer was asked for the premium only: the hidden field never left its system
    assert (await world.stats("life"))["recent"][-1]["fields"] == ["premium"]


async def test_variables_and_directives_change_nothing(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!, $show: Boolean!) { customer(id: $id) { contracts {
        ... on LifePolicy @include(if: $show) { healthClass } ... on LifePolicy @skip(if: false) { x: healthClass }
    } } }"""
    consultant = world.alliance.customer(SHOWCASE).consultant_id
    reply = await gateway.as_role(query, "consultant", "advisory", {"id": SHOWCASE, "show": True},
                                  consultant_id=consultant)
    values = [v for c in reply.data["customer"]["contracts"] for k, v in c.items() if k in ("healthClass", "x")]
    assert values and all(v is None for v in values)
    assert await world.calls() == {"bank": 0, "life": 0, "property": 0, "invest": 0}


async def test_portfolio_totals_leave_out_what_is_hidden(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) { portfolio {
        assets { amount currency } liabilities { amount } complete missingContracts } } }"""
    reply = await gateway.as_role(query, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert reply.errors == []
    portfolio = reply.data["customer"]["portfolio"]
    refs = [r for r in world.alliance.contracts if r.customer_id == SHOWCASE]
    # The life insurer sees its own surrender values in full; bank balances and depot values only rounded,
    # so those are left out rather than summed, and the total says it is incomplete.
    surrender = sum((Decimal(partner_record(world.alliance, r)["surrender_value"]["amount"]) for r in refs
                     if r.partner_id == "life" and r.status != "terminated"
                     and "surrender_value" in partner_record(world.alliance, r)), Decimal())
    assert portfolio["assets"] == [{"amount": str(surrender), "currency": "EUR"}]
    assert portfolio["liabilities"] == [] and portfolio["complete"] is False
    # ... listed under the life insurer's own pseudonyms of the bank's and the brokerage's contract IDs.
    hidden = {world.pseudonym(r.contract_id, "life", r.partner_id) for r in refs
              if r.partner_id in ("bank", "invest") and r.status != "terminated"}
    assert hidden <= set(portfolio["missingContracts"])
    reported = {(r["field"], r["treatment"]) for r in reply.body["extensions"]["redactions"]}
    assert ("Depot.marketValue", "generalize step 1000") in reported


async def test_list_order_does_not_depend_on_hidden_values(gateway: Gateway, world: World) -> None:
    query = """query($id: ID!) { customer(id: $id) { contracts { contractId partner { id }
        ... on BankAccount { balance { amount } } ... on Depot { marketValue { amount } } } } }"""
    hidden = await gateway.as_role(query, "partner", "service", {"id": world.pseudonym(SHOWCASE, "life")},
                                   partner_id="life")
    shown = await gateway.as_role(query, "customer", "self_service", {"id": SHOWCASE}, customer_id=SHOWCASE)
    order = [(c["partner"]["id"], c["contractId"]) for c in hidden.data["customer"]["contracts"]]
    full = [(c["partner"]["id"], c["contractId"]) for c in shown.data["customer"]["contracts"]]
    # The life insurer sees the bank accounts (balances hidden, IDs as its own pseudonyms) but not every
    # contract; both lists are in the order of what each caller is shown (partner, then the ID as shown),
    # whatever the hidden balances and whatever order the bank numbered its accounts in.
    assert any(cid.startswith("PSN-") for partner, cid in order if partner == "bank") and len(order) < len(full)
    assert order == sorted(order) and full == sorted(full)
    bank_accounts = {world.pseudonym(r.contract_id, "life", "bank") for r in world.alliance.contracts
                     if r.customer_id == SHOWCASE and r.product_type in ("CURRENT_ACCOUNT", "SAVINGS")}
    assert {cid for partner, cid in order if partner == "bank"} == bank_accounts


async def test_error_messages_carry_no_values(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    await world.fault("bank", mode="wrong_types")
    query = 'query($id: ID!) { customer(id: $id) { contracts { ... on BankAccount { iban balance { amount } } } } }'
    reply = await gateway.as_role(query, "customer", "self_service", {"id": SHOWCASE}, customer_id=SHOWCASE)
    text = json.dumps(reply.errors)
    assert {e["extensions"]["code"] for e in reply.errors} == {"PARTNER_BAD_RESPONSE"}
    for ref in _bank_accounts(world):
        record = partner_record(world.alliance, ref)
        assert record["iban"] not in text and record["balance"]["amount"] not in text
    missing = await gateway.as_role('{ customer(id: "C-000002") { id } }', "customer", "self_service",
                                    customer_id=SHOWCASE)
    assert world.alliance.customer("C-000002").family_name not in json.dumps(missing.body)


async def test_hidden_partner_is_not_called_even_when_down(make_gateway, world: World) -> None:
    gateway = await make_gateway()
    await world.fault("invest", mode="timeout")
    query = 'query($id: ID!) { customer(id: $id) { contracts { ... on Depot { marketValue { amount } } } } }'
    # For service, the life insurer may see nothing of the brokerage's data: no call, so no timeout, no error
    # and no timing difference that could tell the caller anything about the depots.
    reply = await gateway.as_role(query, "partner", "service", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert reply.errors == []
    assert (await world.stats("invest"))["requests"] == 0


async def test_unknown_partner_fields_reach_neither_response_nor_logs(make_gateway, world: World,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    gateway = await make_gateway()
    for partner in ("bank", "life", "property", "invest"):
        await world.fault(partner, mode="extra_fields")
    query = """query($id: ID!) { customer(id: $id) { contracts { contractId ... on BankAccount { iban }
        ... on LifePolicy { premium { amount } } ... on PropertyPolicy { kind } ... on Depot { riskProfile } } } }"""
    with caplog.at_level(logging.DEBUG):
        reply = await gateway.as_role(query, "customer", "self_service", {"id": SHOWCASE}, customer_id=SHOWCASE)
    assert reply.errors == []
    for secret in ("DE-TAX-99887766", "VIP, call first", "internal_risk_score", "tax_id"):
        assert secret not in json.dumps(reply.body)
        assert all(secret not in record.getMessage() for record in caplog.records)


async def test_cursors_do_not_reveal_customer_ids(gateway: Gateway, world: World) -> None:
    page = "query($after: String) { customers(first: 2, after: $after) { edges { cursor node { id } } } }"
    real_id = {world.pseudonym(c.id, "life"): c.id for c in world.alliance.customers}
    reply = await gateway.as_role(page, "partner", "service", partner_id="life")
    edges = reply.data["customers"]["edges"]
    assert len(edges) == 2
    for edge in edges:
        shown = edge["node"]["id"]
        decoded = base64.urlsafe_b64decode(edge["cursor"] + "=" * (-len(edge["cursor"]) % 4))
        # Sealed: neither the customer's real ID nor the pseudonym the caller is shown can be read out of it,
        # in any of the spellings an encoder might use.
        for secret in (real_id[shown], shown, real_id[shown].removeprefix("C-"), shown.removeprefix("PSN-")):
            for spelled in (secret.encode(), secret.encode().hex().encode(), base64.b64encode(secret.encode())):
                assert spelled not in decoded, (secret, spelled)
    # And it still does its job: the next page continues where this one ended, in the pseudonym index's order.
    following = await gateway.as_role(page, "partner", "service", {"after": edges[-1]["cursor"]}, partner_id="life")
    after = [e["node"]["id"] for e in following.data["customers"]["edges"]]
    key = PseudonymKeys.load(["rm"], directory=world.pseudonym_keys).for_consumer("rm", "life")
    assert key is not None
    holders = {world.pseudonym(c.customer_id, "life") for c in world.alliance.contracts if c.partner_id == "life"}
    in_order = sorted(holders, key=lambda p: index_token(key, p))
    assert [e["node"]["id"] for e in edges] + after == in_order[:4]


async def test_search_is_no_oracle_for_hidden_names(gateway: Gateway, world: World) -> None:
    name = world.alliance.customer(SHOWCASE).family_name
    reply = await gateway.as_role('query($s: String) { customers(search: $s) { edges { node { id } } } }', "partner",
                                  "service", {"s": name}, partner_id="life")
    assert reply.codes() == ["FORBIDDEN"] and reply.data is None


async def test_a_hidden_id_hides_the_customer_like_a_missing_one(gateway: Gateway, world: World) -> None:
    # C-000002 gave no lead_management consent, so partners may not even see who they are for sales.
    assert not any(c.customer_id == "C-000002" and c.purpose == "lead_management" for c in world.alliance.consents)
    holder = next(r.partner_id for r in world.alliance.contracts if r.customer_id == "C-000002")
    one = 'query($id: ID!) { customer(id: $id) { id } }'
    hidden = await gateway.as_role(one, "partner", "lead_management", {"id": world.pseudonym("C-000002", "life")},
                                   partner_id=holder)
    missing = await gateway.as_role(one, "partner", "lead_management", {"id": "C-999999"}, partner_id=holder)
    assert hidden.codes() == missing.codes() == ["CUSTOMER_NOT_FOUND"]


@pytest.fixture
async def gateway_on_own_master(make_gateway, own_master_url: str) -> Gateway:
    """For a test that changes a consent: the consent history it leaves is not what later tests read (the
    data export lists every change)."""
    return await make_gateway(settings_overrides={"db_url": own_master_url})


async def test_withdrawn_consent_takes_effect_on_the_next_request(gateway_on_own_master: Gateway,
                                                                  world: World) -> None:
    gateway = gateway_on_own_master
    customer = gateway.token("customer", ["self_service"], customer_id=SHOWCASE)
    set_consent = "mutation($g: Boolean!) { setConsent(purpose: \"lead_management\", granted: $g) { active } }"
    query = """query($id: ID!) { customer(id: $id) { contracts(partner: "invest") {
        ... on Depot { marketValue { amount } } } } }"""
    before = await gateway.as_role(query, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                   partner_id="life")
    assert all(c["marketValue"] is not None for c in before.data["customer"]["contracts"])
    try:
        withdrawn = await gateway.post(set_consent, token=customer, purpose="self_service", variables={"g": False})
        assert withdrawn.data == {"setConsent": {"active": False}}
        after = await gateway.as_role(query, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                      partner_id="life")
        assert after.data == {"customer": None} and after.codes() == ["CUSTOMER_NOT_FOUND"]
    finally:
        granted = await gateway.post(set_consent, token=customer, purpose="self_service", variables={"g": True})
        assert granted.data == {"setConsent": {"active": True}}
    again = await gateway.as_role(query, "partner", "lead_management", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert again.data == before.data


async def test_a_field_gated_on_consent_follows_each_customers_consent(make_gateway, world: World,
                                                                      tmp_path: Path) -> None:
    """A field an agreement grants only with the customer's consent, while the customer stays visible without
    it: one caller reading a customer who consented, then one who did not, then the first again, sees the
    field only where the consent is (the planner decides once per consent set and must not reuse a decision
    made for another set)."""
    without = "C-000002"
    consented = {c.customer_id for c in world.alliance.consents
                 if c.purpose == "lead_management" and c.withdrawn_at is None}
    assert SHOWCASE in consented and without not in consented
    agreements = tmp_path / "agreements"
    shutil.copytree(DEMO_AGREEMENTS, agreements)
    rm = agreements / "rm.yaml"
    text = rm.read_text()
    assert text.count("      Customer.email: {mask: email}       # \"j***@mail.example\"\n") == 1
    rm.write_text(text.replace("      Customer.email: {mask: email}       # \"j***@mail.example\"\n", "") + """
  - id: service-desk-contact
    description: Service agents read the e-mail address in full where the customer agreed to be contacted.
    consumers: [service_agent]
    purposes: [service]
    consent: lead_management
    fields:
      Customer.email: allow
""")
    gateway = await make_gateway(settings_overrides={"agreements_dir": agreements})
    query = "query($id: ID!) { customer(id: $id) { id email } }"
    replies = [await gateway.as_role(query, "service_agent", "service", {"id": customer})
               for customer in (SHOWCASE, without, SHOWCASE)]
    assert [r.data["customer"]["id"] for r in replies] == [SHOWCASE, without, SHOWCASE]
    assert replies[0].data["customer"]["email"] == world.alliance.customer(SHOWCASE).email
    assert replies[1].data["customer"]["email"] is None
    assert [(r["path"], r["treatment"]) for r in replies[1].body["extensions"]["redactions"]] == \
        [(["customer", "email"], "redact")]
    assert replies[2].data == replies[0].data and replies[2].body["extensions"]["redactions"] == []


async def test_contracts_at_other_partners_leave_no_trace(gateway: Gateway, world: World) -> None:
    # For service, the bank's agreement shows its accounts to the insurers (direct debits) but not its loans,
    # and the other partners show the bank nothing: a customer's disability cover is not the bank's business.
    query = """query($id: ID!) { customer(id: $id) { contracts { contractId productType partner { id } }
        portfolio { assets { amount } liabilities { amount } complete missingContracts } } }"""
    reply = await gateway.as_role(query, "partner", "service", {"id": world.pseudonym(SHOWCASE, "life")},
                                  partner_id="life")
    assert reply.errors == []
    refs = [r for r in world.alliance.contracts if r.customer_id == SHOWCASE]
    # Its own policies by their IDs; the bank's accounts under the life insurer's own pseudonyms of them.
    expected = sorted((r.partner_id, r.contract_id if r.partner_id == "life" else
                       world.pseudonym(r.contract_id, "life", r.partner_id)) for r in refs
                      if r.partner_id == "life" or r.product_type in ("CURRENT_ACCOUNT", "SAVINGS"))
    assert [(c["partner"]["id"], c["contractId"]) for c in reply.data["customer"]["contracts"]] == expected
    text = json.dumps(reply.body)
    for ref in refs:
        if ref.partner_id != "life":
            assert ref.contract_id not in text  # not listed, not in the portfolio, not in a redaction entry
    # The listed accounts' IDs are reported as pseudonymised; the unlisted contracts are not reported at all.
    id_reports = [r for r in reply.body["extensions"]["redactions"] if r["field"].endswith(".contractId")]
    assert {(r["field"], r["treatment"]) for r in id_reports} == {("BankAccount.contractId", "pseudonymize")}
    accounts = sum(1 for partner, _ in expected if partner == "bank")
    held = sum(1 for r in refs if r.product_type in ("CURRENT_ACCOUNT", "SAVINGS") and r.status != "terminated")
    # once in the list, once in the portfolio's missing contracts (their balances are not the insurer's to see;
    # a terminated account is not held, so not missing from the totals)
    assert sorted(r["path"][1] for r in id_reports) == ["contracts"] * accounts + ["portfolio"] * held
    assert "MORTGAGE" not in text and "DEPOT" not in text and "LOAN" not in text


async def test_partners_open_customers_by_pseudonym_and_never_by_real_id(gateway: Gateway, world: World) -> None:
    one = 'query($id: ID!) { customer(id: $id) { id birthDate } }'
    listing = await gateway.as_role("{ customers(first: 3) { edges { node { id } } } }", "partner", "service",
                                    partner_id="life")
    first = listing.data["customers"]["edges"][0]["node"]["id"]
    opened = await gateway.as_role(one, "partner", "service", {"id": first}, partner_id="life")
    assert opened.errors == [] and opened.data["customer"]["id"] == first
    # Looking up real IDs would let a partner link every guessable ID to its pseudonym: it is a missing customer.
    real = await gateway.as_role(one, "partner", "service", {"id": SHOWCASE}, partner_id="life")
    missing = await gateway.as_role(one, "partner", "service", {"id": "C-999999"}, partner_id="life")
    forged = await gateway.as_role(one, "partner", "service", {"id": "PSN-AAAAAAAAAAAAAAAA"}, partner_id="life")
    assert real.data == missing.data == forged.data == {"customer": None}
    assert real.codes() == missing.codes() == forged.codes() == ["CUSTOMER_NOT_FOUND"]
    # And someone who sees real IDs cannot use a pseudonym to re-identify pseudonymised data.
    consultant = consultant_of(world, SHOWCASE)
    by_pseudonym = await gateway.as_role(one, "consultant", "advisory", {"id": world.pseudonym(SHOWCASE, "life")},
                                         consultant_id=consultant)
    assert by_pseudonym.codes() == ["CUSTOMER_NOT_FOUND"]
    by_id = await gateway.as_role(one, "consultant", "advisory", {"id": SHOWCASE}, consultant_id=consultant)
    assert by_id.data["customer"]["id"] == SHOWCASE


async def test_two_partners_cannot_join_their_views_on_pseudonyms(make_gateway, world: World,
                                                                   tmp_path: Path) -> None:
    """SPEC §6: one key per (owner, consumer). The bank and the life insurer, both shown the customer under a
    pseudonym, are shown different ones, each stable, and neither's pseudonym opens the customer for the other
    (nor does one computed with the owner's key itself). The older `{per: consumer}` spelling means the same."""
    one = 'query($id: ID!) { customer(id: $id) { id } }'

    async def seen_by(gateway: Gateway, partner: str, known: str) -> str | None:
        first = await gateway.as_role(one, "partner", "service", {"id": known}, partner_id=partner)
        again = await gateway.as_role(one, "partner", "service", {"id": known}, partner_id=partner)
        assert first.data == again.data  # stable from one request to the next
        return first.data["customer"]["id"] if first.data["customer"] else None

    keys = PseudonymKeys.load(["rm"], directory=world.pseudonym_keys)
    agreement_wide = pseudonym(SHOWCASE, keys.get("rm") or b"")
    bank, life = world.pseudonym(SHOWCASE, "bank"), world.pseudonym(SHOWCASE, "life")
    assert len({bank, life, agreement_wide}) == 3
    spelled_out = tmp_path / "agreements"
    shutil.copytree(DEMO_AGREEMENTS, spelled_out)
    rm = spelled_out / "rm.yaml"
    rm.write_text(rm.read_text().replace("Customer.id: pseudonymize", "Customer.id: {pseudonymize: {per: consumer}}"))
    for demo in (await make_gateway(), await make_gateway(settings_overrides={"agreements_dir": spelled_out})):
        assert await seen_by(demo, "bank", bank) == bank and await seen_by(demo, "life", life) == life
        assert await seen_by(demo, "life", bank) is None and await seen_by(demo, "life", agreement_wide) is None
        assert await seen_by(demo, "bank", life) is None


def _kendall_tau(ranks: list[int]) -> float:
    """+1 when `ranks` is sorted, -1 when reversed, about 0 when unrelated."""
    pairs = [(i, j) for i in range(len(ranks)) for j in range(i + 1, len(ranks))]
    concordant = sum(1 if ranks[i] < ranks[j] else -1 for i, j in pairs)
    return concordant / len(pairs)


@pytest.mark.parametrize("partner", ["bank", "life"])
async def test_a_partner_cannot_line_pseudonyms_up_with_real_ids(gateway: Gateway, world: World, partner: str) -> None:
    """The review's attack: a partner lists every customer it may see (by pseudonym), reads the contract IDs
    shown beside each (its own and other partners'), sorts the pseudonyms by the lowest such ID and compares
    with the order of the real IDs (which are assigned one after another). Neither the list order nor any ID
    shown beside a pseudonym may line them up."""
    listing = """query($after: String) { customers(first: 100, after: $after) {
        edges { node { id contracts { contractId } } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[tuple[str, list[str]]] = []
    after = None
    while True:
        reply = await gateway.as_role(listing, "partner", "service", {"after": after}, partner_id=partner)
        assert reply.errors == []
        page = reply.data["customers"]
        seen += [(e["node"]["id"], [c["contractId"] for c in e["node"]["contracts"]]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    real_of = {world.pseudonym(c.id, partner): c.id for c in world.alliance.customers}
    assert len(seen) > 20 and all(p in real_of for p, _ in seen)
    real_rank = {cid: i for i, cid in enumerate(sorted(real_of.values()))}
    listed_order = [real_rank[real_of[p]] for p, _ in seen]
    by_lowest_id = [real_rank[real_of[p]] for p, ids in sorted(seen, key=lambda item: min(item[1]))]
    foreign = sorted((p, min(i for i in ids if not i.startswith(PREFIX[partner]))) for p, ids in seen
                     if any(not i.startswith(PREFIX[partner]) for i in ids))
    by_foreign_id = [real_rank[real_of[p]] for p, _ in sorted(foreign, key=lambda item: item[1])]
    if partner == "life":  # for service the insurer is shown the bank's accounts (direct debits)
        assert len(foreign) > 5
    for ranks in (listed_order, by_lowest_id, *([by_foreign_id] if foreign else [])):
        n = len(ranks)
        # Three standard deviations of Kendall's tau between unrelated orders of n items; a leak gives 1.0.
        chance = 3 * math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))
        assert abs(_kendall_tau(ranks)) < min(0.8, chance), ranks
    # Another partner's contract IDs are never shown in clear beside a pseudonym.
    assert all(i.startswith((PREFIX[partner], "PSN-")) for _, ids in seen for i in ids)


PREFIX = {"bank": "BNK-", "life": "LIF-", "property": "PNC-", "invest": "INV-"}
