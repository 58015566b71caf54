"""The project's modules import each other without cycles, and without private names.

An import cycle works only by the luck of which module is imported first (the second one
sees the first half-built), and it hides what depends on what. This test reads every
``.py`` of the project's own packages with :mod:`ast` (nothing is imported, so it is fast
and needs neither cv2 nor a broker), builds the graph of which project module imports
which, and fails naming the cycle when there is one.

What counts as an import:

- every ``import`` and ``from … import`` statement at module level, including those inside
  ``try``/``if`` blocks, relative ones resolved against the importing module;
- imports inside functions and methods count too, and so do those under
  ``if TYPE_CHECKING:``: a lazy or type-only import that dodges the cycle at import time is
  still a cycle in the design (the two modules can no longer be understood, tested or
  moved one without the other). The way out is to move the shared thing where it belongs,
  or to declare what one side needs of the other as a ``Protocol`` on that side.

``from pkg import name`` is an edge to ``pkg.name`` when that is a module of the project,
otherwise to ``pkg`` (its ``__init__``). Importing ``a.b.c`` runs ``a/__init__`` and
``a/b/__init__`` first, but those implicit edges are left out: a package that imports its
own submodules is fine as long as the submodules do not import the package back.

The same walk checks that no module imports another module's private name
(``from x import _y``, or ``x._y`` read through an imported module).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hall_common", "hall_cli", "kiosk", "edge_agent", "hall_display", "central_sync", "simulators")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def project_modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    """Every module of the given packages, by dotted name."""
    found: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module, at any depth."""
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _base(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` import names."""
    if not node.level:
        return node.module or ""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    package = package[:len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


@dataclass(frozen=True)
class Imported:
    """One name a module imports from another project module."""

    target: str      # the project module the statement loads
    name: str | None  # the name taken from it (``from target import name``), or None
    line: int


def imports_of(module: Module, modules: dict[str, Module]) -> list[Imported]:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    found: list[Imported] = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.append(Imported(alias.name, None, node.lineno))
            continue
        base = _base(module, node)
        if base not in modules:
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in modules:
                found.append(Imported(sub, None, node.lineno))
            else:
                found.append(Imported(base, alias.name, node.lineno))
    return found


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    """Which project modules each project module imports (itself left out)."""
    return {name: {i.target for i in imports_of(m, modules)} - {name} for name, m in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path that starts and ends with the same node, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        path = [start]
        colour[start] = GREY
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                colour[path.pop()] = BLACK
            elif colour.get(nxt, BLACK) == GREY:
                return path[path.index(nxt):] + [nxt]
            elif colour.get(nxt) == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def private_imports(modules: dict[str, Module], root: Path = ROOT) -> list[str]:
    """Where a module takes a private name of another: ``from x import _y`` or ``x._y``."""
    found: list[str] = []
    for module in modules.values():
        where = module.path.relative_to(root).as_posix()
        imported = imports_of(module, modules)
        for i in imported:
            if i.name is not None and i.name.startswith("_") and not i.name.startswith("__") and i.target != module.name:
                found.append(f"{where}:{i.line}: from {i.target} import {i.name}")
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        aliases = _module_aliases(tree, module, modules)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and aliases[node.value.id] != module.name):
                found.append(f"{where}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def _module_aliases(tree: ast.AST, module: Module, modules: dict[str, Module]) -> dict[str, str]:
    """Local names bound to project modules (``import x.y as z``, ``from . import y``)."""
    aliases: dict[str, str] = {}
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.asname:
                    aliases[alias.asname] = alias.name
            continue
        base = _base(module, node)
        for alias in node.names:
            if f"{base}.{alias.name}" in modules:
                aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    return aliases


# -- the tests ------------------------------------------------------------------------------

def test_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert find_cycle({"x": {"x"}}) == ["x", "x"]


def test_finds_a_planted_cycle_in_files(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import worker\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "worker.py").write_text("def f():\n    from ..sub.service import thing\n")
    (pkg / "sub" / "service.py").write_text("from typing import TYPE_CHECKING\nimport json\n"
                                            "if TYPE_CHECKING:\n    from pkg.sub import worker\n")
    (pkg / "other.py").write_text("from pkg.sub.service import _hidden\nimport pkg.sub.worker as w\n"
                                  "w._secret()\nfrom . import __version__\n")
    modules = project_modules(tmp_path, ("pkg",))
    graph = import_graph(modules)
    assert graph["pkg"] == {"pkg.sub.worker"}
    assert graph["pkg.sub.worker"] == {"pkg.sub.service"}
    assert graph["pkg.sub.service"] == {"pkg.sub.worker"}
    assert graph["pkg.other"] == {"pkg", "pkg.sub.service", "pkg.sub.worker"}
    assert find_cycle(graph) == ["pkg.sub.worker", "pkg.sub.service", "pkg.sub.worker"]
    assert private_imports(modules, tmp_path) == ["pkg/other.py:1: from pkg.sub.service import _hidden",
                                                  "pkg/other.py:3: pkg.sub.worker._secret"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph(project_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_private_names_across_modules():
    assert private_imports(project_modules()) == []
