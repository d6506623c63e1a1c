"""The project's profiles (differential StructureDefinitions), one function each."""

from __future__ import annotations

from fhir_ivc.authoring._common import (
    CORE,
    Json,
    binding,
    el,
    invariant,
    pattern,
    ref,
    structure_definition,
    url_slicing,
)
from fhir_ivc.authoring.terminology import (
    FOLLOW_UP_FINDING_CODE_VS,
    FOLLOW_UP_FINDINGS,
    OPERATIVE_MEASURE_CODE_VS,
    OPERATIVE_MEASURE_UNIT_VS,
    VITAL_STATUS_VS,
    _measures_by_unit,
    _units,
)
from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.mappers import measures
from fhir_ivc.mappers.canonical import (
    CANCER_PATIENT,
    DECISION_EXT,
    FOLLOW_UP_FINDING,
    HUMAN_SPECIMEN,
    IVC_MANAGEMENT_PROFILE,
    MARGIN,
    PRIMARY,
    RESIDUAL,
    SURGICAL,
)
from fhir_ivc.mappers.measures import MEASURES, OPERATIVE_MEASURE

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.terminology import codes as C  # noqa: N812
from fhir_ivc.terminology import local as L  # noqa: N812
from fhir_ivc.terminology._tables import Code, LocalCodeSystem
from fhir_ivc.terminology.systems import OBSERVATION_CATEGORY

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
            slicing=_slicing("pattern", "$this"),
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


def _slicing(discriminator: str, path: str) -> Json:
    """An open, unordered slicing by one discriminator (``value`` of ``system``, ...)."""
    return {
        "discriminator": [{"type": discriminator, "path": path}],
        "ordered": False,
        "rules": "open",
    }


def _part_of(resource: str, short: str, definition: str, *, min: int = 0) -> Json:
    """``partOf`` the index surgery (at most one)."""
    return el(
        f"{resource}.partOf",
        short=short,
        definition=definition,
        **({"min": min} if min else {}),
        max="1",
        type=ref(SURGICAL),
        ms=True,
    )


def _code_from(short: str, value_set: str) -> Json:
    """``Observation.code`` bound (required) to one of the project's value sets."""
    return el("Observation.code", short=short, ms=True, binding=binding("required", value_set))


def _observation_profile(
    url: str,
    title: str,
    description: str,
    purpose: str,
    root: Json,
    elements: list[Json],
) -> Json:
    """A project profile on Observation: ``root`` (short, definition, invariants), the
    case-element marker, then ``elements``."""
    return structure_definition(
        url,
        title,
        description,
        purpose=purpose,
        kind="resource",
        type_="Observation",
        base=f"{CORE}/Observation",
        elements=[
            el("Observation", **root),
            *_case_element_slice("Observation", slicing=True),
            *elements,
        ],
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
            _part_of(
                "Procedure",
                "The index IVC resection",
                "The index en bloc resection this IVC management belongs to.",
                min=1,
            ),
            el("Procedure.code", ms=True),
            el(
                "Procedure.code.coding",
                slicing=_slicing("value", "system"),
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
    return _observation_profile(
        url,
        "IVC operative measure",
        f"A measure of the index IVC surgery: {_measures_by_unit()}, as an Observation partOf "
        "the surgery.",
        "; ".join(f"{m.label}: {m.note}" for m in MEASURES if m.note)
        + " (docs/terminology-verification.md).",
        {
            "short": "Operative measure of the index surgery",
            "definition": "A duration, volume or length of stay measured for the index surgery.",
            "constraint": constraints,
        },
        [
            _part_of(
                "Observation",
                "The surgery measured",
                "The index surgery (or the sub-procedure, e.g. hepatic vascular exclusion) the "
                "measure belongs to.",
                min=1,
            ),
            el("Observation.status", ms=True),
            *_category("procedure"),
            _code_from("Which measure", OPERATIVE_MEASURE_CODE_VS),
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
            slicing=_slicing("type", "$this"),
            min=1,
            type=[{"code": "CodeableConcept"}],
            ms=True,
        ),
        el(value, min=1, max="1", type=[{"code": "CodeableConcept"}], ms=True),
        el(
            f"{value}.coding",
            slicing=_slicing("value", "system"),
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
    return _observation_profile(
        url,
        title,
        description,
        purpose,
        {"short": title, "definition": description},
        [
            _part_of(
                "Observation",
                "The resection assessed",
                "The index surgery whose specimen was assessed.",
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
    return _observation_profile(
        url,
        "IVC follow-up finding",
        "A finding at a follow-up visit that mCODE CancerDiseaseStatus cannot express: local "
        "recurrence (boolean, focus = the primary cancer) or vital status (SNOMED CT alive / "
        "dead).",
        "mCODE's condition-status-trend value set has no 'no local recurrence' value while "
        "metastases persist (docs/terminology-verification.md).",
        {
            "short": "Follow-up finding",
            "definition": "Local recurrence or vital status at a follow-up.",
            "constraint": constraints,
        },
        [
            el("Observation.status", ms=True),
            _code_from("Which finding", FOLLOW_UP_FINDING_CODE_VS),
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
