"""A YAML document together with its node tree, so every value can be traced back to its line.

`yaml.safe_load` forgets where things were written; composing first and constructing from the composed
node keeps the marks, which is what lets every agreement error name its file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class SourceError(Exception):
    """The file is not a single readable YAML document."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    node: yaml.Node
    data: Any


def read_document(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(1, f"cannot read the file: {exc}") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError(1, "the file is empty; an agreement needs owner, version and rules")
        duplicate = _first_duplicate_key(node)
        if duplicate is not None:
            raise SourceError(*duplicate)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SourceError(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise SourceError(1, f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return Document(path=path, node=node, data=data)


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def node_at(root: yaml.Node, path: Sequence[str | int]) -> yaml.Node:
    """The node at a path of mapping keys and sequence indexes; the deepest existing one if the path
    leaves the document (e.g. a required key that is missing)."""
    node = root
    for step in path:
        child = child_node(node, step)
        if child is None:
            break
        node = child
    return node


def child_node(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key, value in pairs:
            if _key_matches(key, step):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        items: list[yaml.Node] = node.value
        return items[step]
    return None


def key_node(node: yaml.Node, key: Any) -> yaml.Node | None:
    """The key node (not the value) of a mapping entry: the line a field name is written on."""
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_, _ in pairs:
            if _key_matches(key_, key):
                return key_
    return None


def _key_matches(key: yaml.Node, wanted: Any) -> bool:
    return isinstance(key, yaml.ScalarNode) and key.value == str(wanted)


def _first_duplicate_key(node: yaml.Node) -> tuple[int, str] | None:
    # PyYAML silently keeps the last of two equal keys; in an agreement that would let a second entry for
    # the same field quietly override the first, so it is an error.
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    return line_of(key), f"{key.value!r} appears twice in one mapping (first on line {seen[key.value]})"
                seen[key.value] = line_of(key)
            found = _first_duplicate_key(value)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _first_duplicate_key(item)
            if found is not None:
                return found
    return None
