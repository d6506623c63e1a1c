"""Generate the project's FHIR package (profiles/) and docs/profiles.md from the Python sources.

    .venv/bin/python scripts/build_profiles.py            # (re)write profiles/ and the docs page
    .venv/bin/python scripts/build_profiles.py --check    # exit 1 if anything on disk is stale
    .venv/bin/python scripts/build_profiles.py --tgz      # also pack build/fhir-ivc.tgz

Sources of truth, so nothing here can drift from what the mappers emit:

* ``fhir_ivc.terminology.local.LOCAL_CODE_SYSTEMS``: one CodeSystem (content complete, with
  definitions) and one ValueSet with all of its codes per local code system;
* the mapper modules: every canonical URL (extension and profile) and every fixed code is
  imported from them, never retyped;
* ``fhir_ivc.mappers.ELEMENTS``: the "case element" column of docs/profiles.md;
* this file: the extension and profile definitions, as *differential* StructureDefinitions
  (section "Extensions" and "Profiles" below; one function each, one line per constraint).

Authoring route: JSON differentials from Python, not FSH/SUSHI. SUSHI needs hl7.fhir.r4.core
4.0.1 and the mCODE dependency chain (hl7.fhir.us.core 6.1.0, ...) in a FHIR package cache; the
npm registry reachable here has hl7.fhir.us.mcode 4.0.0 but neither of those, and
packages.fhir.org is unreachable, so SUSHI cannot compile offline. Writing the differentials
here keeps one toolchain (Python), lets the profiles import the mappers' codes and URLs, and
gives a byte-stable output that the tests compare with the committed files.

The output folder is an NPM-style FHIR package: package.json, .index.json and one JSON file per
resource (``<Type>-<id>.json``). ``--tgz`` packs it as ``package/...`` in a deterministic
tarball under build/ (gitignored), the form HAPI's NpmPackageValidationSupport loads.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.mappers import ELEMENTS, measures
from fhir_ivc.mappers.condition import CLAVIEN_DINDO_EXT, PRIMARY
from fhir_ivc.mappers.measures import MEASURES, OPERATIVE_MEASURE
from fhir_ivc.mappers.medication import LINE_EXT
from fhir_ivc.mappers.observation import FOLLOW_UP_FINDING, MARGIN, RESIDUAL
from fhir_ivc.mappers.patient import PROFILE as CANCER_PATIENT
from fhir_ivc.mappers.procedure import (
    CONTRAST_EXT,
    DECISION_EXT,
    IVC_MANAGEMENT_PROFILE,
    RESECTION_EXTENT_EXT,
    SETTING_EXT,
    SURGICAL,
)
from fhir_ivc.mappers.tumor import SPECIMEN as HUMAN_SPECIMEN

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.terminology import codes as C  # noqa: N812
from fhir_ivc.terminology import local as L  # noqa: N812
from fhir_ivc.terminology._tables import Code, LocalCodeSystem
from fhir_ivc.terminology.systems import CANONICAL, OBSERVATION_CATEGORY, project_url

Json = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
DOC = ROOT / "docs" / "profiles.md"
TGZ = ROOT / "build" / "fhir-ivc.tgz"

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
# Terminology: CodeSystems and ValueSets
# --------------------------------------------------------------------------------------------


def code_system(cs: LocalCodeSystem) -> Json:
    out = _header("CodeSystem", cs.name, pascal(cs.name), cs.title, cs.description)
    assert out["url"] == cs.url, (out["url"], cs.url)
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


def vs_url(id_: str) -> str:
    return project_url("ValueSet", id_)


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


# --------------------------------------------------------------------------------------------
# Extensions
# --------------------------------------------------------------------------------------------


def simple_extension(
    url: str,
    title: str,
    description: str,
    *,
    context: Sequence[str],
    value_type: str,
    value_set: str | None = None,
    purpose: str = "",
) -> Json:
    value: Json = {"min": 1, "type": [{"code": value_type}]}
    if value_set:
        value["binding"] = binding("required", value_set)
    return structure_definition(
        url,
        title,
        description,
        purpose=purpose,
        kind="complex-type",
        type_="Extension",
        base=f"{CORE}/Extension",
        context=context,
        elements=[
            el("Extension", short=title, definition=description),
            el("Extension.extension", max="0"),
            el("Extension.url", fixedUri=url),
            el("Extension.value[x]", **value),
        ],
    )


def case_element_extension() -> Json:
    description = (
        "Where in the fhir_ivc case record the resource came from, and which of the facts it "
        "carries were inferred by the curator rather than stated in the source. The adapter "
        "puts it on every resource it emits; the reverse mapping reads it back."
    )

    def part(name: str, short: str, definition: str, card: tuple[int, str]) -> list[Json]:
        base = f"Extension.extension:{name}"
        return [
            el(base, short=short, definition=definition, min=card[0], max=card[1]),
            el(f"{base}.extension", max="0"),
            el(f"{base}.url", fixedUri=name),
            el(f"{base}.value[x]", min=1, type=[{"code": "string"}]),
        ]

    return structure_definition(
        CASE_ELEMENT_URL,
        "Case element",
        description,
        purpose="Provenance at element level: a FHIR consumer sees which case-record object a "
        "resource represents and which of its values are inferences (marked 'inf.' in "
        "docs/terminology.md), without a separate Provenance resource per fact.",
        kind="complex-type",
        type_="Extension",
        base=f"{CORE}/Extension",
        context=["DomainResource"],
        elements=[
            el("Extension", short="Case element", definition=description),
            el("Extension.extension", slicing=url_slicing(), min=1),
            *part(
                "path",
                "Case-model path of the object",
                "Path in the case record of the object this resource represents, e.g. "
                "`surgery.ivc_management[0]` or `pathology`.",
                (1, "1"),
            ),
            *part(
                "key",
                "Explicit key of the list item",
                "The `key` the case record gave the list item this resource represents, when it "
                "gave one (a derived key cannot be told apart from an explicit one in the "
                "resource identifier, so it is recorded here to round-trip exactly).",
                (0, "1"),
            ),
            *part(
                "inferred",
                "Case-model path of an inferred fact",
                "Path of a value this resource carries that the source implies but does not "
                "state, e.g. `pathology.r_classification`.",
                (0, "*"),
            ),
            el("Extension.url", fixedUri=CASE_ELEMENT_URL),
            el("Extension.value[x]", max="0"),
        ],
    )


def extensions() -> list[Json]:
    return [
        case_element_extension(),
        simple_extension(
            CONTRAST_EXT,
            "Imaging contrast",
            "Whether the imaging study was contrast-enhanced (e.g. contrast-enhanced CT).",
            purpose="R4 Procedure has no element for contrast, and no verified precoordinated "
            "SNOMED CT code for contrast-enhanced CT exists (docs/terminology-verification.md).",
            context=["Procedure"],
            value_type="boolean",
        ),
        simple_extension(
            RESECTION_EXTENT_EXT,
            "IVC resection extent",
            "Whether the IVC wall was resected partially (tangentially) or as a full "
            "circumferential segment.",
            purpose="One of the three factors that decide the need and type of vascular "
            "replacement (seed report); no standard element or code holds it.",
            context=["Procedure"],
            value_type="CodeableConcept",
            value_set=L.RESECTION_EXTENT.name,
        ),
        simple_extension(
            DECISION_EXT,
            "IVC management decision",
            "When the way of handling the IVC was decided: planned before surgery or decided "
            "during it (e.g. ligation because a collateral circulation was found).",
            purpose="The seed report contrasts a preoperative and an intraoperative decision; "
            "Procedure has no element for when a technique was chosen.",
            context=["Procedure"],
            value_type="CodeableConcept",
            value_set=L.MANAGEMENT_DECISION.name,
        ),
        simple_extension(
            SETTING_EXT,
            "Therapy setting",
            "When a systemic therapy is (or is not) given relative to surgery and disease "
            "course: neoadjuvant, adjuvant, metastatic, recurrence.",
            purpose="mCODE deliberately keeps adjuvant/neoadjuvant out of procedure intent "
            "('relates to timing, not intent'; docs/terminology-verification.md), so the "
            "setting needs its own element.",
            context=["Procedure", "MedicationAdministration", "MedicationRequest"],
            value_type="CodeableConcept",
            value_set=L.THERAPY_SETTING.name,
        ),
        simple_extension(
            LINE_EXT,
            "Therapy line",
            "Line of systemic therapy (1 = first line).",
            purpose="mCODE has no line-of-therapy element.",
            context=["MedicationAdministration", "MedicationRequest"],
            value_type="positiveInt",
        ),
        simple_extension(
            CLAVIEN_DINDO_EXT,
            "Clavien-Dindo grade",
            "Clavien-Dindo grade of a postoperative complication.",
            purpose="Condition has no element for the severity grade of a surgical "
            "complication; Condition.severity is a generic mild/moderate/severe scale.",
            context=["Condition"],
            value_type="CodeableConcept",
            value_set=L.CLAVIEN_DINDO.name,
        ),
    ]


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


def _case_element_slice(resource: str, *, slicing: bool) -> list[Json]:
    out = []
    if slicing:
        out.append(el(f"{resource}.extension", slicing=url_slicing()))
    out.append(
        el(
            f"{resource}.extension:caseElement",
            short="Case-record provenance (path, inferred facts)",
            definition="Where in the case record the resource came from; which facts are inferred.",
            min=0,
            max="1",
            type=[{"code": "Extension", "profile": [CASE_ELEMENT_URL]}],
            ms=True,
        )
    )
    return out


def _category(code: str) -> list[Json]:
    return [
        el(
            "Observation.category",
            slicing={
                "discriminator": [{"type": "pattern", "path": "$this"}],
                "ordered": False,
                "rules": "open",
            },
            min=1,
            ms=True,
        ),
        el(
            f"Observation.category:{code}",
            min=1,
            max="1",
            patternCodeableConcept={"coding": [{"system": OBSERVATION_CATEGORY, "code": code}]},
            ms=True,
        ),
    ]


def _subject(resource: str) -> Json:
    return el(
        f"{resource}.subject",
        short="The patient",
        definition="The patient, conforming to mCODE CancerPatient.",
        min=1,
        type=ref(CANCER_PATIENT),
        ms=True,
    )


def _local_code(name: str) -> str:
    return f"code = '{name}'"


def ivc_management_procedure() -> Json:
    system = L.IVC_MANAGEMENT.url
    grafts = " or ".join(_local_code(c) for c in ("graft-replacement", "patch-cavoplasty"))
    url = IVC_MANAGEMENT_PROFILE
    return structure_definition(
        url,
        "IVC management procedure",
        "How the inferior vena cava was handled after the tumor-bearing segment was resected "
        "(ligation, primary repair, patch cavoplasty, graft replacement, anastomosis or none), "
        "as a sub-procedure partOf the index en bloc resection; the graft or patch material in "
        "usedCode.",
        purpose="No standard profile or value set covers IVC management or graft material; "
        "ICD-10-PCS encodes the device character but not the allograft source "
        "(docs/terminology-verification.md).",
        kind="resource",
        type_="Procedure",
        base=SURGICAL,
        elements=[
            el(
                "Procedure",
                short="IVC management after resection",
                definition="A sub-procedure of the index IVC resection: how the IVC was handled.",
                constraint=[
                    invariant(
                        "ivc-mgmt-1",
                        "A graft or patch material (usedCode) only with graft replacement or "
                        "patch cavoplasty",
                        f"usedCode.exists() implies code.coding.where(system = '{system}' and "
                        f"({grafts})).exists()",
                        url,
                    )
                ],
            ),
            *_case_element_slice("Procedure", slicing=False),
            el(
                "Procedure.extension:managementDecision",
                short="Decided preoperatively or intraoperatively",
                min=0,
                max="1",
                type=[{"code": "Extension", "profile": [DECISION_EXT]}],
                ms=True,
            ),
            el(
                "Procedure.partOf",
                short="The index IVC resection",
                definition="The index en bloc resection this IVC management belongs to.",
                min=1,
                max="1",
                type=ref(SURGICAL),
                ms=True,
            ),
            el("Procedure.code", ms=True),
            el(
                "Procedure.code.coding",
                slicing={
                    "discriminator": [{"type": "value", "path": "system"}],
                    "ordered": False,
                    "rules": "open",
                },
                min=1,
            ),
            el(
                "Procedure.code.coding:ivcManagement",
                short="IVC management method (local code)",
                definition="The method, from the project's ivc-management code system; standard "
                "codes (e.g. ICD-10-PCS) may follow as further codings.",
                min=1,
                max="1",
                ms=True,
                binding=binding("required", L.IVC_MANAGEMENT.name),
            ),
            el("Procedure.code.coding:ivcManagement.system", min=1, fixedUri=system),
            el("Procedure.code.coding:ivcManagement.code", min=1),
            _subject("Procedure"),
            el(
                "Procedure.bodySite",
                short="The inferior vena cava",
                comment="The adapter writes SNOMED CT 64131007 (Inferior vena cava structure).",
                ms=True,
            ),
            el(
                "Procedure.usedCode",
                short="Graft or patch material",
                definition="Material of the graft or patch used to reconstruct the IVC. R4 "
                "usedReference only allows Device/Medication/Substance, so tissue allografts are "
                "coded here.",
                ms=True,
                binding=binding("required", L.GRAFT_MATERIAL.name),
            ),
        ],
    )


def ivc_operative_measure() -> Json:
    url = OPERATIVE_MEASURE
    constraints = [
        invariant(c.key, c.human, c.expression, url) for c in measures.unit_constraints()
    ]
    return structure_definition(
        url,
        "IVC operative measure",
        f"A measure of the index IVC surgery: {_measures_by_unit()}, as an Observation partOf "
        "the surgery.",
        purpose="; ".join(f"{m.label}: {m.note}" for m in MEASURES if m.note)
        + " (docs/terminology-verification.md).",
        kind="resource",
        type_="Observation",
        base=f"{CORE}/Observation",
        elements=[
            el(
                "Observation",
                short="Operative measure of the index surgery",
                definition="A duration, volume or length of stay measured for the index surgery.",
                constraint=constraints,
            ),
            *_case_element_slice("Observation", slicing=True),
            el(
                "Observation.partOf",
                short="The surgery measured",
                definition="The index surgery (or the sub-procedure, e.g. hepatic vascular "
                "exclusion) the measure belongs to.",
                min=1,
                max="1",
                type=ref(SURGICAL),
                ms=True,
            ),
            el("Observation.status", ms=True),
            *_category("procedure"),
            el(
                "Observation.code",
                short="Which measure",
                ms=True,
                binding=binding("required", OPERATIVE_MEASURE_CODE_VS),
            ),
            _subject("Observation"),
            el(
                "Observation.value[x]",
                short=f"The measured quantity (UCUM {_units()})",
                min=1,
                type=[{"code": "Quantity"}],
                ms=True,
                binding=binding("required", OPERATIVE_MEASURE_UNIT_VS),
            ),
        ],
    )


def _local_coded_value(cs: LocalCodeSystem) -> list[Json]:
    """value[x] as a CodeableConcept that carries one coding of the local code system ``cs``
    (required binding on that coding) besides any standard codings (e.g. SNOMED CT).

    The binding sits on a Coding slice, not on the CodeableConcept: validators without a SNOMED
    CT terminology service (HAPI in-memory) reject a required CodeableConcept binding as soon as
    one coding's system is unknown, even when another coding is in the value set."""
    value = "Observation.value[x]:valueCodeableConcept"
    return [
        el(
            "Observation.value[x]",
            slicing={
                "discriminator": [{"type": "type", "path": "$this"}],
                "ordered": False,
                "rules": "open",
            },
            min=1,
            type=[{"code": "CodeableConcept"}],
            ms=True,
        ),
        el(value, min=1, max="1", type=[{"code": "CodeableConcept"}], ms=True),
        el(
            f"{value}.coding",
            slicing={
                "discriminator": [{"type": "value", "path": "system"}],
                "ordered": False,
                "rules": "open",
            },
            min=1,
        ),
        el(
            f"{value}.coding:local",
            short=f"The {cs.title.lower()} as a local code",
            definition=f"Always present, from {cs.url}; SNOMED CT codings come first where "
            "one exists.",
            min=1,
            max="1",
            ms=True,
            binding=binding("required", cs.name),
        ),
        el(f"{value}.coding:local.system", min=1, fixedUri=cs.url),
        el(f"{value}.coding:local.code", min=1),
    ]


