"""A query's cost, estimated before it runs, so that one request cannot make the gateway fan out to
thousands of partner lookups (`customers(first: 100) { … contracts { …every field… } }` under 30 aliases).

Every selected field costs 1 plus its children's cost times how many items it returns at most: `first` for
paginated lists, a typical maximum for the others. Fragments count where they are spread; on the `Contract`
interface the fields for different contract types exclude each other, so only the dearest type counts.
Depth, aliases and tokens are limited separately, during validation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import ExecutionResult, GraphQLError
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.utilities import value_from_ast_untyped
from strawberry.extensions import SchemaExtension

# field name -> (argument giving the item count, default count, largest count taken)
PAGINATED = {"customers": ("first", 20, 100), "recentTransactions": ("first", 5, 100)}
# Lists without an argument: how many items one of them holds at most in practice.
LIST_SIZES = {"contracts": 40, "consents": 10, "positions": 20, "claims": 10, "beneficiaries": 5, "partners": 10,
              "productTypes": 11, "assets": 3, "liabilities": 3, "missingContracts": 40,
              "edges": 1}  # edges: customers' `first` already counted the page

DEFAULT_MAX_COST = 25_000  # the full customer-360 view of one customer (bench/run.py) costs 5,313


def query_cost(document: DocumentNode, operation_name: str | None = None,
               variables: Mapping[str, Any] | None = None) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if not chosen:
        return 0  # execution reports the unknown operation
    given = dict(variables or {})
    for definition in chosen[0].variable_definitions or ():
        # `query($n: Int = 100)` sent without variables runs with 100, so it must be costed with 100.
        name = definition.variable.name.value
        if name not in given and definition.default_value is not None:
            given[name] = value_from_ast_untyped(definition.default_value)
    return _selection_cost(chosen[0].selection_set, fragments, given, frozenset())


def _selection_cost(selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode],
                    variables: dict[str, Any], seen: frozenset[str]) -> int:
    if selection_set is None:
        return 0
    common = 0
    by_type: dict[str, int] = {}
    for type_condition, field in _fields(selection_set, fragments, seen, None):
        cost = _field_cost(field, fragments, variables, seen)
        if type_condition is None or type_condition == "Contract":
            common += cost
        else:
            by_type[type_condition] = by_type.get(type_condition, 0) + cost
    return common + max(by_type.values(), default=0)


def _fields(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode], seen: frozenset[str],
            condition: str | None) -> Iterator[tuple[str | None, FieldNode]]:
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            yield condition, node
        elif isinstance(node, InlineFragmentNode):
            inner = node.type_condition.name.value if node.type_condition else condition
            yield from _fields(node.selection_set, fragments, seen, inner)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue  # validation has already rejected unknown and cyclic fragments
            yield from _fields(fragment.selection_set, fragments, seen | {name}, fragment.type_condition.name.value)


def _field_cost(field: FieldNode, fragments: Mapping[str, FragmentDefinitionNode], variables: dict[str, Any],
                seen: frozenset[str]) -> int:
    name = field.name.value
    if name.startswith("__"):
        return 1  # introspection reaches no partner; graphql-core's MaxIntrospectionDepthRule bounds it
    children = _selection_cost(field.selection_set, fragments, variables, seen)
    if name in PAGINATED:
        argument, default, largest = PAGINATED[name]
        given = next((value_from_ast_untyped(a.value, variables) for a in field.arguments or ()
                      if a.name.value == argument), None)
        count = default if not isinstance(given, int) else max(0, min(given, largest))
    else:
        count = LIST_SIZES.get(name, 1)
    return 1 + count * children


class QueryCostLimit(SchemaExtension):
    """Refuses, before execution and without calling any partner, an operation dearer than `max_cost`."""

    def __init__(self, max_cost: int = DEFAULT_MAX_COST) -> None:
        super().__init__()
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            cost = query_cost(context.graphql_document, context.operation_name, context.variables)
            if cost > self.max_cost:
                context.result = ExecutionResult(data=None, errors=[GraphQLError(
                    f"query cost {cost} exceeds the maximum of {self.max_cost}; ask for fewer customers, "
                    f"contracts or fields per request", extensions={"code": "QUERY_TOO_COMPLEX"})])
        yield
