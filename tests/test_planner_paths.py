"""The planner and strawberry agree: the same operations, sent by the same callers to two gateways on one
master (the planner on, and off), give the same data, errors and redactions (as multisets), the same audit
event, the same partner calls and the same fields asked of each partner. A hypothesis property test draws
operations (aliases, fragments, inline fragments on the interface, directives with variables), callers,
consent changes and partner failures; fixed cases pin the shapes the issue names."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from graphql import get_operation_ast, parse
from graphql.execution.values import get_variable_values
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.cursors import Cursors
from gateway.planner.compile import Compiler, Unsupported, prepared
from gateway.planner.execute import GETTERS
from gateway.schema import build_schema
from privacy.audit.store import AuditLog, AuditQuery
from resolvers.database import create_engine
from tests.gateway_support import SHOWCASE, Gateway, Reply, World, consultant_of, private_master, start_gateway


@dataclass
class Pair:
    planner: Gateway
    strawberry: Gateway
    db_url: str


# Both gateways seal cursors with one key (as gateways behind one load balancer do), so a page's cursor from
# one is a valid `after` on the other; replies are compared with every cursor opened (each sealing is fresh).
CURSORS = Cursors(bytes(range(16)))


@pytest.fixture(scope="module")
async def pair(world: World, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    db_url = private_master(world, tmp_path_factory.mktemp("paths"))
    runners: list[web.AppRunner] = []
    await world.reset()
    before = os.environ.get("VCV_CURSOR_KEY")
    os.environ["VCV_CURSOR_KEY"] = bytes(range(16)).hex()
    try:
        planner = await start_gateway(world, runners, settings_overrides={"db_url": db_url, "planner": True})
        plain = await start_gateway(world, runners, settings_overrides={"db_url": db_url, "planner": False})
    finally:
        if before is None:
            del os.environ["VCV_CURSOR_KEY"]
        else:
            os.environ["VCV_CURSOR_KEY"] = before
    yield Pair(planner, plain, db_url)
    for runner in runners:
        await runner.cleanup()
    await world.reset()


def opened(value: Any) -> Any:
    """The reply's data with every cursor replaced by what it seals (a cursor is sealed afresh each time)."""
    if isinstance(value, dict):
        return {k: opened(v) for k, v in value.items()}
    if isinstance(value, list):
        return [opened(v) for v in value]
    if isinstance(value, str) and len(value) > 30:
        try:
            return ("cursor", CURSORS.decode(value))
        except ValueError:
            return value
    return value


def _errors(reply: Reply) -> Counter[str]:
    return Counter(json.dumps(e, sort_keys=True) for e in reply.errors)


def _normal_event(event: dict[str, Any]) -> dict[str, Any]:
    body = dict(event["body"])
    for moving in ("time", "request_id"):
        body.pop(moving, None)
    body["partners"] = sorted((p["partner"], p["contracts"], p["outcome"]) for p in body["partners"])
    return body


async def _event(db_url: str, request_id: str) -> dict[str, Any]:
    engine = create_engine(db_url)
    try:
        events = await AuditLog(engine, None).search(AuditQuery())
    finally:
        await engine.dispose()
    return next(_normal_event(e) for e in reversed(events) if e["body"]["request_id"] == request_id)


async def _partner_requests(world: World) -> dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]]:
    seen = {}
    for pid in world.partners.partners:
        recent = (await world.stats(pid))["recent"]
        seen[pid] = sorted((tuple(sorted(r["ids"])), tuple(sorted(r["fields"] or ()))) for r in recent)
    return seen


async def _ask(world: World, gateway: Gateway, query: str, variables: dict[str, Any], token: str,
               purpose: str) -> tuple[Reply, str, dict[str, Any]]:
    for pid in world.partners.partners:  # clear the call log, keep the faults
        running = world.partners.partners[pid]
        async with world.http.post(f"{running.url}/_stats/reset",
                                   headers={"Authorization": f"Bearer {running.admin_credential}"}) as response:
            assert response.status == 200
    request_id = f"paths-{uuid.uuid4()}"
    reply = await gateway.post(query, token=token, purpose=purpose, variables=variables,
                               headers={"X-Request-ID": request_id})
    return reply, request_id, await _partner_requests(world)


