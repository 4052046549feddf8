"""The house rules of ARCHITECTURE.md, read from the code: arrows point down only (the edge of gateway/ ->
gateway/planner/ -> privacy/, resolvers/), privacy and resolvers never import each other or anything above
them, production code never imports fixtures/ (nor bench/ or tests/), and no module imports itself round a
circle.

Every module of every package and sub-package is read through its AST, and every import counts wherever it
stands: at the top, inside a function (a lazy import is still a dependency), or under `if TYPE_CHECKING:`
(a type-only import still ties the two modules' meaning together, and counting it keeps the rule simple:
no import is exempt)."""

from __future__ import annotations

import ast
import graphlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("gateway", "resolvers", "privacy")
NOT_PRODUCTION = ("fixtures", "bench", "tests")
# The edge of gateway/: the modules that take requests in and wire the app. gateway/planner/ sits below them
# and serves them, so it never imports one of them back.
EDGE = ("gateway.app", "gateway.gate", "gateway.view", "gateway.middleware", "gateway.health", "gateway.reload",
        "gateway.pages", "gateway.cli", "gateway.serve")


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, e.g. privacy.audit.store
    target: str  # the module it imports, resolved to a module of the tree where it names one
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages: tuple[str, ...] = PRODUCTION) -> dict[str, Path]:
    """Every module of the packages, sub-packages (privacy/audit/, gateway/planner/, ...) included."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(root, path)] = path
    return found


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(root: Path, module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from . import x`, `from ..audit import y`
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                # `from privacy.audit import store` imports the module privacy.audit.store;
                # `from privacy.policy import PolicySet` imports privacy.policy.
                candidate = f"{base}.{alias.name}"
                yield Import(module, candidate if _is_module(root, candidate) else base, node.lineno)


def _top(name: str) -> str:
    return name.split(".")[0]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def forbidden(imp: Import) -> str | None:
    """Why this import breaks a house rule, or None."""
    here, there = _top(imp.module), _top(imp.target)
    if there in NOT_PRODUCTION:
        return f"production code never imports {there}/"
    if here in ("privacy", "resolvers") and there in PRODUCTION and there != here:
        return f"{here}/ never imports {there}/ (it sits below the gateway, beside the other)"
    if _within(imp.module, "gateway.planner") and any(_within(imp.target, edge) for edge in EDGE):
        return "gateway/planner/ never imports the edge of gateway/ that uses it"
    return None


# The packages below the gateway show it one face each (`__init__.py` with `__all__`); the gateway imports
# that, never a module behind it. privacy/audit/ is the audit log's own sub-package and is reached as such.
FACES = ("privacy", "resolvers")
OWN_FACES = ("privacy.audit",)


def behind_a_face(root: Path, module: str, path: Path) -> list[str]:
    """Imports by a gateway module of a module behind privacy's or resolvers' face."""
    if _top(module) != "gateway":
        return []
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        named = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        for name in named:
            if _top(name) in FACES and name not in FACES and not any(_within(name, f) for f in OWN_FACES):
                found.append(f"{path.relative_to(root)}:{node.lineno}: imports {name}; import {_top(name)} instead")
        if isinstance(node, ast.ImportFrom) and node.module in FACES and not node.level:
            # `from privacy import policy` reaches behind the face too, unless the face names the module.
            for alias in node.names:
                if _is_module(root, f"{node.module}.{alias.name}") and alias.name not in face_names(root, node.module):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: imports {node.module}.{alias.name}, "
                                 f"which {node.module}/__init__.py does not name in __all__")
    return found


def face_names(root: Path, package: str) -> set[str]:
    tree = ast.parse((root / package / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def violations(root: Path) -> list[str]:
    found = set()
    for module, path in modules(root).items():
        for imp in imports(root, module, path):
            why = forbidden(imp)
            if why:
                found.add(f"{path.relative_to(root)}:{imp.line}: imports {imp.target}: {why}")
        found.update(behind_a_face(root, module, path))
    return sorted(found)


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the tree it imports."""
    known = modules(root)
    edges: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for imp in imports(root, module, path):
            if imp.target in known and imp.target != module:
                edges[module].add(imp.target)
    return edges


def circle(root: Path) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph(root)).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_every_import_points_down() -> None:
    assert violations(ROOT) == []


def test_no_import_circles() -> None:
    assert circle(ROOT) is None


def test_each_face_hands_on_exactly_what_it_names() -> None:
    for package in FACES:
        face = importlib.import_module(package)
        assert face.__all__ == sorted(face.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n)), package
        assert [name for name in face.__all__ if not hasattr(face, name)] == [], package


def test_the_check_reads_every_package_and_sub_package() -> None:
    found = modules(ROOT)
    for package in ("privacy", "privacy.audit", "resolvers", "resolvers.connectors", "resolvers.migrations",
                    "gateway"):
        assert package in found, package
    assert sum(1 for m in found if _within(m, "privacy.audit")) >= 4
    if (ROOT / "gateway" / "planner").is_dir():
        assert "gateway.planner" in found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# A small tree shaped like ours: the checks must find what is planted in it, however deep and however written.
_TREE = {
    "gateway/__init__.py": "", "gateway/app.py": "", "gateway/planner/__init__.py": "",
    "gateway/planner/compile.py": "from privacy import Guard\n",
    "privacy/__init__.py": "", "privacy/policy.py": "", "privacy/audit/__init__.py": "",
    "privacy/audit/deep/__init__.py": "",
    "resolvers/__init__.py": "", "resolvers/master.py": "", "fixtures/__init__.py": "", "fixtures/seed.py": "",
}


def test_a_forbidden_import_is_caught_in_any_sub_package_however_written(tmp_path: Path) -> None:
    _write(tmp_path, {**_TREE,
                      "privacy/audit/store.py": "def f():\n    from gateway.app import x\n",
                      "privacy/audit/deep/more.py": "from typing import TYPE_CHECKING\n"
                                                    "if TYPE_CHECKING:\n    from ...policy import y\n"
                                                    "    import resolvers.master\n",
                      "resolvers/master.py": "from ..privacy import policy\n",
                      "gateway/planner/compile.py": "from gateway import app\n",
                      "gateway/app.py": "from fixtures import seed\n",
                      "gateway/lookup.py": "from privacy import Guard\nfrom privacy.audit import store\n"
                                           "def f():\n    import resolvers.master\n",
                      "gateway/view.py": "from resolvers import master\n"})
    found = violations(tmp_path)
    assert [v.split(": imports ")[0] for v in found] == [
        "gateway/app.py:1", "gateway/lookup.py:4", "gateway/planner/compile.py:1", "gateway/view.py:1",
        "privacy/audit/deep/more.py:4", "privacy/audit/store.py:2", "resolvers/master.py:1"]
    assert "privacy/audit/deep/more.py:3" not in " ".join(found)  # privacy.policy is privacy's own


def test_a_circle_is_caught_through_lazy_and_type_only_imports(tmp_path: Path) -> None:
    _write(tmp_path, _TREE)
    assert circle(tmp_path) is None
    _write(tmp_path, {"privacy/policy.py": "def records():\n    from privacy.records import build\n",
                      "privacy/records.py": "from typing import TYPE_CHECKING\n"
                                            "if TYPE_CHECKING:\n    from privacy.policy import PolicySet\n"})
    assert set(circle(tmp_path) or ()) == {"privacy.policy", "privacy.records"}