def _pathology_finding(
    url: str, title: str, description: str, purpose: str, code: Code, value_set: LocalCodeSystem
) -> Json:
    return structure_definition(
        url,
        title,
        description,
        purpose=purpose,
        kind="resource",
        type_="Observation",
        base=f"{CORE}/Observation",
        elements=[
            el("Observation", short=title, definition=description),
            *_case_element_slice("Observation", slicing=True),
            el(
                "Observation.partOf",
                short="The resection assessed",
                definition="The index surgery whose specimen was assessed.",
                max="1",
                type=ref(SURGICAL),
                ms=True,
            ),
            el("Observation.status", ms=True),
            *_category("laboratory"),
            el("Observation.code", patternCodeableConcept=pattern(code), ms=True),
            _subject("Observation"),
            *_local_coded_value(value_set),
            el(
                "Observation.specimen",
                short="The resection specimen",
                definition="The resection specimen (mCODE HumanSpecimen, type TUMOR).",
                min=1,
                type=ref(HUMAN_SPECIMEN),
                ms=True,
            ),
        ],
    )


def ivc_surgical_margin() -> Json:
    return _pathology_finding(
        MARGIN,
        "IVC surgical margin",
        "Status of the surgical margins of the IVC resection specimen (uninvolved, involved, "
        "cannot be assessed). The value carries SNOMED CT findings where they exist and always "
        "the local margin-status code.",
        "mCODE has no margin profile; its breast example uses a breast-specific LOINC code "
        "(docs/terminology-verification.md).",
        C.SURGICAL_MARGIN,
        L.MARGIN_STATUS,
    )


