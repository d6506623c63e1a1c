"""Case tables as input of ``fhir-ivc validate``: each case read from the tables is mapped and
its bundles are validated; a case the tables cannot give is one error per problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._services import BuildBundles
from fhir_ivc.exceptions import MappingError
from fhir_ivc.io.limits import DEFAULT_LIMITS, InputLimits
from fhir_ivc.io.tables import iter_table_cases

__all__ = ["table_documents"]


def table_documents(
    path: Path, build: BuildBundles = build_bundles, *, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[tuple[str, Any, str | None]]:
    """``(where, bundle or None, problem or None)`` for the cases of a table input: the
    transaction and the collection bundle of each case, or each problem of a rejected one."""
    for result in iter_table_cases(path, limits=limits):
        if result.case is None:
            for error in result.errors:
                yield str(result.source), None, f"case table: {error}"
            continue
        where = f"{result.source} (case {result.case.case_id})"
        try:
            bundles = build(result.case)
        except MappingError as exc:
            yield where, None, f"cannot be mapped: {exc}"
            continue
        yield f"{where} transaction", bundles.transaction, None
        yield f"{where} collection", bundles.collection, None
