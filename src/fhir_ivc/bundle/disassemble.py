"""FHIR -> case: read one patient's resources back into a case record, with a loss report.

Resources are recognised by profile first, then by codes, so data written by other mCODE
producers is read too. Whatever cannot be carried into the case record is reported as a
:class:`~fhir_ivc.mappers._read.Loss` (unknown code, unsupported resource, conflicting values),
never dropped silently. The element-by-element readers live beside their writers in
``fhir_ivc.mappers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from fhir_ivc.fhir.elements import find_ext, has_code
from fhir_ivc.mappers import canonical, follow_up, measures, report, tumor
from fhir_ivc.mappers import condition as cond
from fhir_ivc.mappers import medication as med
from fhir_ivc.mappers import observation as obs
from fhir_ivc.mappers import patient as patient_mapper
from fhir_ivc.mappers import procedure as proc
from fhir_ivc.mappers._context import mcode
from fhir_ivc.mappers._read import Loss, ReadContext, ReadShape, profiles_of, show_code
from fhir_ivc.mappers.patient import from_fhir_patient
from fhir_ivc.model import Case
from fhir_ivc.terminology import codes as C  # noqa: N812 - as in the mappers
from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import CONDITION_VER_STATUS

__all__ = ["CaseReadResult", "Loss", "case_from_bundle", "read_case"]


@dataclass
class CaseReadResult:
    """The case read back (None when no valid case could be built) and what was lost."""

    case: Case | None
    losses: list[Loss] = field(default_factory=list)
    error: str | None = None
    case_id: str | None = None
    #: the case fields that were read, also when they do not make a valid case (e.g. another
    #: producer's patient whose primary is not in the IVC): what *did* map stays visible
    fields: dict[str, Any] = field(default_factory=dict)

    def loss_report(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "ok": self.case is not None,
            "error": self.error,
            "losses": [loss.as_dict() for loss in self.losses],
        }


def case_from_bundle(bundle: dict[str, Any], *, source_system: str | None = None) -> CaseReadResult:
    """Read a collection/transaction/searchset Bundle holding one patient's resources."""
    items = [
        (e.get("fullUrl", ""), e["resource"]) for e in bundle.get("entry", []) if "resource" in e
    ]
    return read_case(items, source_system=source_system)


def _condition_kind(res: dict[str, Any]) -> str | None:
    profiles = profiles_of(res)
    if canonical.PRIMARY in profiles or (
        find_ext(res, canonical.HISTOLOGY_EXT) and not find_ext(res, canonical.RELATED_EXT)
    ):
        return "primary"
    if canonical.SECONDARY in profiles or find_ext(res, canonical.RELATED_EXT):
        return "metastasis"
    code = res.get("code")
    if C.METASTASIS_SITE.lookup(code):
        return "metastasis"
    if C.COMPLICATION.lookup(code) or has_code(code, C.POSTOPERATIVE_COMPLICATION):
        return "complication"
    if C.SYMPTOM.lookup(code):
        return "symptom"
    return None


def _kind(res: dict[str, Any]) -> str | None:
    """Which case element a resource carries: by profile first, then by its codes."""
    rtype = res.get("resourceType")
    if rtype == "Condition":
        return _condition_kind(res)
    if rtype == "BodyStructure":
        return "tumor" if tumor.is_primary_tumor(res) else "tumor-extension"
    if rtype == "Procedure":
        return proc.classify_procedure(res)
    if rtype == "Observation":
        return obs.classify_observation(res)
    if rtype == "MedicationAdministration":
        return "therapy"
    if rtype == "DiagnosticReport" and has_code(res.get("code"), C.PATHOLOGY_REPORT):
        return "pathology-report"
    if rtype == "Specimen":
        return "specimen"
    if rtype == "Medication":
        return "medication"
    return None


#: kind -> what its readers take from it; everything else in a used resource is a Loss
READ_SHAPES: dict[str, ReadShape] = {
    **patient_mapper.READ_SHAPES,
    **cond.READ_SHAPES,
    **tumor.READ_SHAPES,
    **proc.READ_SHAPES,
    **obs.READ_SHAPES,
    **measures.READ_SHAPES,
    **report.READ_SHAPES,
    **med.READ_SHAPES,
}