async def assert_agree(world: World, pair: Pair, query: str, variables: dict[str, Any], token: str,
                       purpose: str) -> Reply:
    a, a_id, a_calls = await _ask(world, pair.planner, query, variables, token, purpose)
    b, b_id, b_calls = await _ask(world, pair.strawberry, query, variables, token, purpose)
    assert a.status == b.status, (a.body, b.body)
    assert opened(a.data) == opened(b.data)
    assert _errors(a) == _errors(b)
    assert Counter(json.dumps(r, sort_keys=True) for r in (a.body.get("extensions") or {}).get("redactions", [])) \
        == Counter(json.dumps(r, sort_keys=True) for r in (b.body.get("extensions") or {}).get("redactions", []))
    assert a_calls == b_calls
    assert await _event(pair.db_url, a_id) == await _event(pair.db_url, b_id)
    return a


FULL = """query C360($id: ID!) { customer(id: $id) { id givenName familyName birthDate email phone segment
  address { street postalCode city country } consultant { id name email }
  consents { purpose grantedAt withdrawnAt active }
  contracts { __typename contractId productType status startDate partner { id name contractPrefix productTypes }
    ... on BankAccount { iban balance { amount currency } overdraftLimit { amount currency } interestRate
                         recentTransactions(first: 3) {
                           bookingDate amount { amount currency } counterparty reference } }
    ... on Loan { principal { amount currency } outstanding { amount currency } interestRate maturityDate }
    ... on LifePolicy { sumInsured { amount currency } premium { amount currency } paymentFrequency beneficiaries
                        surrenderValue { amount currency } healthClass }
    ... on PropertyPolicy { kind premium { amount currency } deductible { amount currency } insuredObject
                            claims { claimId reportedOn amount { amount currency } status } }
    ... on Depot { marketValue { amount currency } riskProfile
                   positions { isin name quantity value { amount currency } } } }
  portfolio { assets { amount currency } liabilities { amount currency } complete missingContracts } } }"""


def _callers(world: World, gateway: Gateway, customer: str) -> list[tuple[str, str]]:
    consultant = consultant_of(world, customer)
    return [
        (gateway.token("customer", ["self_service"], customer_id=customer), "self_service"),
        (gateway.token("consultant", ["advisory", "lead_management"], consultant_id=consultant), "advisory"),
        (gateway.token("consultant", ["advisory", "lead_management"], consultant_id=consultant), "lead_management"),
        (gateway.token("service_agent", ["service"]), "service"),
        (gateway.token("partner", ["service"], partner_id="bank"), "service"),
        (gateway.token("partner", ["service"], partner_id="life"), "service"),
        (gateway.token("compliance", ["audit"]), "audit"),
    ]


async def _planned(world: World, gateway: Gateway) -> float:
    """How many operations this gateway's planner has answered (its /metrics)."""
    async with world.http.get(f"{gateway.url}/metrics") as response:
        metrics = await response.text()
    answered = re.search(r'vcv_planner_answers_total\{path="planner"\} ([0-9.]+)', metrics)
    return float(answered.group(1)) if answered else 0.0


async def test_the_planner_answers_the_customer_view_and_counts_it(world: World, pair: Pair) -> None:
    token = pair.planner.token("customer", ["self_service"], customer_id=SHOWCASE)
    before = await _planned(world, pair.planner)
    reply = await assert_agree(world, pair, FULL, {"id": SHOWCASE}, token, "self_service")
    assert reply.errors == [] and len(reply.data["customer"]["contracts"]) == 20
    assert await _planned(world, pair.planner) == before + 1


