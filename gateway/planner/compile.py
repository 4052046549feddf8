"""An operation compiled once: the document the gate parsed, measured and validated (gateway/gate.py; nothing
is parsed or validated again here), its fields collected by graphql-core's own `collect_fields` (aliases,
fragments, inline fragments on the interface, @skip/@include), and turned into a tree of small field plans that
`project.py` walks in one pass.

A plan depends on the document, the operation and the values of the variables @skip/@include read; every
other variable (a customer ID, `first`, a filter) is read when the plan runs. Anything the plan does not
cover raises `Unsupported` here, before anything is read, and strawberry answers instead."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    visit,
)
from graphql.execution.collect_fields import FieldDetailsList, FragmentDetails, collect_fields, collect_subfields
from graphql.execution.values import VariableValues
from graphql.language import DirectiveNode, Visitor

from resolvers import CONTRACT_TYPES, OBJECTS, attribute_name

# Fields of a customer or contract that are not governed data, read as plain attributes of what the planner
# built (the partner holding a contract, its product type); every other field of those types needs a getter.
UNGOVERNED = frozenset((t, f) for t in CONTRACT_TYPES for f in ("partner", "productType"))


class Unsupported(Exception):
    """The planner does not cover this operation (introspection, a mutation, the audit queries, …)."""


# How a field's value is found on its parent: (parent source, response path, request state) -> raw value.
Getter = Callable[[Any, tuple[str | int, ...], Any], Any]


@dataclass(frozen=True, slots=True)
class Leaf:
    serialize: Callable[[Any], Any]


@dataclass(slots=True)
class ListOf:
    item: Shape
    item_nullable: bool
    build: Callable[[Any], Any] | None = None  # project.py's, where every item is built without a getter


@dataclass(slots=True)
class Obj:
    type_name: str
    fields: list[FieldPlan] = field(default_factory=list)
    # For an object holding governed fields (a customer, a contract): its source's (partner owning the
    # partner-supplied fields or None, active consents), what the guard's decisions for it depend on.
    policy_source: Callable[[Any], tuple[str | None, frozenset[str]]] | None = None
    # Per (guard profile, partner, consents): the decision for each field, made once (project.py).
    programs: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    # Where every field is a plain read of the source (a partner's nested record, an amount, a page's info):
    # the whole object built by one function (project.py's `prepare`).
    build: Callable[[Any], dict[str, Any]] | None = None
    keyed: bool = False  # its source is a dict (a partner's nested record), read by key rather than attribute


@dataclass(frozen=True, slots=True)
class Abstract:
    """An interface: the object plan per concrete type, chosen by the source's `type_name`."""

    by_type: Mapping[str, Obj]


Shape = Leaf | ListOf | Obj | Abstract


@dataclass(frozen=True, slots=True)
class Governed:
    """A governed field as the projection reads it once the guard has allowed it in full: the policy's name
    for it, whose it is (None: the partner holding the contract) and how its value is read. Any other
    decision goes through the field's getter, which asks the guard itself."""

    field: str
    owner: str | None
    read: Callable[[Any, FieldPlan, Any], Any]  # (source, field plan, request state) -> value; may raise


@dataclass(slots=True)
class FieldPlan:
    key: str  # the response key (alias applied)
    name: str
    nodes: list[FieldNode]  # for error locations
    definition: GraphQLField | None
    nullable: bool
    get: Getter
    shape: Shape
    serialize: Callable[[Any], Any] | None = None  # the shape's, where it is a leaf
    governed: Governed | None = None
    # The field read as a plain attribute (or dict key, on a partner's nested records) of its source, with no
    # getter of its own: what a prepared object reads directly.
    attribute: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.shape, Leaf):
            self.serialize = self.shape.serialize


@dataclass(slots=True)
class ContractsPlan:
    """One `contracts` field of a customer: the partner fields selected per contract type (what partners are
    asked for) and the field whose arguments filter the list."""

    key: str
    definition: GraphQLField
    node: FieldNode
    selected: dict[str, frozenset[str]]


