"""Time points in FHIR: real (partial) dates, or offsets from the index surgery.

A relative time never becomes an invented date. It is written as the primitive's extensions:
``data-absent-reason = unknown`` (there is no date) plus the R4 core extension
``cqf-relativeDateTime`` (target = the index surgery Procedure, relationship after-end /
before-start, offset = a UCUM Duration); docs/mapping.md, "Times".

The target is a *logical* reference (``Reference.identifier`` = the surgery's identifier), not a
``urn:uuid`` one: servers do not rewrite references inside extensions on primitive elements when
they process a transaction (HAPI FHIR 8.8.0 leaves them as ``urn:uuid:...``, which then dangle),
while an identifier stays true on any server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_ivc.fhir.elements import DAR_URL, data_absent, ext, find_ext, quantity
from fhir_ivc.model.time import RelativeTime, TimePoint, TimeUnit

__all__ = ["RELATIVE_URL", "read_time", "time_fields"]

RELATIVE_URL = "http://hl7.org/fhir/StructureDefinition/cqf-relativeDateTime"
_RELATION = {"after": "after-end", "before": "before-start"}
_RELATION_BACK = {
    "after-end": "after",
    "after": "after",
    "before-start": "before",
    "before": "before",
}
_UNITS: tuple[TimeUnit, ...] = ("d", "wk", "mo", "a")


def relative_extension(rel: RelativeTime, surgery_ref: dict[str, Any]) -> dict[str, Any]:
    return ext(
        RELATIVE_URL,
        extension=[
            ext("target", valueReference=surgery_ref),
            ext("targetPath", valueString="performed"),
            ext("relationship", valueCode=_RELATION[rel.relation]),
            ext("offset", valueDuration=quantity(rel.offset, rel.unit)),
        ],
    )


def time_fields(
    name: str, tp: TimePoint | None, surgery_ref: dict[str, Any] | None
) -> dict[str, Any]:
    """The JSON members for primitive dateTime element ``name`` (e.g. ``onsetDateTime``)."""
    if tp is None:
        return {}
    if tp.date is not None:
        return {name: tp.date}
    if tp.relative is None or surgery_ref is None:  # pragma: no cover - the model forbids it
        raise ValueError("relative time without an index surgery")
    return {
        f"_{name}": {"extension": [data_absent(), relative_extension(tp.relative, surgery_ref)]}
    }


def read_time(resource: Mapping[str, Any], name: str) -> TimePoint | None:
    """Inverse of :func:`time_fields`; None when neither a date nor a relative time is there."""
    value = resource.get(name)
    if isinstance(value, str):
        return TimePoint(date=value)
    rel = find_ext(resource.get(f"_{name}"), RELATIVE_URL)
    if rel is None:
        return None
    parts = {e["url"]: e for e in rel.get("extension", [])}
    offset = parts.get("offset", {}).get("valueDuration", {})
    unit = offset.get("code")
    relation = _RELATION_BACK.get(parts.get("relationship", {}).get("valueCode", ""))
    if unit not in _UNITS or relation is None or "value" not in offset:
        return None
    return TimePoint(
        relative=RelativeTime(offset=float(offset["value"]), unit=unit, relation=relation)
    )


def is_absent(resource: Mapping[str, Any], name: str) -> bool:
    return find_ext(resource.get(f"_{name}"), DAR_URL) is not None
