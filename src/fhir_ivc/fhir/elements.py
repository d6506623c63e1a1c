"""Small builders for FHIR datatypes as plain JSON dicts (R4 elements only).

Resources are assembled as dicts (fast, and exactly the JSON that goes on the wire); every one
is validated by ``fhir_ivc.validation`` (structure against the R4 core tables, then profiles).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import UCUM, project_url

__all__ = [
    "CASE_ELEMENT_URL",
    "DAR_URL",
    "concept",
    "data_absent",
    "ext",
    "find_ext",
    "find_exts",
    "quantity",
    "ref_id",
]

DAR_URL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
#: Project extension on every emitted resource: where in the case record it came from, and which
#: of the facts it carries were inferred rather than stated.
CASE_ELEMENT_URL = project_url("StructureDefinition", "case-element")

_UNIT_DISPLAY = {"cm": "cm", "mm": "mm", "min": "min", "mL": "mL", "d": "d", "mo": "mo", "a": "a"}


def concept(*codes: Code, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept from codes (and optional text)."""
    out: dict[str, Any] = {}
    if codes:
        out["coding"] = [c.coding() for c in codes]
    if text:
        out["text"] = text
    return out


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A UCUM Quantity; integral floats are written as integers (150 not 150.0)."""
    number: float | int = int(value) if float(value).is_integer() else value
    return {"value": number, "unit": _UNIT_DISPLAY.get(unit, unit), "system": UCUM, "code": unit}


def quantity_value(q: Mapping[str, Any] | None) -> float | None:
    if not q or "value" not in q:
        return None
    return float(q["value"])


def ext(url: str, **value: Any) -> dict[str, Any]:
    """An extension: ``ext(URL, valueCode="x")``."""
    return {"url": url, **value}


def data_absent(reason: str = "unknown") -> dict[str, Any]:
    return ext(DAR_URL, valueCode=reason)


def find_exts(element: Mapping[str, Any] | None, url: str) -> list[dict[str, Any]]:
    return [e for e in (element or {}).get("extension", []) if e.get("url") == url]


def find_ext(element: Mapping[str, Any] | None, url: str) -> dict[str, Any] | None:
    found = find_exts(element, url)
    return found[0] if found else None


def ref_id(reference: Mapping[str, Any] | None) -> str | None:
    """The reference string of a Reference, or None."""
    if not reference:
        return None
    value = reference.get("reference")
    return value if isinstance(value, str) else None


def codings(cc: Mapping[str, Any] | None) -> Iterable[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = (cc or {}).get("coding", [])
    return found


def has_code(cc: Mapping[str, Any] | None, code: Code) -> bool:
    return any(c.get("system") == code.system and c.get("code") == code.code for c in codings(cc))