#: Statuses read as the fact the case record holds (a final result, a completed procedure);
#: any other status is reported, and ``entered-in-error`` resources are not read at all.
_FINAL_STATUS = {
    "Observation": ("final", frozenset({"final", "amended", "corrected"})),
    "DiagnosticReport": ("final", frozenset({"final", "amended", "corrected", "appended"})),
    "Procedure": ("completed", frozenset({"completed"})),
}

#: Fields whose model default would state a fact (leiomyosarcoma, histology-proven, curative…):
#: when the FHIR data do not state them, no case is made rather than one with invented facts.
_NO_DEFAULTS = {
    "diagnosis": ("histology", "icdo3_morphology", "basis"),
    "pathology": ("histologic_type", "icdo3_morphology"),
    "surgery": ("intent", "en_bloc"),
}

TUMOR_MORPHOLOGY = mcode("mcode-tumor-morphology")

#: Why a resource type that no reader takes has no place in the case record.
_NO_PLACE = {
    "MedicationRequest": "orders are not carried: the case record holds administered therapy "
    "(MedicationAdministration)",
    "MedicationStatement": "medication statements are not carried: the case record holds "
    "administered therapy (MedicationAdministration)",
    "Practitioner": "who treated the patient is not carried by the case record",
    "PractitionerRole": "who treated the patient is not carried by the case record",
    "Organization": "organizations are not carried by the case record",
    "Encounter": "encounters are not carried by the case record",
    "FamilyMemberHistory": "family history is not carried by the case record",
}


def _unreadable(rc: ReadContext, res: dict[str, Any]) -> bool:
    """Report and skip resources that must not be read: modifier extensions, entered-in-error."""
    rtype = res.get("resourceType")
    modifiers = res.get("modifierExtension") or []
    if modifiers:
        urls = ", ".join(str(m.get("url")) for m in modifiers if isinstance(m, dict))
        rc.lose(res, f"{rtype}.modifierExtension", f"not understood ({urls}): not read")
        return True
    if res.get("status") == "entered-in-error":
        rc.lose(res, f"{rtype}.status", "entered-in-error: not read")
        return True
    verification = res.get("verificationStatus")
    for code in ("entered-in-error", "refuted"):
        if rtype == "Condition" and has_code(verification, Code(CONDITION_VER_STATUS, code, "")):
            rc.lose(res, "Condition.verificationStatus", f"{code}: not read")
            return True
    return False


