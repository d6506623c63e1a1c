"""The input of ``fhir-ivc push``: records mapped to transaction bundles, or prebuilt bundles.

Both produce a stream of units of work, one case at a time: an :class:`Item` to push
(:class:`fhir_ivc.exchange.pipeline.Item`, as :func:`fhir_ivc.spark.push_cases` pushes), a
:class:`Reject` (bad record, mapping error, invalid bundle, repeated case id) or a :class:`Skip`
(a prebuilt collection bundle, which ``map`` writes next to each transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir_ivc.cli._services import BuildBundles, BundleCheck, bundle_problem
from fhir_ivc.exceptions import MappingError
from fhir_ivc.exchange.pipeline import Item
from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.io import (
    DEFAULT_LIMITS,
    STDIN,
    InputFormat,
    InputLimits,
    Unreadable,
    iter_inputs,
    iter_json_values,
)
from fhir_ivc.model import Case

__all__ = [
    "Item",
    "Reject",
    "Skip",
    "Work",
    "Works",
    "case_element_sources",
    "mapped_works",
    "prebuilt_works",
]


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that is not sent: ``problems`` are ``(case path, reason)``."""

    index: int
    case_id: str | None
    source: str
    problems: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Skip:
    """A prebuilt collection Bundle (``map`` writes one next to each transaction): not sent."""

    source: str


Work = Item | Reject | Skip


class Works:
    """Numbers records, refuses repeated case ids and checks bundles, for both input kinds."""

    def __init__(self, check: BundleCheck | None) -> None:
        self.check = check
        self._index = 0
        self._seen: set[str] = set()

    def _next(self) -> int:
        self._index += 1
        return self._index - 1

    def reject(
        self, case_id: str | None, source: str, problems: Iterable[tuple[str, str]]
    ) -> Reject:
        return Reject(self._next(), case_id, source, tuple(problems))

    def item(
        self,
        case_id: str,
        source: str,
        bundle: Mapping[str, Any],
        sources: Mapping[str, str],
        *,
        case: Case | None = None,
        attempts: int = 0,
    ) -> Item | Reject:
        if case_id in self._seen:
            reason = "duplicate case_id: an earlier record has the same id"
            return self.reject(case_id, source, [("case_id", reason)])
        self._seen.add(case_id)
        if self.check is not None:
            problem = bundle_problem(bundle, sources, self.check, "transaction")
            if problem is not None:
                return self.reject(case_id, source, [problem])
        return Item(self._next(), case_id, source, bundle, sources, case, attempts)


def mapped_works(
    inputs: Sequence[Path], works: Works, build: BuildBundles, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[Work]:
    """Case records → transaction bundles (``Services.build_bundles``), one at a time."""
    for result in iter_inputs(inputs, limits=limits):
        source = str(result.source)
        if result.case is None:
            yield works.reject(
                result.case_id, source, [(err.path, err.reason) for err in result.errors]
            )
            continue
        case = result.case
        try:
            bundles = build(case)
        except MappingError as exc:
            yield works.reject(exc.case_id or case.case_id, source, [(exc.path, str(exc))])
            continue
        yield works.item(case.case_id, source, bundles.transaction, bundles.sources, case=case)


# --- prebuilt bundles -------------------------------------------------------------------------


def case_element_sources(bundle: Mapping[str, Any]) -> dict[str, str]:
    """fullUrl → case element, from the ``case-element`` extension every mapped resource has."""
    sources: dict[str, str] = {}
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        resource, full_url = entry.get("resource"), entry.get("fullUrl")
        if not isinstance(resource, Mapping) or not isinstance(full_url, str):
            continue
        for ext in resource.get("extension") or []:
            if not isinstance(ext, Mapping) or ext.get("url") != CASE_ELEMENT_URL:
                continue
            for part in ext.get("extension") or []:
                if isinstance(part, Mapping) and part.get("url") == "path":
                    path = part.get("valueString")
                    if isinstance(path, str):
                        sources[full_url] = path
    return sources


def _bundle_case_id(bundle: Mapping[str, Any], source: str) -> str:
    """The case id of a prebuilt bundle: its Patient's identifier value (the case id)."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and resource.get("resourceType") == "Patient":
            for identifier in resource.get("identifier") or []:
                value = identifier.get("value") if isinstance(identifier, Mapping) else None
                if isinstance(value, str) and value:
                    return value
    return source


def prebuilt_works(
    inputs: Sequence[Path], works: Works, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[Work]:
    """Transaction bundles from files (``fhir-ivc map --ndjson`` / ``--out`` output).

    ``.ndjson``/``.jsonl`` and ``-`` hold one Bundle per line, ``.json`` one Bundle or an array
    of Bundles (streamed); other names are sniffed. Read by :func:`fhir_ivc.io.iter_json_values`
    within ``limits``: a record it cannot read or refuses is a reject, the others go on.
    """
    for path in inputs:
        piped = InputFormat.NDJSON if str(path) == STDIN else None  # as for case records
        for where, value in iter_json_values(path, input_format=piped, limits=limits):
            # an array's elements are often on one line: named by their index
            source = str(where) if where.index is None else f"{where.file}[{where.index}]"
            if isinstance(value, Unreadable):
                yield works.reject(None, source, [(value.path, value.reason)])
                continue
            kind = value.get("type") if isinstance(value, dict) else None
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                if kind == "collection":
                    yield Skip(source)
                    continue
                if kind == "transaction":
                    case_id = _bundle_case_id(value, source)
                    yield works.item(case_id, source, value, case_element_sources(value))
                    continue
            what = f"a {kind} Bundle" if kind else "not a Bundle"
            yield works.reject(None, source, [("", f"expected a transaction Bundle, got {what}")])
