"""The project's CodeSystems and ValueSets, from ``fhir_ivc.terminology`` and the measure rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fhir_ivc.authoring._common import Json, _header, pascal
from fhir_ivc.mappers.measures import MEASURES

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.terminology import codes as C  # noqa: N812
from fhir_ivc.terminology._tables import Code, LocalCodeSystem
from fhir_ivc.terminology.systems import project_url

# --------------------------------------------------------------------------------------------
# Terminology: CodeSystems and ValueSets
# --------------------------------------------------------------------------------------------


def code_system(cs: LocalCodeSystem) -> Json:
    out = _header("CodeSystem", cs.name, pascal(cs.name), cs.title, cs.description)
    if out["url"] != cs.url:  # the local system URL and the CodeSystem's url are one
        raise ValueError(f"{cs.name}: CodeSystem url {out['url']} != system {cs.url}")
    out |= {
        "caseSensitive": True,
        "valueSet": project_url("ValueSet", cs.name),
        "content": "complete",
        "count": len(cs.concepts),
        "concept": [
            {"code": code, "display": display, "definition": definition}
            for code, (display, definition) in cs.concepts.items()
        ],
    }
    return out


def all_codes_value_set(cs: LocalCodeSystem) -> Json:
    out = _header(
        "ValueSet",
        cs.name,
        f"{pascal(cs.name)}VS",
        f"{cs.title} (all codes)",
        f"Every code of the code system {cs.url} ({cs.title}).",
    )
    out["compose"] = {"include": [{"system": cs.url}]}
    return out


def enumerated_value_set(
    id_: str, title: str, description: str, codes: Iterable[Code], purpose: str = ""
) -> Json:
    out = _header("ValueSet", id_, f"{pascal(id_)}VS", title, description)
    if purpose:
        out["purpose"] = purpose
    include: dict[str, list[Json]] = {}
    for c in codes:
        include.setdefault(c.system, []).append({"code": c.code, "display": c.display})
    out["compose"] = {
        "include": [{"system": system, "concept": concepts} for system, concepts in include.items()]
    }
    return out


#: Operative measures: observation code -> UCUM unit, from the measure rows (mappers/measures.py).
OPERATIVE_MEASURES: Mapping[str, str] = {m.code.code: m.unit.code for m in MEASURES}


def _measures_by_unit() -> str:
    """``min (operative time, IVC clamping time), mL (estimated blood loss), …`` from the rows."""
    by_unit: dict[str, list[str]] = {}
    for m in MEASURES:
        by_unit.setdefault(m.unit.code, []).append(m.label)
    return ", ".join(f"{unit} ({', '.join(labels)})" for unit, labels in by_unit.items())


def _units() -> str:
    units = list(dict.fromkeys(m.unit.code for m in MEASURES))
    return ", ".join(units[:-1]) + f" or {units[-1]}" if len(units) > 1 else units[0]


FOLLOW_UP_FINDINGS: Mapping[str, str] = {
    "local-recurrence": "boolean",
    "vital-status": "CodeableConcept",
}

OPERATIVE_MEASURE_CODE_VS = "ivc-operative-measure-code"
OPERATIVE_MEASURE_UNIT_VS = "ivc-operative-measure-unit"
FOLLOW_UP_FINDING_CODE_VS = "ivc-follow-up-finding-code"
VITAL_STATUS_VS = "vital-status"


def subset_value_sets() -> list[Json]:
    return [
        enumerated_value_set(
            OPERATIVE_MEASURE_CODE_VS,
            "IVC operative measure codes",
            "The observation codes of intra- and perioperative measures of the index "
            "surgery (profile ivc-operative-measure).",
            [m.code for m in MEASURES],
            "; ".join(f"{m.label}: {m.note}" for m in MEASURES if m.note)
            + " (docs/terminology-verification.md).",
        ),
        enumerated_value_set(
            OPERATIVE_MEASURE_UNIT_VS,
            "IVC operative measure units",
            f"UCUM units of the operative measures: {_measures_by_unit()}.",
            list(dict.fromkeys(m.unit.coding() for m in MEASURES)),
        ),
        enumerated_value_set(
            FOLLOW_UP_FINDING_CODE_VS,
            "IVC follow-up finding codes",
            "The local observation codes of follow-up findings mCODE has no element for: local "
            "recurrence (yes/no) and vital status.",
            [C.OBS[code] for code in FOLLOW_UP_FINDINGS],
        ),
        enumerated_value_set(
            VITAL_STATUS_VS,
            "Vital status",
            "SNOMED CT findings the adapter writes for the vital status at a follow-up.",
            [code for codes in C.VITAL_STATUS.entries.values() for code in codes],
        ),
    ]
