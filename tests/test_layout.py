"""The package's layout: no import cycles, each package imports only what its role allows, and
no module grows past :data:`MAX_LINES`.

The graph is read from the source (every ``import``, also inside functions, under
``TYPE_CHECKING`` and through ``importlib.import_module("…")``: a late import hides a cycle, it
does not remove it). ``python -m tests.test_layout`` prints what it finds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "fhir_ivc"
#: a module a newcomer can still read in one sitting (generated ``_sync.py`` twins included)
MAX_LINES = 600
#: package -> packages of fhir_ivc it must never import (its role is narrower)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "fhir_ivc.client": ("fhir_ivc.mappers", "fhir_ivc.bundle", "fhir_ivc.exchange", "fhir_ivc.cli"),
    "fhir_ivc.model": ("fhir_ivc.mappers", "fhir_ivc.bundle", "fhir_ivc.client", "fhir_ivc.cli"),
    "fhir_ivc.terminology": ("fhir_ivc.mappers", "fhir_ivc.bundle", "fhir_ivc.client"),
    "fhir_ivc.mappers": (
        "fhir_ivc.bundle",
        "fhir_ivc.client",
        "fhir_ivc.exchange",
        "fhir_ivc.cli",
        "fhir_ivc.authoring",
    ),
    "fhir_ivc.exchange": ("fhir_ivc.cli",),
    "fhir_ivc.spark": ("fhir_ivc.cli",),
}
#: optional packages (their extra may be missing): only they themselves import them
OPTIONAL = ("fhir_ivc.spark",)


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


def long_modules() -> list[str]:
    found = []
    for name, path in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{name}: {lines} lines")
    return found


def test_the_graph_is_read() -> None:
    assert "fhir_ivc.bundle.assemble" in graph()["fhir_ivc.bundle"]


def test_no_import_cycles() -> None:
    assert cycles() == []


def test_packages_import_only_what_their_role_allows() -> None:
    assert violations() == []


def test_cli_commands_never_import_the_app() -> None:
    """``cli/_app.py`` assembles the commands; a command importing it would be a cycle."""
    importers = {n for n, targets in graph().items() if "fhir_ivc.cli._app" in targets}
    assert importers <= {"fhir_ivc.cli"}


def test_no_module_imports_an_optional_package_but_itself() -> None:
    """``import fhir_ivc`` (and the CLI) must work without pyspark installed."""
    found = [
        f"{name} imports {t}"
        for name, targets in graph().items()
        for t in sorted(targets)
        for opt in OPTIONAL
        if (t == opt or t.startswith(opt + ".")) and not (name == opt or name.startswith(opt + "."))
    ]
    assert found == []


def test_no_module_is_too_long() -> None:
    assert long_modules() == []


if __name__ == "__main__":
    for component in cycles():
        print("cycle:", " <-> ".join(component))
    for line in violations():
        print("layer:", line)
    for line in long_modules():
        print("long:", line)