@dataclass(slots=True)
class CustomerPlan:
    """One selection of a customer: under `customer`/`me` (`at` empty), or under `customers` at the response
    keys (edges, node) of one `edges { node }` pair (each pair its own plan: aliases may select differently)."""

    obj: Obj
    at: tuple[str, ...] = ()
    contracts: list[ContractsPlan] = field(default_factory=list)
    portfolios: list[str] = field(default_factory=list)  # response keys of `portfolio`
    # per `portfolio` response key: the response keys under which it asks for `missingContracts`, and those of
    # `terminatedContracts`
    missing_keys: dict[str, list[str]] = field(default_factory=dict)
    terminated_keys: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class RootPlan:
    key: str
    name: str  # customer, me, customers, partners, __typename
    nodes: list[FieldNode]
    definition: GraphQLField | None
    shape: Shape
    customers: list[CustomerPlan] = field(default_factory=list)  # the customer selections under this root


@dataclass(slots=True)
class Plan:
    roots: list[RootPlan]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the planner keeps of a document the gate admitted (parsed, within the shape limits, validated and
    within the cost limit): its fragments, and the variables @skip/@include read."""

    document: DocumentNode
    fragments: dict[str, FragmentDetails]
    switches: frozenset[str]  # names of the variables @skip/@include read


def prepared(document: DocumentNode) -> Prepared:
    """The gate's document as the compiler reads it (no parsing, no validation: the gate did both)."""
    fragments = {d.name.value: FragmentDetails(d) for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    return Prepared(document, fragments, _switches(document))


def _switches(document: DocumentNode) -> frozenset[str]:
    """The variables @skip/@include read."""
    switches: set[str] = set()

    class Reads(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            if node.name.value in ("skip", "include"):
                switches.update(a.value.name.value for a in node.arguments or () if isinstance(a.value, VariableNode))

    visit(document, Reads())
    return frozenset(switches)


def _enum_name(value: Any) -> Any:
    return value.name if isinstance(value, Enum) else value


class Compiler:
    """Builds the plan for one operation. `getters` supplies, per (type, field), a factory of the function
    that reads the field from its parent's source; types without an entry read attributes (or dict keys)."""

    def __init__(self, schema: GraphQLSchema, prepared: Prepared, operation: OperationDefinitionNode,
                 variables: VariableValues, getters: Mapping[tuple[str, str], Callable[[str, FieldPlan], Getter]],
                 governed: Mapping[tuple[str, str], Governed] | None = None,
                 policy_sources: Mapping[str, Callable[[Any], tuple[str | None, frozenset[str]]]] | None = None):
        self.schema, self.prepared, self.operation, self.variables = schema, prepared, operation, variables
        self.getters = getters
        self.governed = governed or {}
        self.policy_sources = policy_sources or {}
        self._missing_keys: list[str] = []  # of the PortfolioSummary compiled last
        self._terminated_keys: list[str] = []
        self._trail: list[str] = []  # response keys from the root field down to the object being compiled
        self._customers: list[CustomerPlan] = []  # the customer selections under the root being compiled

    def plan(self) -> Plan:
        if self.operation.operation != OperationType.QUERY:
            raise Unsupported("only queries are planned")
        query_type = self.schema.query_type
        assert query_type is not None
        collected = collect_fields(self.schema, self.prepared.fragments, self.variables, query_type, self.operation)
        if collected.new_defer_usages:
            raise Unsupported("@defer")
        roots: list[RootPlan] = []
        for key, details in collected.grouped_field_set.items():
            name = details[0].node.name.value
            nodes = [d.node for d in details]
            if name == "__typename":
                roots.append(RootPlan(key, name, nodes, None, Leaf(lambda _v: query_type.name)))
                continue
            if name not in ("customer", "me", "customers", "partners"):
                raise Unsupported(name)
            definition = query_type.fields[name]
            self._customers = []
            shape = self._shape(definition.type, details)[0]
            roots.append(RootPlan(key, name, nodes, definition, shape, self._customers))
        return Plan(roots)

    def _shape(self, type_: GraphQLOutputType, details: FieldDetailsList) -> tuple[Shape, bool]:
        """The shape of a value of `type_` and whether it may be null."""
        nullable = not isinstance(type_, GraphQLNonNull)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList):
            item, item_nullable = self._shape(inner.of_type, details)
            return ListOf(item, item_nullable), nullable
        if isinstance(inner, GraphQLScalarType):
            return Leaf(inner.serialize), nullable
        if isinstance(inner, GraphQLEnumType):
            return Leaf(_enum_name), nullable
        if isinstance(inner, GraphQLInterfaceType):
            by_type = {t.name: self._object(t, details) for t in self.schema.get_possible_types(inner)}
            return Abstract(by_type), nullable
        assert isinstance(inner, GraphQLObjectType)
        return self._object(inner, details), nullable

    def _object(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Obj:
        obj = Obj(type_.name, policy_source=self.policy_sources.get(type_.name), keyed=type_.name in OBJECTS)
        customer: CustomerPlan | None = None
        if type_.name == "Customer":
            customer = CustomerPlan(obj, tuple(self._trail))
            self._customers.append(customer)
        sub = collect_subfields(self.schema, self.prepared.fragments, self.variables, self.operation, type_,
                                details).grouped_field_set
        if type_.name == "PortfolioSummary":
            # The IDs of contracts left out of the totals, and of those terminated, are revealed (and reported)
            # at each response key of `missingContracts` / `terminatedContracts`, and nowhere when not asked for.
            self._missing_keys = [key for key, fields in sub.items()
                                  if fields[0].node.name.value == "missingContracts"]
            self._terminated_keys = [key for key, fields in sub.items()
                                     if fields[0].node.name.value == "terminatedContracts"]
        for key, fields in sub.items():
            name = fields[0].node.name.value
            nodes = [f.node for f in fields]
            if name == "__typename":
                type_name = type_.name
                obj.fields.append(FieldPlan(key, name, nodes, None, False, _constant(type_name), Leaf(str)))
                continue
            if name.startswith("__"):
                raise Unsupported(name)
            definition = type_.fields[name]
            self._trail.append(key)
            shape, nullable = self._shape(definition.type, fields)
            self._trail.pop()
            plan = FieldPlan(key, name, nodes, definition, nullable, _attribute(type_.name, name), shape,
                             attribute=name if type_.name in OBJECTS else attribute_name(name))
            factory = self.getters.get((type_.name, name))
            if factory is not None:
                plan.get, plan.attribute = factory(key, plan), None
                plan.governed = self.governed.get((type_.name, name))
            elif (type_.name, name) not in UNGOVERNED and (type_.name == "Customer" or type_.name in CONTRACT_TYPES):
                # A field of a customer or contract the planner has no reader for (one added to the schema
                # later): strawberry answers, rather than a value going out without passing the guard.
                raise Unsupported(f"{type_.name}.{name}")
            obj.fields.append(plan)
            if customer is not None and name == "contracts":
                customer.contracts.append(ContractsPlan(key, definition, nodes[0], self._selected(fields)))
            elif customer is not None and name == "portfolio":
                customer.portfolios.append(key)
                customer.missing_keys[key] = self._missing_keys
                customer.terminated_keys[key] = self._terminated_keys
        return obj

    def _selected(self, details: FieldDetailsList) -> dict[str, frozenset[str]]:
        """Per contract type, the partner-supplied fields this `contracts` selection asks for."""
        selected: dict[str, frozenset[str]] = {}
        for type_name, kinds in CONTRACT_TYPES.items():
            type_ = self.schema.get_type(type_name)
            assert isinstance(type_, GraphQLObjectType)
            sub = collect_subfields(self.schema, self.prepared.fragments, self.variables, self.operation, type_,
                                    details).grouped_field_set
            selected[type_name] = frozenset(f[0].node.name.value for f in sub.values()) & kinds.keys()
        return selected


def _constant(value: str) -> Getter:
    return lambda _source, _path, _running: value


def _attribute(type_name: str, name: str) -> Getter:
    if type_name in OBJECTS:  # a partner's nested records (transactions, claims, positions) are dicts
        return lambda source, _path, _request: source.get(name)
    attribute = attribute_name(name)
    return lambda source, _path, _request: getattr(source, attribute)
