"""Running a compiled plan: customers found through gateway/lookup.py (the same side-channel rules as the
strawberry path), one call per partner for everything every selected customer field needs, then the answer
built in one pass (project.py). Governed values pass the guard's one way in (`Guard.reveal`, `withheld`,
`in_full`), the same calls the strawberry resolvers make, so reports and the audit event cannot differ.

`run` is handed the document and operation the gate admitted (parsed, within the limits, validated, within
the cost limit: nothing is parsed or validated twice). It returns None whenever strawberry must answer
instead: the variables do not fit (graphql-core then says why), the operation is not one the planner covers,
or the answer would need null propagation it does not reproduce. In the last case the guard's notes are
cleared first, and what was fetched stays in the request's loaders (the master views primed, partner answers
cached by key), so the fallback re-reads nothing from a partner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import Enum
from operator import attrgetter
from typing import Any

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, OperationType, located_error
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from prometheus_client import Counter
from strawberry.types import ExecutionResult

from gateway.context import RequestContext
from gateway.customer import (
    Request,
    choose_contracts,
    contract_requests,
    portfolio_contracts,
    portfolio_requests,
    portfolio_totals,
    terminated_contracts,
)
from gateway.errors import CustomerNotFound, VcvError
from gateway.lookup import CustomerPage, active_consents, find_customer, own_record, page_customers
from gateway.planner.compile import (
    Compiler,
    CustomerPlan,
    FieldPlan,
    Getter,
    Governed,
    Plan,
    Prepared,
    RootPlan,
    Unsupported,
    prepared,
)
from gateway.planner.project import CannotProject, complete, prepare
from gateway.types import Partner
from resolvers import (
    CONTRACT_ID,
    CONTRACT_TYPES,
    MASTER_OWNER,
    TYPE_OF_PRODUCT,
    ContractRef,
    ContractValues,
    CustomerView,
    MoneyValue,
    PartnerError,
    attribute_name,
    models,
)

log = logging.getLogger("vcv.planner")
# Which path answered, so an operator sees how much traffic the planner covers (`planner`) and how much
# strawberry answers because the planner does not cover it (`not_covered`: introspection, audit queries,
# mutations, `dataExport`, variables that do not fit) or handed it back (`fallback`: an answer it cannot reproduce).
ANSWERS = Counter("vcv_planner_answers_total", "GraphQL operations by the path that answered them", ["path"])

Path = tuple[str | int, ...]
_UNSUPPORTED = object()


class PlanCache:
    """Bounded LRUs keyed by the query text: what the compiler reads of the gate's document, once per text;
    plans once per (text, operation, values of the @skip/@include variables). A client sending endless
    distinct queries only evicts."""

    def __init__(self, documents: int = 256, plans: int = 512) -> None:
        self.documents: LRUCache[str, Prepared] = LRUCache(documents)
        self.plans: LRUCache[tuple[Any, ...], Any] = LRUCache(plans)


@dataclass(slots=True)
class ContractSource:
    type_name: str
    ref: ContractRef
    consents: frozenset[str]
    fetched: ContractValues | PartnerError | None
    partner: Partner
    product_type: str


@dataclass(slots=True)
class PortfolioSource:
    assets: list[MoneyValue]
    liabilities: list[MoneyValue]
    complete: bool
    missing_contracts: list[str]
    terminated_contracts: list[str]


@dataclass(slots=True)
class CustomerSource:
    row: models.CustomerRow
    consents: frozenset[str]
    view: CustomerView
    contracts: dict[str, list[ContractSource]]
    portfolios: dict[str, PortfolioSource]


@dataclass(slots=True)
class EdgeSource:
    key: str  # what the cursor seals (gateway/lookup.py's CustomerPage)
    nodes: dict[str, CustomerSource]  # per response key of `node`


@dataclass(slots=True)
class PageInfoSource:
    has_next_page: bool
    end_key: str | None


@dataclass(slots=True)
class ConnectionSource:
    edges: dict[str, list[EdgeSource]]  # per response key of `edges`
    bare: list[EdgeSource]  # for an `edges` selecting no `node`
    page_info: PageInfoSource


@dataclass(slots=True)
class Running:
    """What getters reach while one plan runs."""

    context: RequestContext
    variables: VariableValues


async def run(cache: PlanCache, schema: GraphQLSchema, query: str, document: DocumentNode,
              operation: OperationDefinitionNode, variables: dict[str, Any] | None,
              context: RequestContext) -> ExecutionResult | None:
    """The answer to the operation the gate admitted (`document`, parsed from `query`), or None: strawberry
    answers it instead."""
    result = await _run(cache, schema, query, document, operation, variables, context)
    ANSWERS.labels("not_covered" if result is None else "planner" if result is not _FALLBACK else "fallback").inc()
    return result if isinstance(result, ExecutionResult) else None


_FALLBACK = object()


async def _run(cache: PlanCache, schema: GraphQLSchema, query: str, document: DocumentNode,
               operation: OperationDefinitionNode, variables: dict[str, Any] | None,
               context: RequestContext) -> Any:
    if operation.operation != OperationType.QUERY or not isinstance(variables, dict | None):
        return None
    known = cache.documents.get(query)
    if known is None or known.document is not document:  # the gate's own caches hand out one node per text
        known = cache.documents[query] = prepared(document)
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return None  # strawberry reports the bad variables
    name = operation.name.value if operation.name is not None else None
    key = (query, name, tuple(sorted((n, coerced.coerced.get(n)) for n in known.switches)))
    plan = cache.plans.get(key)
    if plan is None:
        try:
            plan = prepare(Compiler(schema, known, operation, coerced, GETTERS, GOVERNED, POLICY_SOURCES).plan())
        except Unsupported:
            plan = _UNSUPPORTED
        cache.plans[key] = plan
    if plan is _UNSUPPORTED or not isinstance(plan, Plan):
        return None
    touched = set(context.touched)
    try:
        result = await _execute(plan, Running(context, coerced))
    except Exception as reason:
        # CannotProject (null propagation), or something failing below (the master unreachable): strawberry
        # meets the same and reports it the way it always does (masked as an internal error where it is not
        # the caller's to read). What the planner noted for the audit event is strawberry's to note again.
        log.info("planner hands the operation to strawberry: %s", type(reason).__name__)
        context.guard.redactions.clear()
        context.guard.shown.clear()
        context.touched.intersection_update(touched)
        return _FALLBACK
    return result  # errors are logged and masked by the gate, whichever path answered


# A customer to build the sources of: (its selection, the response path to it, what the master holds).
Target = tuple[CustomerPlan, tuple[str | int, ...], CustomerView, frozenset[str]]
_LOOKUPS = ("customer", "me", "customers")  # the root fields that read the master


async def _execute(plan: Plan, running: Running) -> ExecutionResult:
    context = running.context
    lookups = [r for r in plan.roots if r.name in _LOOKUPS]
    found = await asyncio.gather(*(_look_up(r, running) if r.name != "customers" else _page(r, running)
                                   for r in lookups), return_exceptions=True)
    values: dict[str, Any] = {}
    failed: dict[str, VcvError] = {}
    targets: list[Target] = []
    pages: dict[str, Paged] = {}
    for root, outcome in zip(lookups, found, strict=True):
        if isinstance(outcome, VcvError):
            if root.name == "customers" and len(lookups) > 1:
                # A non-null root failing empties `data`; graphql-core's order of the siblings' errors is not
                # reproduced here.
                raise CannotProject("customers failed next to other lookups")
            failed[root.key] = outcome
        elif isinstance(outcome, BaseException):
            raise outcome
        elif outcome is None:
            values[root.key] = None
        elif isinstance(outcome, Paged):
            pages[root.key] = outcome
            for customer in root.customers:
                edges_key, node_key = customer.at
                targets += [(customer, (root.key, edges_key, i, node_key), view, consents)
                            for i, (_key, view, consents) in enumerate(outcome.shown)]
        else:
            view, consents = outcome
            targets += [(customer, (root.key,), view, consents) for customer in root.customers]
    sources = await _fetch(targets, running)
    for root in plan.roots:
        if root.key in failed:
            continue
        if root.name in ("customer", "me") and root.key not in values:
            values[root.key] = sources[(root.key,)]
        elif root.name == "customers":
            values[root.key] = _connection(root, pages[root.key], sources)
        elif root.name == "partners":
            values[root.key] = [Partner.of(c.id, c) for c in context.partner_configs.values()]
        elif root.name == "__typename":
            values[root.key] = "Query"
    data: dict[str, Any] = {}
    errors: list[GraphQLError] = []
    for root in plan.roots:
        if root.key in failed:
            errors.append(located_error(failed[root.key], root.nodes, [root.key]))
            if root.name == "customers":  # non-null: the whole of `data` is null, as graphql-core answers
                return ExecutionResult(data=None, errors=errors)
            data[root.key] = None
            continue
        nullable = root.name in ("customer", "me")
        data[root.key] = complete(root.shape, nullable, values[root.key], (root.key,), running, errors)
    return ExecutionResult(data=data, errors=errors or None)


async def _look_up(root: RootPlan, running: Running) -> tuple[CustomerView, frozenset[str]] | None:
    """The customer a root field names, as gateway/lookup.py finds them, or None (not shown)."""
    context = running.context
    if root.name == "customer":
        assert root.definition is not None
        given = str(get_argument_values(root.definition, root.nodes[0], running.variables)["id"])
        view = await find_customer(context, given)
        if view is None:
            raise CustomerNotFound(given)
    else:
        view = await own_record(context)
        if view is None:
            return None
    context.master_loaders.prime(view)  # a fallback to strawberry then reads nothing twice
    consents = active_consents(view.consents)
    if context.guard.decide(MASTER_OWNER, "Customer.id", consents).redacted:  # as shown_customer decides
        if root.name == "customer":
            raise CustomerNotFound(given)
        return None
    return view, consents


@dataclass(slots=True)
class Paged:
    page: CustomerPage
    shown: list[tuple[str, CustomerView, frozenset[str]]]  # (cursor key, customer, active consents)


async def _page(root: RootPlan, running: Running) -> Paged:
    """A page of `customers`, every customer on it read with the page (one master read), and those shown on it
    (as the strawberry resolver decides: `shown_customer`), each with the key its cursor seals."""
    context = running.context
    assert root.definition is not None
    args = get_argument_values(root.definition, root.nodes[0], running.variables)
    page = await page_customers(context, args.get("search"), args.get("first"), args.get("after"), views=True)
    assert page.views is not None
    shown: list[tuple[str, CustomerView, frozenset[str]]] = []
    for (key, _row), view in zip(page.rows, page.views, strict=True):
        context.master_loaders.prime(view)
        consents = active_consents(view.consents)
        if not context.guard.decide(MASTER_OWNER, "Customer.id", consents).redacted:
            shown.append((key, view, consents))
    context.touched.update(view.customer.id for _key, view, _consents in shown)
    return Paged(page, shown)


def _connection(root: RootPlan, paged: Paged, sources: dict[tuple[str | int, ...], CustomerSource]) -> ConnectionSource:
    page, shown = paged.page, paged.shown
    edges: dict[str, list[EdgeSource]] = {}
    for customer in root.customers:
        edges_key, node_key = customer.at
        listed = edges.setdefault(edges_key, [EdgeSource(key, {}) for key, _view, _consents in shown])
        for i, edge in enumerate(listed):
            edge.nodes[node_key] = sources[(root.key, edges_key, i, node_key)]
    end = page.rows[-1][0] if page.rows else None  # the last customer read, shown or not (as strawberry's)
    return ConnectionSource(edges, [EdgeSource(key, {}) for key, _view, _consents in shown],
                            PageInfoSource(page.more, end))


async def _fetch(targets: list[Target], running: Running) -> dict[tuple[str | int, ...], CustomerSource]:
    """Every partner value any selected customer field needs, in one call per partner, for every customer
    of the operation (one, or a whole page)."""
    guard = running.context.guard
    requests: list[Request] = []
    pending: list[tuple[Any, ...]] = []
    for customer, at, view, consents in targets:
        for contracts in customer.contracts:
            args = get_argument_values(contracts.definition, contracts.node, running.variables)
            product_type = args.get("productType")
            chosen = choose_contracts(guard, view.contracts, consents, contracts.selected, args.get("partner"),
                                      product_type.value if isinstance(product_type, Enum) else product_type)
            asked = contract_requests(chosen)
            pending.append(("contracts", at, contracts.key, chosen, len(requests), len(asked)))
            requests += asked
        for key in customer.portfolios:
            path: list[str | int] = [*at, key]
            counted, summed = portfolio_contracts(guard, path, view.contracts, consents)
            terminated = terminated_contracts(guard, path, view.contracts, consents, customer.terminated_keys[key])
            asked = portfolio_requests(summed)
            pending.append(("portfolio", at, key, (path, counted, summed, customer.missing_keys[key], terminated),
                            len(requests), len(asked)))
            requests += asked
    answers = await running.context.partners.load_known(requests) if requests else []
    sources = {at: CustomerSource(view.customer, consents, view, {}, {}) for _customer, at, view, consents in targets}
    configs = running.context.partner_configs
    for kind, at, key, what, start, count in pending:
        mine = answers[start:start + count]
        source = sources[at]
        if kind == "contracts":
            replies = iter(mine)
            holders = {pid: Partner.of(pid, configs.get(pid)) for pid in {ref.partner_id for ref, _ in what}}
            source.contracts[key] = [
                ContractSource(TYPE_OF_PRODUCT[ref.product_type], ref, source.consents,
                               next(replies) if wanted else None, holders[ref.partner_id], ref.product_type)
                for ref, wanted in what]
        else:
            path, counted, summed, missing_keys, terminated = what
            totals = portfolio_totals(guard, path, counted, summed, mine, source.consents, missing_keys)
            source.portfolios[key] = PortfolioSource([MoneyValue(a, c) for c, a in totals.assets],
                                                     [MoneyValue(a, c) for c, a in totals.liabilities],
                                                     totals.complete, totals.missing, terminated)
    return sources


# Getters: how each field that is not a plain attribute is read. Factories take (response key, field plan).

def _master_value(field: str, read: Callable[[Any], Any]) -> Any:
    """A value the master owns (the customer's, or a contract's reference data), through the guard."""

    def factory(_key: str, _plan: FieldPlan) -> Getter:
        def get(source: Any, path: Path, running: Running) -> Any:
            return running.context.guard.reveal(path, MASTER_OWNER, field, read(source), source.consents)
        return get

    return factory


def _row_attribute(name: str) -> Callable[[CustomerSource], Any]:
    """The customer's row attribute behind a field (`givenName` -> `row.given_name`)."""
    return attrgetter("row." + attribute_name(name))