@pytest.mark.parametrize("case", range(7))
async def test_every_caller_sees_the_same_on_both_paths(world: World, pair: Pair, case: int) -> None:
    token, purpose = _callers(world, pair.planner, SHOWCASE)[case]
    await assert_agree(world, pair, FULL, {"id": SHOWCASE}, token, purpose)
    # A customer the caller may not see, and one that does not exist: the same on both paths.
    await assert_agree(world, pair, FULL, {"id": "C-000002"}, token, purpose)
    await assert_agree(world, pair, FULL, {"id": "C-999999"}, token, purpose)


async def test_failing_partners_give_the_same_errors_at_the_same_paths(world: World, pair: Pair) -> None:
    token = pair.planner.token("customer", ["self_service"], customer_id=SHOWCASE)
    try:
        await world.fault("life", mode="malformed")
        await world.fault("property", mode="error")
        reply = await assert_agree(world, pair, FULL, {"id": SHOWCASE}, token, "self_service")
        assert {"PARTNER_BAD_RESPONSE", "PARTNER_UNAVAILABLE"} <= set(reply.codes())
        assert all(e["path"][:2] == ["customer", "contracts"] for e in reply.errors)
    finally:
        await world.reset()


SHAPES = [
    # aliases on root, customer and contract fields; two roots batched into one call per partner
    ("""query Q($id: ID!, $other: ID!) { a: customer(id: $id) { who: id n: givenName
          c: contracts(partner: "bank") { ... on BankAccount { money: balance { amount } iban } } }
        b: customer(id: $other) { id portfolio { complete missingContracts assets { amount currency } } } }""",
     {"id": SHOWCASE, "other": "C-000003"}),
    # named fragments, an inline fragment on the interface, __typename, a product-type filter by variable
    ("""query Q($id: ID!, $t: ProductType) { customer(id: $id) { ...Who contracts(productType: $t) { ...Common
          ... on LifePolicy { healthClass premium { amount } } } } }
        fragment Who on Customer { __typename id email phone }
        fragment Common on Contract { __typename contractId ... on Contract { status startDate } }""",
     {"id": SHOWCASE, "t": "LIFE"}),
    # directives with variables, on fields and on fragments
    ("""query Q($id: ID!, $withMoney: Boolean!, $noAddress: Boolean!) { customer(id: $id) {
          address @skip(if: $noAddress) { city } contracts { contractId
            ... on BankAccount @include(if: $withMoney) { balance { amount } }
            ... on Depot { marketValue @include(if: $withMoney) { amount } riskProfile } } } }""",
     {"id": SHOWCASE, "withMoney": False, "noAddress": True}),
    ("me { id consents { purpose active } } partners { id name productTypes } __typename", None),
]


@pytest.mark.parametrize("shape", range(len(SHAPES)))
async def test_query_shapes_agree(world: World, pair: Pair, shape: int) -> None:
    query, variables = SHAPES[shape]
    if variables is None:
        query, variables = "{ " + query + " }", {}
    for token, purpose in _callers(world, pair.planner, SHOWCASE)[:5]:
        await assert_agree(world, pair, query, variables, token, purpose)


DEAR = """query($id: ID!, $n: Int) { customer(id: $id) {
  a: contracts { ... on BankAccount { recentTransactions(first: $n) { amount { amount currency } } } }
  b: contracts { ... on BankAccount { recentTransactions(first: $n) { amount { amount currency } } } }
  c: contracts { ... on BankAccount { recentTransactions(first: $n) { amount { amount currency } } } } } }"""


@pytest.mark.parametrize(("query", "variables", "code"), [
    (DEAR, {"id": SHOWCASE, "n": 100}, "QUERY_TOO_COMPLEX"),  # the cost read from a variable, per request
    (DEAR, {"id": SHOWCASE, "n": 1}, None),  # the same document, cheap with these variables
    ("{ customer(id: \"C-000001\") { id nope } }", {}, "GRAPHQL_VALIDATION_FAILED"),
    ("query($id: ID!) { customer(id: $id) { id } }", {"id": ["C-000001"]}, "GRAPHQL_VALIDATION_FAILED"),
    ("{ __schema { types { name } } customer(id: \"C-000001\") { id } }", {}, None),  # introspection: strawberry
])
async def test_documents_strawberry_refuses_are_refused_alike(world: World, pair: Pair, query: str,
                                                              variables: dict[str, Any], code: str | None) -> None:
    token = pair.planner.token("customer", ["self_service"], customer_id=SHOWCASE)
    for _ in range(2):  # the second time from the planner's caches
        reply = await assert_agree(world, pair, query, variables, token, "self_service")
        assert (code in reply.codes()) if code else reply.errors == [], reply.body


