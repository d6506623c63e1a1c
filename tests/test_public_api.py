"""The top-level namespace: ``fhir_ivc.__all__`` is sorted, complete and importable.

Every exception class of ``fhir_ivc.exceptions`` is part of the public API (callers catch them
from ``fhir_ivc`` directly); a new exception that is not re-exported, or a name exported twice
or out of order, fails here.
"""

from __future__ import annotations

import inspect

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