def _customer_value(name: str) -> Any:
    return _master_value(f"Customer.{name}", _row_attribute(name))


def _address_read(source: CustomerSource, _plan: FieldPlan, _running: Running) -> Any:
    row = source.row
    return None if row.street is None and row.city is None else row


def _consultant_read(source: CustomerSource, _plan: FieldPlan, _running: Running) -> Any:
    return source.view.consultant if source.row.consultant_id else None


def _consents_read(source: CustomerSource, _plan: FieldPlan, _running: Running) -> Any:
    return source.view.consents


def _built(field: str, read: Callable[[CustomerSource, FieldPlan, Running], Any]) -> Any:
    """A field built from the master's data rather than copied (the address, the consultant, the consents):
    nothing is built where the guard withholds it. `read` is also the fast path's (GOVERNED below)."""

    def factory(_key: str, plan: FieldPlan) -> Getter:
        def get(source: CustomerSource, path: Path, running: Running) -> Any:
            if running.context.guard.withheld(path, MASTER_OWNER, field, source.consents):
                return None
            return read(source, plan, running)
        return get

    return factory


def _contracts(key: str, _plan: FieldPlan) -> Getter:
    return lambda source, _path, _running: source.contracts[key]


def _portfolio(key: str, _plan: FieldPlan) -> Getter:
    return lambda source, _path, _running: source.portfolios[key]


