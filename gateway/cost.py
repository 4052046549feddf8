"""How big and how dear a document is, measured in time linear in its size, before anything else reads it.

Two measures, both refused with QUERY_TOO_COMPLEX naming the limit:
- its **shape**, independent of variables: depth, aliases, fields and fragment spreads, each counted with
  multiplicity (a fragment spread twice counts twice). Checked right after parsing and *before* graphql-core's
  validation rules run, because a fragment spread twice per level doubles the work of any walker that
  follows spreads (`query { ...F0 }` with F0..F19 each spreading the next one twice is 1 KB and a million
  fields); once the expanded size is known to be small, every later walker is cheap too.
- its **cost**, from the variables: every selected field costs 1 plus its children's cost times how many
  items it returns at most (`first` for paginated lists, a typical maximum for the others), so one request
  cannot make the gateway fan out to thousands of partner lookups. On the `Contract` interface the fields of
  different contract types exclude each other, so only the dearest type counts.

Both analyse each fragment definition once (memoised by name), so the work is one visit per AST node
whatever the spreads multiply; `Shape.steps` counts those visits, which the tests bound."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.utilities import value_from_ast_untyped

from resolvers import CONTRACT_TYPES

# field name -> (argument giving the item count, default count, largest count taken)
PAGINATED = {"customers": ("first", 20, 100), "recentTransactions": ("first", 5, 100),
             "auditEvents": ("first", 20, 100), "accessLog": ("first", 20, 100)}
# Lists without an argument: how many items one of them holds at most in practice.
LIST_SIZES = {"contracts": 40, "consents": 10, "positions": 20, "claims": 10, "beneficiaries": 5, "partners": 10,
              "productTypes": 11, "assets": 3, "liabilities": 3, "missingContracts": 40,
              "edges": 1}  # edges: customers' `first` already counted the page

DEFAULT_MAX_COST = 25_000  # the full customer-360 view of one customer (bench/run.py) costs 5,313
# Numbers past this are all "too many": saturating keeps the arithmetic small whatever the multiplicity.
_SATURATED = 10**12


@dataclass(frozen=True, slots=True)
class ShapeLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_fields: int = 2_000  # field selections with every spread expanded (the customer-360 view: ~600)
    max_spreads: int = 500  # fragment spreads with multiplicity
    # Fields under one response name in one selection (graphql-core's OverlappingFieldsCanBeMerged compares
    # them pairwise: 300 copies of `partners { id }` cost it a second). Real queries repeat a name a few times.
    max_same_name: int = 24


@dataclass(frozen=True, slots=True)
class Shape:
    depth: int
    aliases: int
    fields: int
    spreads: int
    same_name: int  # the most fields under one response name in one selection set
    steps: int  # AST nodes visited to measure all this: linear in the document, whatever the spreads

    def refusal(self, limits: ShapeLimits) -> str | None:
        """Why the document is refused, naming the limit; None when it is within every limit."""
        if self.fields > limits.max_fields:
            return (f"the query selects {_count(self.fields)} fields once its fragments are expanded, more than "
                    f"the limit of {limits.max_fields}")
        if self.spreads > limits.max_spreads:
            return (f"the query spreads fragments {_count(self.spreads)} times, more than the limit of "
                    f"{limits.max_spreads}")
        nesting = self.depth - 1  # a root field is at depth 0, as graphql's depth limiters count
        if nesting > limits.max_depth:
            return f"the query nests {nesting} levels deep, more than the maximum operation depth of {limits.max_depth}"
        if self.aliases > limits.max_aliases:
            return f"{_count(self.aliases)} aliases found. Allowed: {limits.max_aliases}"
        if self.same_name > limits.max_same_name:
            return (f"the query selects one field {self.same_name} times in one selection, more than the limit of "
                    f"{limits.max_same_name}")
        return None


def _count(n: int) -> str:
    return "more than a million" if n >= _SATURATED else f"{n:,}"


def _add(a: int, b: int) -> int:
    return min(a + b, _SATURATED)


@dataclass(slots=True)
class _Tally:
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    spreads: int = 0
    same_name: int = 0

    def absorb(self, other: _Tally, depth_offset: int = 0) -> None:
        self.depth = max(self.depth, other.depth + depth_offset)
        self.same_name = max(self.same_name, other.same_name)
        self.aliases = _add(self.aliases, other.aliases)
        self.fields = _add(self.fields, other.fields)
        self.spreads = _add(self.spreads, other.spreads)


def measure(document: DocumentNode) -> Shape:
    """The shape of every operation in the document together (an operation not run is still parsed and
    validated, so it counts). Cyclic spreads count as empty here; validation refuses them afterwards."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, _Tally] = {}
    # Each fragment's top-level response names with their counts: a spread adds them to the selection it is
    # spread into, where graphql-core compares them with everything else under the same name.
    top_names: dict[str, dict[str, int]] = {}
    in_progress: set[str] = set()
    steps = 0
    merged = 0  # name entries merged from fragments into selections: bounded, or the document is refused

    def selection(node: SelectionSetNode | None, into: dict[str, int] | None = None) -> _Tally:
        tally = _Tally()
        if node is None:
            return tally
        names: dict[str, int] = {} if into is None else into
        walk(node, tally, names)
        tally.same_name = max(tally.same_name, max(names.values(), default=0))
        return tally

    def walk(node: SelectionSetNode, tally: _Tally, names: dict[str, int]) -> None:
        """The selections of `node` into `tally`; inline fragments belong to the same selection (their fields
        merge with the enclosing ones), so their names count together."""
        nonlocal steps
        for child in node.selections:
            steps += 1
            if isinstance(child, FieldNode):
                below = selection(child.selection_set)
                if child.name.value.startswith("__"):
                    # Introspection's depth is bounded by graphql-core's MaxIntrospectionDepthRule (the standard
                    # introspection query nests deeper than any data query may); its size still counts.
                    below.depth = 0
                tally.absorb(below, 1)
                tally.fields = _add(tally.fields, 1)
                if child.alias is not None:
                    tally.aliases = _add(tally.aliases, 1)
                key = (child.alias or child.name).value
                names[key] = names.get(key, 0) + 1
            elif isinstance(child, InlineFragmentNode):
                walk(child.selection_set, tally, names)
            elif isinstance(child, FragmentSpreadNode):
                tally.absorb(fragment(child.name.value))
                tally.spreads = _add(tally.spreads, 1)
                merge(names, top_names.get(child.name.value, {}))

    def merge(names: dict[str, int], more: dict[str, int]) -> None:
        nonlocal merged
        merged += len(more)
        if merged > MAX_MERGED:
            raise _TooMuchWork
        for key, count in more.items():
            names[key] = min(names.get(key, 0) + count, _SATURATED)

    def fragment(name: str) -> _Tally:
        known = memo.get(name)
        if known is not None:
            return known
        definition = fragments.get(name)
        if definition is None or name in in_progress:
            return _Tally()  # unknown or cyclic: validation reports it
        in_progress.add(name)
        names: dict[str, int] = {}
        memo[name] = result = selection(definition.selection_set, names)
        top_names[name] = names
        in_progress.discard(name)
        return result

    total = _Tally()
    try:
        for definition in document.definitions:
            steps += 1
            if isinstance(definition, OperationDefinitionNode):
                total.absorb(selection(definition.selection_set))
            elif isinstance(definition, FragmentDefinitionNode):
                fragment(definition.name.value)  # analysed once, whether or not anything spreads it
    except _TooMuchWork:
        return Shape(_SATURATED, _SATURATED, _SATURATED, _SATURATED, _SATURATED, steps)
    return Shape(total.depth, total.aliases, total.fields, total.spreads, total.same_name, steps)