def ivc_residual_tumor() -> Json:
    return _pathology_finding(
        RESIDUAL,
        "IVC residual tumor (R) classification",
        "UICC/AJCC residual tumor classification (R0, R1, R2, RX) after resection of the IVC "
        "tumor. The value carries the SNOMED CT residual tumor finding and always the local "
        "r-classification code.",
        "The SNOMED CT codes for R stages conflict between sources and no verified "
        "observable code exists for the question (docs/terminology-verification.md).",
        C.OBS["residual-tumor"],
        L.R_CLASSIFICATION,
    )


def ivc_follow_up_finding() -> Json:
    url = FOLLOW_UP_FINDING
    system = L.OBSERVATION_CODE.url
    constraints = [
        invariant(
            f"ivc-fu-{i}",
            f"{code} has a {value_type} value",
            f"code.coding.where(system = '{system}' and code = '{code}').exists() implies "
            f"value.ofType({value_type}).exists()",
            url,
        )
        for i, (code, value_type) in enumerate(FOLLOW_UP_FINDINGS.items(), start=1)
    ]
    return structure_definition(
        url,
        "IVC follow-up finding",
        "A finding at a follow-up visit that mCODE CancerDiseaseStatus cannot express: local "
        "recurrence (boolean, focus = the primary cancer) or vital status (SNOMED CT alive / "
        "dead).",
        purpose="mCODE's condition-status-trend value set has no 'no local recurrence' value "
        "while metastases persist (docs/terminology-verification.md).",
        kind="resource",
        type_="Observation",
        base=f"{CORE}/Observation",
        elements=[
            el(
                "Observation",
                short="Follow-up finding",
                definition="Local recurrence or vital status at a follow-up.",
                constraint=constraints,
            ),
            *_case_element_slice("Observation", slicing=True),
            el("Observation.status", ms=True),
            el(
                "Observation.code",
                short="Which finding",
                ms=True,
                binding=binding("required", FOLLOW_UP_FINDING_CODE_VS),
            ),
            _subject("Observation"),
            el(
                "Observation.focus",
                short="The primary cancer (local recurrence)",
                max="1",
                type=ref(PRIMARY),
                ms=True,
            ),
            el(
                "Observation.effective[x]",
                short="When (a date, or data-absent-reason + cqf-relativeDateTime)",
                min=1,
                type=[{"code": "dateTime"}],
                ms=True,
            ),
            el(
                "Observation.value[x]",
                min=1,
                type=[{"code": "boolean"}, {"code": "CodeableConcept"}],
                ms=True,
                binding=binding("extensible", VITAL_STATUS_VS),
            ),
        ],
    )