def _consent_active(_key: str, _plan: FieldPlan) -> Getter:
    return lambda source, _path, _running: source.withdrawn_at is None


def _contract_id(_key: str, _plan: FieldPlan) -> Getter:
    def get(source: ContractSource, path: Path, running: Running) -> Any:
        return running.context.guard.reveal(path, source.ref.partner_id, f"{source.type_name}.{CONTRACT_ID}",
                                            source.ref.contract_id, source.consents)
    return get


def _master_contract(name: str, attribute: str) -> Any:
    return _master_value(f"Contract.{name}", attrgetter(f"ref.{attribute}"))


def _partner_value(type_name: str, name: str) -> Any:
    field = f"{type_name}.{name}"

    def factory(_key: str, plan: FieldPlan) -> Getter:
        def get(source: ContractSource, path: Path, running: Running) -> Any:
            fetched = source.fetched
            failed = PartnerError(fetched.code, fetched.partner, fetched.detail) \
                if isinstance(fetched, PartnerError) else None
            raw = fetched.values.get(name) if isinstance(fetched, ContractValues) else None
            value = running.context.guard.reveal(path, source.ref.partner_id, field, raw, source.consents,
                                                 failed=failed)
            return _recent(value, plan, running) if name == "recentTransactions" else value
        return get

    return factory


