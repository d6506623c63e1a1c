"""The top-level namespace: ``fhir_ivc.__all__`` is sorted, complete and importable.

Every exception class of ``fhir_ivc.exceptions`` is part of the public API (callers catch them
from ``fhir_ivc`` directly); a new exception that is not re-exported, or a name exported twice
or out of order, fails here.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import fhir_ivc
from fhir_ivc import exceptions


def _exception_classes() -> set[str]:
    return {
        name
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == exceptions.__name__
    }


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: SCREAMING_CASE, CamelCase, the rest."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted_without_duplicates() -> None:
    names = list(fhir_ivc.__all__)
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))


def test_all_exports_every_exception() -> None:
    assert _exception_classes() <= set(fhir_ivc.__all__)


def test_exceptions_module_all_is_complete_and_sorted() -> None:
    assert set(exceptions.__all__) == _exception_classes()
    assert list(exceptions.__all__) == sorted(exceptions.__all__, key=isort_key)


def test_every_exported_name_exists_and_is_the_same_object() -> None:
    for name in fhir_ivc.__all__:
        assert hasattr(fhir_ivc, name), name
        if name in exceptions.__all__:
            assert getattr(fhir_ivc, name) is getattr(exceptions, name)


def test_nothing_public_is_left_out() -> None:
    """Public module-level names of the package are either exported or submodules."""
    public = {
        name
        for name, obj in vars(fhir_ivc).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    }
    assert public <= set(fhir_ivc.__all__)


def test_exception_tree_has_one_root() -> None:
    for name in _exception_classes() - {"FhirIvcError"}:
        assert issubclass(getattr(exceptions, name), exceptions.FhirIvcError), name


def test_sort_key_matches_ruff() -> None:
    assert sorted(["__version__", "Case", "SCHEMA_VERSION", "item_keys"], key=isort_key) == [
        "SCHEMA_VERSION",
        "Case",
        "__version__",
        "item_keys",
    ]


def test_version_is_exported() -> None:
    assert isinstance(fhir_ivc.__version__, str)
    assert "__version__" in fhir_ivc.__all__


#: The main entry points, pinned: removing or renaming one breaks every caller.
ENTRY_POINTS = {
    "AsyncFhirClient",
    "Case",
    "CaseBundles",
    "CasePushResult",
    "CaseReadResult",
    "FhirClient",
    "PatientPull",
    "PatientQuery",
    "build_bundles",
    "case_from_bundle",
    "pull_many",
    "push_many",
    "read_case",
    "validate_bundle",
    "validate_resource",
}


def test_the_main_entry_points_are_exported() -> None:
    assert set(fhir_ivc.__all__) >= ENTRY_POINTS
    assert fhir_ivc.build_bundles is fhir_ivc.bundle.build_bundles
    assert fhir_ivc.push_many is fhir_ivc.exchange.push_many
    assert fhir_ivc.FhirClient is fhir_ivc.client.FhirClient


def test_all_is_exactly_the_entry_points_and_the_exceptions() -> None:
    assert set(fhir_ivc.__all__) == ENTRY_POINTS | _exception_classes() | {
        "BasicAuth",
        "BearerTokenAuth",
        "RetryPolicy",
        "__version__",
    }


def test_importing_the_package_does_not_import_the_command_line() -> None:
    """typer and rich are dependencies of the ``fhir-ivc`` command, not of the library."""
    code = (
        "import sys, fhir_ivc; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_command_needs_no_extra() -> None:
    """``pip install fhir-ivc`` alone gives a working ``fhir-ivc``: typer and rich are core."""
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    core = {re.split(r"[<>=!\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert {"typer", "rich"} <= core
    assert project["scripts"]["fhir-ivc"] == "fhir_ivc.cli:main"