class _TooMuchWork(Exception):
    """Spreads merge more field names than any real query does: the document is refused as too big."""


# Field names merged from fragments into the selections that spread them, over the whole document. The
# customer-360 view merges a few hundred; past this the document is refused (as too many fields).
MAX_MERGED = 20_000


def query_cost(document: DocumentNode, operation_name: str | None = None,
               variables: Mapping[str, Any] | None = None) -> int:
    return costing(document, operation_name, variables)[0]


_NOT_SENT = object()  # a variable the request did not send (its default applies), unlike one sent as null


class CostCache:
    """Costs of the documents a gateway is sent, per operation and per the values of the few variables a cost
    reads (the counts of paginated fields): requests that differ only in a customer's ID cost the same, so
    the cost is computed once, not per request. Bounded: a client sending endless documents or counts only
    evicts."""

    def __init__(self, documents: int = 512, per_document: int = 64) -> None:
        self._entries: LRUCache[tuple[str, str | None], tuple[tuple[str, ...], dict[tuple[Any, ...], int]]] = \
            LRUCache(documents)
        self._per_document = per_document

    def cost(self, text: str, document: DocumentNode, operation_name: str | None,
             variables: Mapping[str, Any] | None) -> int:
        given = variables or {}
        entry = self._entries.get((text, operation_name))
        if entry is not None:
            names, costs = entry
            key = tuple(given.get(n, _NOT_SENT) for n in names)
            try:
                cached = costs.get(key)
            except TypeError:  # a list where a count belongs: cost it as it is (validation says what is wrong)
                return query_cost(document, operation_name, variables)
            if cached is not None:
                return cached
        read: set[str] = set()
        cost = costing(document, operation_name, variables, read)[0]
        names = tuple(sorted(read))
        if entry is None or entry[0] != names:
            entry = (names, {})
            self._entries[(text, operation_name)] = entry
        costs = entry[1]
        if len(costs) >= self._per_document:
            costs.clear()
        with contextlib.suppress(TypeError):  # not a key: not cached
            costs[tuple(given.get(n, _NOT_SENT) for n in names)] = cost
        return cost