def _recent(transactions: list[dict[str, Any]] | None, plan: FieldPlan, running: Running) -> Any:
    """`recentTransactions(first:)`: the latest first, five unless the caller says how many."""
    if transactions is None:
        return None
    assert plan.definition is not None
    first = get_argument_values(plan.definition, plan.nodes[0], running.variables).get("first")
    ordered = sorted(transactions, key=lambda r: r["bookingDate"] or date.min, reverse=True)
    return ordered[:5 if first is None else max(0, first)]


def _edges(key: str, _plan: FieldPlan) -> Getter:
    return lambda source, _path, _running: source.edges.get(key, source.bare)


def _node(key: str, _plan: FieldPlan) -> Getter:
    return lambda source, _path, _running: source.nodes[key]


def _cursor(_key: str, _plan: FieldPlan) -> Getter:
    return lambda source, _path, running: running.context.cursors.encode(source.key)


def _end_cursor(_key: str, _plan: FieldPlan) -> Getter:
    def get(source: PageInfoSource, _path: Path, running: Running) -> Any:
        return None if source.end_key is None else running.context.cursors.encode(source.end_key)
    return get


GETTERS: dict[tuple[str, str], Any] = {
    ("CustomerConnection", "edges"): _edges,
    ("CustomerEdge", "node"): _node,
    ("CustomerEdge", "cursor"): _cursor,
    ("PageInfo", "endCursor"): _end_cursor,
    **{("Customer", n): _customer_value(n)
       for n in ("id", "givenName", "familyName", "birthDate", "email", "phone", "segment")},
    ("Customer", "address"): _built("Customer.address", _address_read),
    ("Customer", "consultant"): _built("Customer.consultant", _consultant_read),
    ("Customer", "consents"): _built("Customer.consents", _consents_read),
    ("Customer", "contracts"): _contracts,
    ("Customer", "portfolio"): _portfolio,
    ("Consent", "active"): _consent_active,
    **{(t, CONTRACT_ID): _contract_id for t in CONTRACT_TYPES},
    **{(t, "status"): _master_contract("status", "status") for t in CONTRACT_TYPES},
    **{(t, "startDate"): _master_contract("startDate", "start_date") for t in CONTRACT_TYPES},
    **{(t, n): _partner_value(t, n) for t, kinds in CONTRACT_TYPES.items() for n in kinds},
}


