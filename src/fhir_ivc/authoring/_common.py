"""Shared pieces of the authored resources: metadata headers and ElementDefinition helpers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import CANONICAL, project_url

Json = dict[str, Any]

PACKAGE_NAME = "fhir-ivc.ivc-lms"
VERSION = "0.1.0"
FHIR_VERSION = "4.0.1"
PUBLISHER = "fhir_ivc"
DEPENDENCIES = {"hl7.fhir.r4.core": "4.0.1", "hl7.fhir.us.mcode": "4.0.0"}
CORE = "http://hl7.org/fhir/StructureDefinition"


# --------------------------------------------------------------------------------------------
# Common metadata
# --------------------------------------------------------------------------------------------


def pascal(name: str) -> str:
    """``ivc-segment`` -> ``IvcSegment`` (a FHIR computable name)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def _header(resource_type: str, id_: str, name: str, title: str, description: str) -> Json:
    return {
        "resourceType": resource_type,
        "id": id_,
        "url": project_url(resource_type, id_),
        "version": VERSION,
        "name": name,
        "title": title,
        "status": "draft",
        "publisher": PUBLISHER,
        "description": description,
    }


# --------------------------------------------------------------------------------------------
# ElementDefinition helpers (differential elements, keys in the FHIR element order)
# --------------------------------------------------------------------------------------------

_ED_ORDER = (
    *("id", "path", "sliceName", "slicing", "short", "definition", "comment", "min", "max"),
    *("type", "fixedUri", "patternCodeableConcept", "patternCoding", "constraint"),
    *("mustSupport", "binding"),
)


def el(element_id: str, **fields: Any) -> Json:
    """One differential element. ``element_id`` is the ElementDefinition.id (``A.b:slice.c``);
    the path and sliceName follow from it. ``ms=True`` is mustSupport."""
    out: Json = {"id": element_id, "path": re.sub(r":[^.]+", "", element_id)}
    last = element_id.rsplit(".", 1)[-1]
    if ":" in last:
        out["sliceName"] = last.split(":", 1)[1]
    if fields.pop("ms", False):
        fields["mustSupport"] = True
    unknown = set(fields) - set(_ED_ORDER)
    if unknown:
        raise ValueError(f"{element_id}: unknown ElementDefinition fields {sorted(unknown)}")
    out |= {key: fields[key] for key in _ED_ORDER if key in fields}
    return out


def ref(*profiles: str) -> list[Json]:
    return [{"code": "Reference", "targetProfile": list(profiles)}]


def binding(strength: str, value_set_id: str) -> Json:
    return {"strength": strength, "valueSet": vs_url(value_set_id)}


def pattern(code: Code) -> Json:
    return {"coding": [{"system": code.system, "code": code.code}]}


def url_slicing() -> Json:
    return {"discriminator": [{"type": "value", "path": "url"}], "ordered": False, "rules": "open"}


def invariant(key: str, human: str, expression: str, url: str) -> Json:
    return {
        "key": key,
        "severity": "error",
        "human": human,
        "expression": expression,
        "source": url,
    }


def structure_definition(
    url: str,
    title: str,
    description: str,
    *,
    kind: str,
    type_: str,
    base: str,
    elements: Sequence[Json],
    purpose: str = "",
    context: Sequence[str] = (),
) -> Json:
    id_ = url.rsplit("/", 1)[-1]
    if url != project_url("StructureDefinition", id_):
        raise ValueError(f"{url} is not under {CANONICAL}/StructureDefinition/")
    out = _header("StructureDefinition", id_, pascal(id_), title, description)
    if purpose:
        out["purpose"] = purpose
    out |= {"fhirVersion": FHIR_VERSION, "kind": kind, "abstract": False}
    if context:
        out["context"] = [{"type": "element", "expression": c} for c in context]
    out |= {
        "type": type_,
        "baseDefinition": base,
        "derivation": "constraint",
        "differential": {"element": list(elements)},
    }
    return out


def vs_url(id_: str) -> str:
    return project_url("ValueSet", id_)