def costing(document: DocumentNode, operation_name: str | None = None,
            variables: Mapping[str, Any] | None = None, read: set[str] | None = None) -> tuple[int, int]:
    """The cost, and the number of AST nodes visited to compute it (each fragment once); `read` collects the
    names of the variables the cost depends on."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if not chosen:
        return 0, 0  # execution reports the unknown operation
    given = dict(variables or {})
    for definition in chosen[0].variable_definitions or ():
        # `query($n: Int = 100)` sent without variables runs with 100, so it must be costed with 100.
        name = definition.variable.name.value
        if name not in given and definition.default_value is not None:
            given[name] = value_from_ast_untyped(definition.default_value)
    run = _Costing(fragments, given)
    cost = run.selection(chosen[0].selection_set)
    if read is not None:
        read.update(run.reads)
    return cost, run.steps


class _Costing:
    """One costing of one operation with its variables; each fragment's contribution is computed once."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], variables: dict[str, Any]) -> None:
        self.fragments = fragments
        self.variables = variables
        self.memo: dict[str, dict[str | None, int]] = {}
        self.in_progress: set[str] = set()
        self.steps = 0
        self.reads: set[str] = set()  # the variables a count was read from

    def selection(self, node: SelectionSetNode | None) -> int:
        if node is None:
            return 0
        by_condition = self.contributions(node, None)
        # A contract is one type at a time: only the dearest contract type's branch counts. Everything else
        # (no condition, the interface, a fragment on the parent's own type) always applies and adds up.
        exclusive = [v for k, v in by_condition.items() if k in CONTRACT_TYPES]
        common = sum(v for k, v in by_condition.items() if k not in CONTRACT_TYPES)
        return _add(min(common, _SATURATED), max(exclusive, default=0))

    def contributions(self, node: SelectionSetNode, condition: str | None) -> dict[str | None, int]:
        """The cost of each field under `node`, summed per type condition it applies to."""
        out: dict[str | None, int] = {}
        for child in node.selections:
            self.steps += 1
            if isinstance(child, FieldNode):
                out[condition] = _add(out.get(condition, 0), self.field(child))
            elif isinstance(child, InlineFragmentNode):
                inner = child.type_condition.name.value if child.type_condition else condition
                _merge(out, self.contributions(child.selection_set, inner))
            elif isinstance(child, FragmentSpreadNode):
                _merge(out, self.fragment(child.name.value))
        return out

    def fragment(self, name: str) -> dict[str | None, int]:
        known = self.memo.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.in_progress:
            return {}  # validation has already rejected unknown and cyclic fragments
        self.in_progress.add(name)
        self.memo[name] = result = self.contributions(definition.selection_set, definition.type_condition.name.value)
        self.in_progress.discard(name)
        return result

    def field(self, node: FieldNode) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 1  # introspection reaches no partner; graphql-core's MaxIntrospectionDepthRule bounds it
        children = self.selection(node.selection_set)
        if name in PAGINATED:
            argument, default, largest = PAGINATED[name]
            counted = next((a.value for a in node.arguments or () if a.name.value == argument), None)
            if isinstance(counted, VariableNode):
                self.reads.add(counted.name.value)
            given = None if counted is None else value_from_ast_untyped(counted, self.variables)
            count = default if not isinstance(given, int) else max(0, min(given, largest))
        else:
            count = LIST_SIZES.get(name, 1)
        return _add(1, min(count * children, _SATURATED))


def _merge(into: dict[str | None, int], more: dict[str | None, int]) -> None:
    for key, value in more.items():
        into[key] = _add(into.get(key, 0), value)