# The fast path of the governed fields above (project.py's programs): how each is read once the guard has
# allowed it in full. The getters stay the path for every other decision, so the two cannot disagree on what
# a hidden or treated field reports.

def _partner_read(name: str) -> Callable[[ContractSource, FieldPlan, Running], Any]:
    def read(source: ContractSource, plan: FieldPlan, running: Running) -> Any:
        fetched = source.fetched
        if isinstance(fetched, PartnerError):
            raise PartnerError(fetched.code, fetched.partner, fetched.detail)
        value = fetched.values.get(name) if fetched is not None else None
        return _recent(value, plan, running) if name == "recentTransactions" else value
    return read


def _customer_read(name: str) -> Callable[[CustomerSource, FieldPlan, Running], Any]:
    read = _row_attribute(name)
    return lambda source, _plan, _running: read(source)


GOVERNED: dict[tuple[str, str], Governed] = {
    **{("Customer", n): Governed(f"Customer.{n}", MASTER_OWNER, _customer_read(n))
       for n in ("id", "givenName", "familyName", "birthDate", "email", "phone", "segment")},
    ("Customer", "address"): Governed("Customer.address", MASTER_OWNER, _address_read),
    ("Customer", "consultant"): Governed("Customer.consultant", MASTER_OWNER, _consultant_read),
    ("Customer", "consents"): Governed("Customer.consents", MASTER_OWNER, _consents_read),
    **{(t, CONTRACT_ID): Governed(f"{t}.{CONTRACT_ID}", None,
                                  lambda source, _plan, _running: source.ref.contract_id) for t in CONTRACT_TYPES},
    **{(t, "status"): Governed("Contract.status", MASTER_OWNER, lambda source, _plan, _running: source.ref.status)
       for t in CONTRACT_TYPES},
    **{(t, "startDate"): Governed("Contract.startDate", MASTER_OWNER,
                                  lambda source, _plan, _running: source.ref.start_date) for t in CONTRACT_TYPES},
    **{(t, n): Governed(f"{t}.{n}", None, _partner_read(n)) for t, kinds in CONTRACT_TYPES.items() for n in kinds},
}

# Whose partner-supplied fields an object's source holds, and the customer's active consents.
POLICY_SOURCES: dict[str, Callable[[Any], tuple[str | None, frozenset[str]]]] = {
    "Customer": lambda source: (None, source.consents),
    **{t: (lambda source: (source.ref.partner_id, source.consents)) for t in CONTRACT_TYPES},
}
