"""The package's import graph: no cycles, and each package imports only what its role allows.

The graph is read from the source (every ``import``, also inside functions and under
``TYPE_CHECKING``: a late import hides a cycle, it does not remove it). ``python -m
tests.test_import_graph`` prints the cycles and the layer violations it finds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "fhir_ivc"

#: package -> packages of fhir_ivc it must never import (its role is narrower)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "fhir_ivc.client": ("fhir_ivc.mappers", "fhir_ivc.bundle", "fhir_ivc.exchange", "fhir_ivc.cli"),
    "fhir_ivc.model": ("fhir_ivc.mappers", "fhir_ivc.bundle", "fhir_ivc.client", "fhir_ivc.cli"),
    "fhir_ivc.terminology": ("fhir_ivc.mappers", "fhir_ivc.bundle", "fhir_ivc.client"),
    "fhir_ivc.mappers": ("fhir_ivc.bundle", "fhir_ivc.client", "fhir_ivc.exchange", "fhir_ivc.cli"),
    "fhir_ivc.exchange": ("fhir_ivc.cli",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _imports(name: str, path: Path) -> Iterator[str]:
    known = modules()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (  # importlib.import_module("fhir_ivc.x"): an import all the same
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in known
        ):
            yield str(node.args[0].value)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield sub
                elif target in known:
                    yield target


@cache
def graph() -> dict[str, frozenset[str]]:
    return {
        name: frozenset(t for t in _imports(name, path) if t != name)
        for name, path in modules().items()
    }


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def violations() -> list[str]:
    found = []
    for name, targets in graph().items():
        for package, banned in FORBIDDEN.items():
            if name == package or name.startswith(package + "."):
                found += [
                    f"{name} imports {t}"
                    for t in sorted(targets)
                    for b in banned
                    if t == b or t.startswith(b + ".")
                ]
    return found


def test_the_graph_is_read() -> None:
    assert "fhir_ivc.bundle.assemble" in graph()["fhir_ivc.bundle"]


def test_no_import_cycles() -> None:
    assert cycles() == []


def test_packages_import_only_what_their_role_allows() -> None:
    assert violations() == []


if __name__ == "__main__":
    for component in cycles():
        print("cycle:", " <-> ".join(component))
    for line in violations():
        print("layer:", line)