def read_case(
    items: Iterable[tuple[str, dict[str, Any]]], *, source_system: str | None = None
) -> CaseReadResult:
    """Read one patient's resources, given as (fullUrl or "Type/id", resource) pairs."""
    rc = ReadContext(list(items))
    patients = [r for _, r in rc.items if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        return CaseReadResult(None, rc.losses, f"expected one Patient, found {len(patients)}")
    patient = patients[0]
    rc.use(patient)
    system, case_id, patient_fields = from_fhir_patient(patient, source_system, rc)
    result = CaseReadResult(None, rc.losses, case_id=case_id)

    groups: dict[str, list[dict[str, Any]]] = {}
    kinds: dict[int, str] = {id(patient): "patient"}
    for _, res in rc.items:
        if res is patient:
            continue
        if _unreadable(rc, res):
            rc.use(res)
            continue
        kind = _kind(res)
        if kind is not None:
            groups.setdefault(kind, []).append(res)
            kinds[id(res)] = kind

    def take(kind: str) -> list[dict[str, Any]]:
        return rc.ordered(groups.get(kind, []))

    data: dict[str, Any] = {"case_id": case_id, "source_system": system}

    # diagnosis -----------------------------------------------------------------------------
    primaries = take("primary")
    for extra in primaries[1:]:
        rc.lose(extra, "Condition", "conflicting values: a second primary cancer condition")
        rc.use(extra)
    if primaries:
        primary = primaries[0]
        diagnosis = cond.from_fhir_primary_condition(rc, primary)
        age = cond.from_fhir_age(rc, primary)
        if age is not None:
            patient_fields["age_at_diagnosis_years"] = age
    else:
        diagnosis = {}
    patient_fields["inferred"] = rc.inferred("patient")
    data["patient"] = patient_fields
    for res in take("tumor"):
        rc.use(res)
    extensions = [
        s for s in (tumor.from_fhir_tumor_extension(rc, r) for r in take("tumor-extension")) if s
    ]
    diagnosis["intraluminal_extension"] = extensions
    diagnosis["organ_contact"] = [
        c for c in (obs.from_fhir_organ_contact(rc, r) for r in take("organ-contact")) if c
    ]
    data["diagnosis"] = diagnosis

    # presentation, imaging, markers, biopsy -----------------------------------------------------
    symptoms = [cond.from_fhir_symptom(rc, r) for r in take("symptom")]
    if symptoms:
        data["presentation"] = {
            "symptoms": symptoms,
            "inferred": rc.inferred("presentation"),
        }
    sizes = take("size-imaging")
    imaging = []
    for res in take("imaging"):
        study = proc.from_fhir_imaging(rc, res)
        obs.from_fhir_imaging_sizes(rc, study, res, sizes)
        if study.get("modality") is None:
            rc.lose(res, "Procedure.code", "imaging modality not in the case model")
            continue
        imaging.append(study)
    for size in sizes:  # other producers: a TumorSize without the imaging Procedure it is part of
        if id(size) not in rc.used:
            measured = obs.from_fhir_imaging_size(rc, size)
            if measured is not None:
                imaging.append(measured)
    data["imaging"] = imaging
    data["tumor_markers"] = [
        m for m in (obs.from_fhir_tumor_marker(rc, r) for r in take("tumor-markers")) if m
    ]
    biopsies = take("biopsy")
    if biopsies:
        data["biopsy"] = proc.from_fhir_biopsy(rc, biopsies[0])
        for extra in biopsies[1:]:
            rc.lose(extra, "Procedure", "conflicting values: a second biopsy")
            rc.use(extra)

    # surgery ------------------------------------------------------------------------------------
    surgeries = take("surgery")
    if surgeries:
        for extra in surgeries[1:]:
            rc.lose(extra, "Procedure", "conflicting values: a second index surgery")
            rc.use(extra)
        index = surgeries[0]
        subs = [
            r
            for r in take("surgery-part")
            if any(rc.refers_to(p, index) for p in r.get("partOf", []))
        ]
        surgery = proc.from_fhir_surgery(rc, index, subs)
        for res in take(measures.KIND):
            measure = measures.from_fhir_operative_measure(rc, res)
            if measure:
                field_name, amount = measure
                surgery[field_name] = amount
        surgery["complications"] = [
            cond.from_fhir_complication(rc, r) for r in take("complication")
        ]
        data["surgery"] = surgery

    # pathology ----------------------------------------------------------------------------------
    reports = take("pathology-report")
    pathology_kinds = (
        "histology",
        "grade",
        "size-pathology",
        "margin",
        "residual-tumor",
        "organ-infiltration",
    )
    if reports or any(groups.get(k) for k in pathology_kinds):
        pathology: dict[str, Any] = {}
        report.from_fhir_pathology_report(rc, reports, pathology)
        for res in take("specimen"):
            tumor.from_fhir_specimen(rc, res)
        for kind in pathology_kinds:
            for res in take(kind):
                obs.from_fhir_pathology_observation(rc, kind, res, pathology)
        pathology["inferred"] = rc.inferred("pathology")
        data["pathology"] = pathology

    # after surgery ------------------------------------------------------------------------------
    data["metastases"] = [
        m for m in (cond.from_fhir_metastasis(rc, r) for r in take("metastasis")) if m
    ]
    lines: dict[str, list[dict[str, Any]]] = {}
    for n, res in enumerate(take("therapy")):
        lines.setdefault(med.line_path(rc, res) or f"#{n}", []).append(res)
    data["systemic_therapy"] = [
        t for t in (med.from_fhir_systemic_therapy(rc, g) for g in lines.values()) if t
    ]
    data["therapy_not_given"] = [
        t for t in (proc.from_fhir_therapy_not_given(rc, r) for r in take("not-given")) if t
    ]
    visits: dict[str, list[dict[str, Any]]] = {}
    for n, res in enumerate(
        take("disease-status") + take("local-recurrence") + take("vital-status")
    ):
        key = rc.path(res) or str(res.get("effectiveDateTime") or f"#{n}")
        visits.setdefault(key, []).append(res)
    ordered_visits = sorted(visits.values(), key=lambda g: min(rc.sort_key(r) for r in g))
    data["follow_up"] = [
        f for f in (follow_up.from_fhir_follow_up(rc, g) for g in ordered_visits) if f
    ]
    if patient.get("deceasedBoolean") is not None and not any(
        "vital_status" in f for f in data["follow_up"]
    ):
        rc.lose(
            patient,
            "Patient.deceasedBoolean",
            "vital status is read from dated follow-up findings only; this one has no date",
        )

    _check_values(rc, kinds)
    _report_unused(rc)
    result.fields = _prune(data)
    if primaries:
        problems = _unstated_defaults(result.fields)
    else:
        problems = ["no primary cancer condition", *_unstated_defaults(result.fields, "pathology")]
    if problems:
        result.error = "; ".join(problems)
        return result
    try:
        result.case = Case.model_validate(result.fields)
    except ValidationError as exc:
        result.error = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return result


def _check_values(rc: ReadContext, kinds: dict[int, str]) -> None:
    """Element-level losses of the resources that were read: statuses and unread elements."""
    for _, res in rc.items:
        kind = kinds.get(id(res))
        if kind is None or id(res) not in rc.used:
            continue
        rtype = str(res.get("resourceType"))
        read_as, final = _FINAL_STATUS.get(rtype, ("", frozenset()))
        status = res.get("status")
        if read_as and kind != "not-given" and status is not None and status not in final:
            rc.lose(res, f"{rtype}.status", f"status {status!r} is not carried (read as {read_as})")
        shape = READ_SHAPES.get(kind)
        if shape is not None:
            rc.check_shape(res, shape)


def _unstated_defaults(fields: dict[str, Any], *sections: str) -> list[str]:
    """Facts the case model would fill in by default that the FHIR data do not state."""
    missing = []
    for section, names in _NO_DEFAULTS.items():
        if sections and section not in sections:
            continue
        values = fields.get(section)
        if not isinstance(values, dict):
            continue
        missing += [f"{section}.{name}" for name in names if name not in values]
    if not missing:
        return []
    return [
        f"{', '.join(missing)}: not stated in the FHIR data (the case model's defaults are "
        "not assumed)"
    ]


def _no_place(res: dict[str, Any]) -> str:
    """Why ``res`` (read by no reader) has no place in the case record."""
    rtype = str(res.get("resourceType"))
    profiles = ", ".join(p.rsplit("/", 1)[-1] for p in profiles_of(res)) or "no profile"
    if rtype in _NO_PLACE:
        return f"{rtype} ({profiles}) has no place in the case record: {_NO_PLACE[rtype]}"
    if TUMOR_MORPHOLOGY in profiles_of(res):
        return (
            f"Observation ({profiles}) only groups the histology and grade observations "
            "(hasMember), which are read on their own"
        )
    code = res.get("code")
    if isinstance(code, dict) and rtype in (
        "Condition",
        "Observation",
        "Procedure",
        "DiagnosticReport",
    ):
        what = {
            "Condition": "neither the primary cancer, a metastasis, a symptom nor a complication "
            "the case model carries",
            "Observation": "not an observation the case model carries",
            "Procedure": "not a procedure the case model carries (IVC resection and its parts, "
            "imaging, biopsy, therapy not given)",
            "DiagnosticReport": "not the surgical pathology report (LOINC 11526-1)",
        }[rtype]
        return f"{rtype} ({profiles}) coded {show_code(code)}: {what}"
    if rtype == "Specimen":
        return f"Specimen ({profiles}): no pathology in the case record to attach it to"
    if rtype == "BodyStructure":
        return f"BodyStructure ({profiles}): no primary cancer condition to attach it to"
    return f"{rtype} ({profiles}) has no place in the case model"


def _report_unused(rc: ReadContext) -> None:
    already = {loss.resource for loss in rc.losses}
    for res in rc.unused():
        name = rc.name(res)
        if name not in already:
            rc.lose(res, "", _no_place(res))


def _prune(value: Any) -> Any:
    """Drop None values and empty 'inferred' lists so model defaults apply."""
    if isinstance(value, dict):
        return {
            k: _prune(v)
            for k, v in value.items()
            if v is not None and not (k == "inferred" and not v)
        }
    if isinstance(value, list):
        return [_prune(v) for v in value]
    if isinstance(value, BaseModel):  # time points read by the element readers
        return value.model_dump(mode="json", exclude_none=True)
    return value
