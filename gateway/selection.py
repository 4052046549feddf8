"""Which partner fields a query selects on each contract type, read from the query itself (aliases,
named and inline fragments, @skip/@include), so that a partner is asked only for what is needed and not
called at all when nothing of it is selected."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from resolvers import CONTRACT_TYPES


def _included(directives: dict[str, dict[str, object]]) -> bool:
    if directives.get("skip", {}).get("if") is True:
        return False
    return directives.get("include", {}).get("if", True) is not False


def _collect(selections: Iterable[Selection], type_name: str, interfaces: tuple[str, ...], out: set[str]) -> None:
    for node in selections:
        if not _included(node.directives):
            continue
        if isinstance(node, SelectedField):
            out.add(node.name)
        elif isinstance(node, FragmentSpread | InlineFragment):
            condition = node.type_condition
            if condition is None or condition == type_name or condition in interfaces:
                _collect(node.selections, type_name, interfaces, out)


def wanted_by_type(info: Info[Any, Any]) -> dict[str, frozenset[str]]:
    """Contract type name -> partner-supplied joint fields the current field's selection asks for."""
    result: dict[str, frozenset[str]] = {}
    for type_name, kinds in CONTRACT_TYPES.items():
        names: set[str] = set()
        for selected in info.selected_fields:
            _collect(selected.selections, type_name, ("Contract",), names)
        result[type_name] = frozenset(names & kinds.keys())
    return result


def _keys(selections: Iterable[Selection], name: str, type_name: str, out: list[str]) -> None:
    for node in selections:
        if not _included(node.directives):
            continue
        if isinstance(node, SelectedField):
            key = node.alias or node.name
            if node.name == name and key not in out:
                out.append(key)
        elif node.type_condition in (None, type_name):  # a fragment (named or inline) on this type
            _keys(node.selections, name, type_name, out)


def response_keys(info: Info, name: str, type_name: str) -> list[str]:
    """The response keys (alias, else the name) under which the current field's selection asks for `name`
    on `type_name`, in order; empty when it is not selected at all."""
    keys: list[str] = []
    for selected in info.selected_fields:
        _keys(selected.selections, name, type_name, keys)
    return keys
