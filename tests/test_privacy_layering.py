"""privacy/ sits below the gateway and the resolvers (SPEC §2: imports flow gateway -> resolvers/privacy);
everything it knows about fields is handed in, so it must never import them back."""

from __future__ import annotations

import ast
from pathlib import Path

PRIVACY = Path(__file__).resolve().parent.parent / "privacy"


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_privacy_never_imports_the_gateway_or_the_resolvers() -> None:
    offenders = {path.name: sorted(imported_packages(path) & {"gateway", "resolvers", "fixtures"})
                 for path in sorted(PRIVACY.glob("*.py"))}
    assert {name: found for name, found in offenders.items() if found} == {}
    assert len(offenders) >= 8  # the check really looked at the package