def profiles() -> list[Json]:
    return [
        ivc_management_procedure(),
        ivc_operative_measure(),
        ivc_surgical_margin(),
        ivc_residual_tumor(),
        ivc_follow_up_finding(),
    ]


# --------------------------------------------------------------------------------------------
# Package: resources, package.json, .index.json, tgz
# --------------------------------------------------------------------------------------------


def resources() -> list[Json]:
    out: list[Json] = [*extensions(), *profiles()]
    for cs in L.LOCAL_CODE_SYSTEMS:
        out += [code_system(cs), all_codes_value_set(cs)]
    out += subset_value_sets()
    return out


def filename(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def package_json() -> Json:
    return {
        "name": PACKAGE_NAME,
        "version": VERSION,
        "type": "IG",
        "canonical": CANONICAL,
        "url": CANONICAL,
        "title": "fhir_ivc: leiomyosarcoma of the inferior vena cava",
        "description": "Extensions, profiles, code systems and value sets of the fhir_ivc "
        "adapter (IVC leiomyosarcoma case records to FHIR R4 / mCODE STU4). Draft; generated "
        "by scripts/build_profiles.py.",
        "fhirVersions": [FHIR_VERSION],
        "dependencies": dict(DEPENDENCIES),
        "author": PUBLISHER,
        "license": "Apache-2.0",
    }


def index_json(items: Iterable[Mapping[str, Any]]) -> Json:
    files = []
    for r in items:
        entry: Json = {
            "filename": filename(r),
            "resourceType": r["resourceType"],
            "id": r["id"],
            "url": r["url"],
            "version": r["version"],
        }
        if r["resourceType"] == "StructureDefinition":
            entry |= {"kind": r["kind"], "type": r["type"], "derivation": r["derivation"]}
        if r["resourceType"] == "CodeSystem":
            entry["content"] = r["content"]
        files.append(entry)
    return {"index-version": 2, "files": sorted(files, key=lambda f: f["filename"])}


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def package_files() -> dict[str, str]:
    """Every file of the package folder: name -> text."""
    items = resources()
    names = [filename(r) for r in items]
    if len(set(names)) != len(names):
        raise ValueError("two resources share a file name")
    files = {filename(r): dumps(r) for r in items}
    files["package.json"] = dumps(package_json())
    files[".index.json"] = dumps(index_json(items))
    return dict(sorted(files.items()))


def write_tgz(files: Mapping[str, str], target: Path) -> None:
    """A deterministic NPM tarball: ``package/<file>``, fixed mtimes and owners."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh, gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())


# --------------------------------------------------------------------------------------------
# docs/profiles.md
# --------------------------------------------------------------------------------------------

#: Local code system -> the case-model fields (``ElementMap.source``) whose values it codes.
CODE_SYSTEM_SOURCES: Mapping[str, tuple[str, ...]] = {
    "agent": ("systemic_therapy[].agents[]",),
    "associated-resection": ("surgery.associated_resections[].kind",),
    "biopsy-method": ("biopsy.method",),
    "clavien-dindo": ("surgery.complications[].clavien_dindo",),
    "complication": ("surgery.complications[].kind",),
    "fnclcc-grade": ("pathology.fnclcc_grade",),
    "imaging-modality": ("imaging[].modality",),
    "intraluminal-site": ("diagnosis.intraluminal_extension[]",),
    "ivc-management": ("surgery.ivc_management[].method",),
    "ivc-procedure": ("surgery.en_bloc",),
    "ivc-segment": ("diagnosis.ivc_segments", "surgery.resected_segments"),
    "management-decision": ("surgery.ivc_management[].decided",),
    "margin-status": ("pathology.margin_status",),
    "observation-code": (
        *(m.source for m in MEASURES if m.code.system == L.OBSERVATION_CODE.url),
        "diagnosis.organ_contact[].organ",
        "pathology.organ_infiltration[]",
        "pathology.r_classification",
        "tumor_markers[].name",
        "follow_up[].local_recurrence",
        "follow_up[].vital_status",
    ),
    "organ": ("diagnosis.organ_contact[].organ", "pathology.organ_infiltration[]"),
    "r-classification": ("pathology.r_classification",),
    "resection-extent": ("surgery.resection_extent",),
    "surgical-step": ("surgery.approach[].kind",),
    "symptom": ("presentation.symptoms[].kind",),
    "therapy-not-given": ("therapy_not_given[].therapy",),
    "therapy-setting": ("systemic_therapy[].setting", "therapy_not_given[].setting"),
    "vascular-graft-material": ("surgery.ivc_management[].graft_material",),
}

SEGMENT_QUOTE = (
    "The main classification used in the planning of a surgical approach divides the IVC "
    "into: An upper segment (above the hepatic veins), a middle segment (between hepatic and "
    "renal veins), and lower segment (below the renal veins)."
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows_text(rows: Iterable[Any]) -> str:
    return "<br>".join(_cell(f"`{r.source}` → {r.target}") for r in rows) or "—"


def _tail(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _constraint_lines(sd: Mapping[str, Any]) -> list[str]:
    """A readable line per constrained differential element (the docs view of the profile)."""
    lines = []
    for e in sd["differential"]["element"][1:]:
        parts = []
        if "min" in e and "max" in e:
            parts.append(f"{e['min']}..{e['max']}")
        elif "min" in e:
            parts.append(f"min {e['min']}")
        elif "max" in e:
            parts.append(f"max {e['max']}")
        if "type" in e:
            kinds = []
            for t in e["type"]:
                targets = t.get("targetProfile") or t.get("profile") or []
                kinds.append(
                    f"{t['code']}({' | '.join(_tail(p) for p in targets)})"
                    if targets
                    else t["code"]
                )
            parts.append(" | ".join(kinds))
        for key in ("patternCodeableConcept", "fixedUri"):
            if key in e:
                value = e[key]
                if key == "patternCodeableConcept":
                    coding = value["coding"][0]
                    value = f"{_tail(coding['system'])}#{coding['code']}"
                parts.append(f"= `{value}`")
        if "slicing" in e:
            d = e["slicing"]["discriminator"][0]
            parts.append(f"sliced by {d['type']} of `{d['path']}`")
        if "binding" in e:
            b = e["binding"]
            parts.append(f"{b['strength']} binding to `{_tail(b['valueSet'])}`")
        if e.get("mustSupport"):
            parts.append("MS")
        if parts:
            lines.append(f"- `{e['id']}`: {', '.join(parts)}")
    for c in sd["differential"]["element"][0].get("constraint", []):
        lines.append(f"- invariant `{c['key']}`: {c['human']} (`{c['expression']}`)")
    return lines


def render_doc(items: Sequence[Json]) -> str:
    by_type: dict[str, list[Json]] = {}
    for r in items:
        by_type.setdefault(r["resourceType"], []).append(r)
    sds = by_type["StructureDefinition"]
    exts = [sd for sd in sds if sd["type"] == "Extension"]
    profs = [sd for sd in sds if sd["type"] != "Extension"]
    sources = {row.source for row in ELEMENTS}
    for name, srcs in CODE_SYSTEM_SOURCES.items():
        missing = [s for s in srcs if s not in sources]
        if missing:
            raise ValueError(f"CODE_SYSTEM_SOURCES[{name!r}]: {missing} not in mappers.ELEMENTS")
    if set(CODE_SYSTEM_SOURCES) != {cs.name for cs in L.LOCAL_CODE_SYSTEMS}:
        raise ValueError("CODE_SYSTEM_SOURCES must name every local code system exactly once")

    out = [
        "# Conformance artifacts: the `profiles/` FHIR package",
        "",
        "<!-- Generated by scripts/build_profiles.py: do not edit by hand. -->",
        "",
        f"`profiles/` is the NPM-style FHIR package **`{PACKAGE_NAME}#{VERSION}`** (FHIR "
        f"{FHIR_VERSION}, canonical `{CANONICAL}`, dependencies "
        + ", ".join(f"`{k}#{v}`" for k, v in DEPENDENCIES.items())
        + "). Every artifact is `status: draft`, version "
        f"{VERSION}, publisher `{PUBLISHER}`, and its url is `{CANONICAL}/<Type>/<id>`.",
        "",
        "Regenerate after changing `src/fhir_ivc/terminology/local.py`, a mapper's URLs or codes,"
        " or a definition in the script:",
        "",
        "```sh",
        ".venv/bin/python scripts/build_profiles.py          # rewrite profiles/ and this page",
        ".venv/bin/python scripts/build_profiles.py --check  # CI: exit 1 when stale",
        ".venv/bin/python scripts/build_profiles.py --tgz    # + build/fhir-ivc.tgz (package/...)",
        "```",
        "",
        "**Authoring route.** The extensions and profiles are *differential* StructureDefinitions"
        " written as Python data in `scripts/build_profiles.py` (one function per artifact, one "
        "line per constraint); code systems come from `LOCAL_CODE_SYSTEMS`, canonical URLs and "
        "fixed codes are imported from the mappers, so the package cannot drift from what the "
        "adapter emits. FSH/SUSHI was not used: SUSHI needs `hl7.fhir.r4.core#4.0.1` and the "
        "mCODE dependency chain (`hl7.fhir.us.core#6.1.0`, …) in a local FHIR package cache, and"
        " neither is obtainable offline here (the npm registry has only `hl7.fhir.us.mcode`). "
        "The package has no snapshots: a validator (e.g. HAPI with "
        "`SnapshotGeneratingValidationSupport`) generates them from the differentials.",
        "",
        "## Profiles",
        "",
        "| Profile | Base | Canonical URL | Case element(s) |",
        "|---|---|---|---|",
    ]
    for sd in profs:
        rows = [r for r in ELEMENTS if r.profile == sd["url"]]
        out.append(
            f"| **{sd['title']}** (`{sd['id']}`) | `{_tail(sd['baseDefinition'])}` | "
            f"`{sd['url']}` | {_rows_text(rows)} |"
        )
    out += ["", "### Constraints of each profile", ""]
    for sd in profs:
        out += [
            f"#### {sd['title']} (`{sd['id']}`)",
            "",
            _cell(sd["description"]),
            "",
            f"Why a project profile: {_cell(sd['purpose'])}",
            "",
            *_constraint_lines(sd),
            "",
        ]
    out += [
        "## Extensions",
        "",
        "| Extension | Context | Value | Canonical URL | Case element(s) |",
        "|---|---|---|---|---|",
    ]
    for sd in exts:
        value = next(e for e in sd["differential"]["element"] if e["id"] == "Extension.value[x]")
        if value.get("max") == "0":
            kind = "complex: `path` 1..1 string, `inferred` 0..* string"
        else:
            kind = value["type"][0]["code"]
            if "binding" in value:
                kind += (
                    f" ({value['binding']['strength']}: `{_tail(value['binding']['valueSet'])}`)"
                )
        context = ", ".join(c["expression"] for c in sd["context"])
        rows = [r for r in ELEMENTS if f"extension[{sd['id']}]" in str(r.target)]
        cases = (
            "every emitted resource: its case-model path and inferred facts"
            if sd["url"] == CASE_ELEMENT_URL
            else _rows_text(rows)
        )
        out.append(
            f"| **{sd['title']}** (`{sd['id']}`): {_cell(sd['description'])} | {context} | "
            f"{kind} | `{sd['url']}` | {cases} |"
        )
    out += [
        "",
        "## Code systems",
        "",
        "Each code system has a value set with the same id containing all its codes "
        f"(`{CANONICAL}/ValueSet/<id>`).",
        "",
        "| Code system | Codes | Canonical URL | Case element(s) |",
        "|---|---|---|---|",
    ]
    rows_by_source: dict[str, list[Any]] = {}
    for row in ELEMENTS:
        rows_by_source.setdefault(row.source, []).append(row)
    for cs in by_type["CodeSystem"]:
        rows = [r for s in CODE_SYSTEM_SOURCES[cs["id"]] for r in rows_by_source[s]]
        out.append(
            f"| **{cs['title']}** (`{cs['id']}`): {_cell(cs['description'])} | {cs['count']} | "
            f"`{cs['url']}` | {_rows_text(rows)} |"
        )
    subsets = [vs for vs in by_type["ValueSet"] if "concept" in vs["compose"]["include"][0]]
    out += [
        "",
        "## Other value sets",
        "",
        "| Value set | Content | Canonical URL |",
        "|---|---|---|",
    ]
    for vs in subsets:
        content = ", ".join(
            f"`{_tail(inc['system'])}#{c['code']}`"
            for inc in vs["compose"]["include"]
            for c in inc["concept"]
        )
        title = f"**{vs['title']}** (`{vs['id']}`): {_cell(vs['description'])}"
        out.append(f"| {title} | {content} | `{vs['url']}` |")
    out += [
        "",
        "## IVC segment definitions",
        "",
        f"Seed report: \u201c{SEGMENT_QUOTE}\u201d",
        "",
        f"Local code system `{L.IVC_SEGMENT.url}`, sent with the SNOMED CT location qualifier "
        "(`mcode-body-location-qualifier`) on `Condition.bodySite` / `Procedure.bodySite` "
        "(IVC, SNOMED CT 64131007) and in `BodyStructure.locationQualifier`:",
        "",
        "| Code | Display | Definition | SNOMED CT qualifier |",
        "|---|---|---|---|",
    ]
    for code, (display, definition) in L.IVC_SEGMENT.concepts.items():
        snomed = next(c for c in C.IVC_SEGMENT.entries[code] if c.system != L.IVC_SEGMENT.url)
        out.append(f"| `{code}` | {display} | {definition} | {snomed.code} {snomed.display} |")
    out += ["", "## Code system contents", ""]
    for cs in by_type["CodeSystem"]:
        out += [
            f"### {cs['title']} (`{cs['id']}`)",
            "",
            "| Code | Display | Definition |",
            "|---|---|---|",
            *(
                f"| `{c['code']}` | {_cell(c['display'])} | {_cell(c['definition'])} |"
                for c in cs["concept"]
            ),
            "",
        ]
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def expected_files() -> dict[Path, str]:
    """Every generated file (package folder + docs page) -> its text."""
    files = {PROFILES / name: text for name, text in package_files().items()}
    files[DOC] = render_doc(resources())
    return files


def stale(expected: Mapping[Path, str]) -> list[str]:
    """Problems between ``expected`` and the disk: missing, different, or extra JSON files."""
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"missing: {path.relative_to(ROOT)}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"out of date: {path.relative_to(ROOT)}")
    for path in sorted(set(PROFILES.glob("*.json")) | set(PROFILES.glob(".*.json"))):
        if path not in expected:
            problems.append(f"not generated: {path.relative_to(ROOT)}")
    return problems


def _is_resource_file(path: Path) -> bool:
    return (
        re.fullmatch(r"(CodeSystem|ValueSet|StructureDefinition)-[A-Za-z0-9.-]+\.json", path.name)
        is not None
    )


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if stale")
    parser.add_argument(
        "--tgz",
        nargs="?",
        const=TGZ,
        type=Path,
        metavar="PATH",
        help=f"also write the package tarball (default {TGZ.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    expected = expected_files()
    if args.check:
        problems = stale(expected)
        for p in problems:
            out(p)
        if problems:
            out("run: .venv/bin/python scripts/build_profiles.py")
            return 1
        out(f"profiles/ and {DOC.relative_to(ROOT)} are up to date ({len(expected)} files)")
    else:
        for path in sorted(PROFILES.glob("*.json")):
            if path not in expected and _is_resource_file(path):
                path.unlink()  # a resource the sources no longer define
                out(f"removed: {path.relative_to(ROOT)}")
        written = 0
        for path, text in expected.items():
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written += 1
        out(f"{written} of {len(expected)} files written")
    if args.tgz:
        write_tgz(package_files(), args.tgz)
        out(f"package tarball: {args.tgz}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