# The property test: operations drawn from the schema's customer view.
CUSTOMER_LEAVES = ["id", "givenName", "familyName", "birthDate", "email", "phone", "segment",
                   "address { city country }", "consultant { id name }", "consents { purpose active }"]
CONTRACT_COMMON = ["contractId", "status", "startDate", "productType", "__typename", "partner { id name }"]
BY_TYPE = {
    "BankAccount": ["iban", "balance { amount currency }", "interestRate",
                    "recentTransactions(first: $n) { amount { amount } }"],
    "Loan": ["outstanding { amount }", "maturityDate", "interestRate"],
    "LifePolicy": ["healthClass", "surrenderValue { amount }", "beneficiaries", "premium { amount }"],
    "PropertyPolicy": ["kind", "claims { claimId status }", "deductible { amount }"],
    "Depot": ["marketValue { amount }", "riskProfile", "positions { isin quantity }"],
}
aliases = st.sampled_from(["", "", "x1: ", "x2: "])
directive = st.sampled_from(["", "", " @include(if: $flag)", " @skip(if: $flag)"])


def with_directive(field: str, directive: str) -> str:
    """`balance { amount }` with ` @skip(if: $flag)`: the directive after the arguments, before the selection."""
    head, brace, selection = field.partition(" {")
    return f"{head}{directive}{brace}{selection}"


@st.composite
def operations(draw: st.DrawFn) -> str:
    def picked(options: list[str], low: int = 1) -> list[str]:
        chosen = draw(st.lists(st.sampled_from(options), min_size=low, max_size=4, unique=True))
        return [c if c == "__typename" else with_directive(draw(aliases) + c, draw(directive)) for c in chosen]

    # An alias may not name two different fields: make each alias unique by its position.
    def unique(parts: list[str], tag: str = "") -> str:
        # Sibling fragments on different types may not use one alias for fields of different types: tagged.
        out = []
        for i, part in enumerate(parts):
            out.append(re.sub(r"^x(\d): ", lambda m, i=i: f"x{m.group(1)}_{tag}{i}: ", part))
        return " ".join(out)

    contract_parts = picked(CONTRACT_COMMON)
    spread = draw(st.sampled_from(["inline", "named"]))
    fragments: list[str] = []
    for type_name in draw(st.lists(st.sampled_from(sorted(BY_TYPE)), min_size=1, max_size=3, unique=True)):
        body = unique(picked(BY_TYPE[type_name]), type_name)
        if spread == "inline":
            contract_parts.append(f"... on {type_name}{draw(directive)} {{ {body} }}")
        else:
            fragments.append(f"fragment F{type_name} on {type_name} {{ {body} }}")
            contract_parts.append(f"...F{type_name}{draw(directive)}")
    filters = draw(st.sampled_from(["", '(partner: "bank")', "(productType: LIFE)", '(partner: "invest")']))
    customer_parts = picked(CUSTOMER_LEAVES)
    customer_parts.append(f"{draw(aliases)}contracts{filters}{draw(directive)} {{ {unique(contract_parts)} }}")
    if draw(st.booleans()):
        customer_parts.append("portfolio { complete missingContracts assets { amount currency } }")
    root = draw(st.sampled_from(["customer(id: $id)", "c: customer(id: $id)"]))
    body = f"{{ {root} {{ {unique(customer_parts)} }} }} " + " ".join(fragments)
    # Only the variables the operation uses: an unused one would make every path refuse the document.
    declared = ["$id: ID!", *(["$flag: Boolean!"] if "$flag" in body else []), *(["$n: Int"] if "$n" in body else [])]
    return f"query P({', '.join(declared)}) {body}"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
# Always among the examples: a partner failing under fields the caller may see, and a consent withdrawn.
@example(operation="query P($id: ID!) { customer(id: $id) { contracts { ... on BankAccount { iban "
                   "b: balance { amount } } } portfolio { complete missingContracts } } }",
         caller=0, flag=True, n=None, consent=None, fault=("bank", "malformed"))
@example(operation="query P($id: ID!) { customer(id: $id) { email contracts { contractId "
                   "... on LifePolicy { healthClass } } } }",
         caller=2, flag=True, n=None, consent=False, fault=None)
@given(operation=operations(), caller=st.integers(0, 5), flag=st.booleans(), n=st.sampled_from([None, 0, 2]),
       consent=st.sampled_from([None, True, False]),
       fault=st.sampled_from([None, ("bank", "malformed"), ("life", "error"), ("invest", "malformed")]))
async def test_drawn_operations_agree(world: World, pair: Pair, operation: str, caller: int, flag: bool,
                                      n: int | None, consent: bool | None, fault: tuple[str, str] | None) -> None:
    customer = SHOWCASE
    if consent is not None:  # a consent history: granted or withdrawn by the customer before the query
        own = pair.strawberry.token("customer", ["self_service"], customer_id=customer)
        await pair.strawberry.post(
            "mutation($g: Boolean!) { setConsent(purpose: \"lead_management\", granted: $g) { active } }",
            token=own, purpose="self_service", variables={"g": consent})
    token, purpose = _callers(world, pair.planner, customer)[caller]
    planned = await _planned(world, pair.planner)
    try:
        if fault is not None:
            await world.fault(fault[0], mode=fault[1])
        variables = {"id": customer, "flag": flag, "n": n}
        reply = await assert_agree(world, pair, operation,
                                   {k: v for k, v in variables.items() if f"${k}" in operation}, token, purpose)
        assert "GRAPHQL_VALIDATION_FAILED" not in reply.codes(), (operation, reply.errors)  # a drawn query runs
        assert await _planned(world, pair.planner) == planned + 1, operation  # ...and the planner answered it
    finally:
        await world.reset()


def test_a_customer_field_without_a_reader_is_left_to_strawberry() -> None:
    # A field added to Customer (or a contract type) later and not taught to the planner must not go out
    # unguarded by default: the planner declines the operation and strawberry answers it.
    schema = build_schema()
    document = parse('{ customer(id: "C-000001") { email contracts { status } } }')
    known = prepared(document)
    operation = get_operation_ast(document)
    assert operation is not None
    variables = get_variable_values(schema._schema, (), {})
    assert not isinstance(variables, list)
    for missing in (("Customer", "email"), ("Loan", "status")):
        getters = {k: v for k, v in GETTERS.items() if k != missing}
        with pytest.raises(Unsupported):
            Compiler(schema._schema, known, operation, variables, getters).plan()
    assert Compiler(schema._schema, known, operation, variables, GETTERS).plan().roots[0].name == "customer"


def test_this_module_checks_the_planner_path_not_just_one(tmp_path: Path) -> None:
    # Guards the fixture: two gateways, planner on and off (a typo here would compare strawberry with itself).
    source = Path(__file__).read_text(encoding="utf-8")
    assert '"planner": True' in source and '"planner": False' in source


PAGE = """query Page($first: Int, $after: String, $search: String) {
  customers(first: $first, after: $after, search: $search) {
    edges { cursor node { id givenName familyName email consultant { id }
      contracts { contractId status ... on BankAccount { iban balance { amount currency } }
                  ... on Depot { riskProfile } }
      portfolio { complete missingContracts terminatedContracts assets { amount currency } } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_probe_pages(world: World, pair: Pair) -> None:
    for token, purpose in _callers(world, pair.planner, SHOWCASE):
        before = await _planned(world, pair.planner)
        reply = await assert_agree(world, pair, PAGE, {"first": 5}, token, purpose)
        print(purpose, reply.codes(), await _planned(world, pair.planner) - before)
