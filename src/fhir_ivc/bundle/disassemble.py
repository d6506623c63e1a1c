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

from fhir_ivc.fhir.datetimes import read_time
from fhir_ivc.fhir.elements import find_ext, has_code
from fhir_ivc.mappers import condition as cond
from fhir_ivc.mappers import medication as med
from fhir_ivc.mappers import observation as obs
from fhir_ivc.mappers import procedure as proc
from fhir_ivc.mappers import tumor
from fhir_ivc.mappers._read import Loss, ReadContext, profiles_of
from fhir_ivc.mappers.patient import from_fhir_patient
from fhir_ivc.model import Case
from fhir_ivc.terminology import codes as C  # noqa: N812 - as in the mappers

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
    if cond.PRIMARY in profiles or (
        find_ext(res, cond.HISTOLOGY_EXT) and not find_ext(res, cond.RELATED_EXT)
    ):
        return "primary"
    if cond.SECONDARY in profiles or find_ext(res, cond.RELATED_EXT):
        return "metastasis"
    code = res.get("code")
    if C.METASTASIS_SITE.lookup(code):
        return "metastasis"
    if C.COMPLICATION.lookup(code) or has_code(code, C.POSTOPERATIVE_COMPLICATION):
        return "complication"
    if C.SYMPTOM.lookup(code):
        return "symptom"
    return None


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
    system, case_id, patient_fields = from_fhir_patient(patient, source_system)
    result = CaseReadResult(None, rc.losses, case_id=case_id)

    groups: dict[str, list[dict[str, Any]]] = {}
    for _, res in rc.items:
        rtype = res.get("resourceType")
        kind: str | None = None
        if rtype == "Condition":
            kind = _condition_kind(res)
        elif rtype == "BodyStructure":
            kind = "tumor" if tumor.is_primary_tumor(res) else "tumor-extension"
        elif rtype == "Procedure":
            kind = proc.classify_procedure(res)
        elif rtype == "Observation":
            kind = obs.classify_observation(res)
        elif rtype == "MedicationAdministration":
            kind = "therapy"
        elif rtype == "DiagnosticReport" and (
            has_code(res.get("code"), C.PATHOLOGY_REPORT) or res.get("specimen")
        ):
            kind = "pathology-report"
        elif rtype == "Specimen":
            kind = "specimen"
        if kind is not None:
            groups.setdefault(kind, []).append(res)

    def take(kind: str) -> list[dict[str, Any]]:
        return rc.ordered(groups.get(kind, []))

    data: dict[str, Any] = {"case_id": case_id, "source_system": system}

    # diagnosis -----------------------------------------------------------------------------
    primaries = take("primary")
    if not primaries:
        result.error = "no primary cancer condition"
        _report_unused(rc)
        result.fields = _prune(data)
        return result
    for extra in primaries[1:]:
        rc.lose(extra, "Condition", "conflicting values: a second primary cancer condition")
    primary = primaries[0]
    diagnosis = cond.from_fhir_primary_condition(rc, primary)
    age = cond.from_fhir_age(rc, primary)
    if age is not None:
        patient_fields["age_at_diagnosis_years"] = age
    patient_fields["inferred"] = rc.inferred("patient")
    data["patient"] = patient_fields
    for res in take("tumor"):
        rc.use(res)
    extensions = [
        s for s in (tumor.from_fhir_tumor_extension(rc, r) for r in take("tumor-extension")) if s
    ]
    diagnosis["intraluminal_extension"] = extensions
    diagnosis["organ_contact"] = []
    for res in take("organ-contact"):
        organ = C.ORGAN.lookup(res.get("bodySite"))
        if organ is None:
            rc.lose(res, "Observation.bodySite", "organ not in the case model")
            continue
        rc.use(res)
        diagnosis["organ_contact"].append(rc.item(res, {"organ": organ}, ("organ",)))
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
        for size in sizes:
            if any(rc.refers_to(p, res) for p in size.get("partOf", [])):
                rc.use(size)
                study["dimensions_cm"] = obs.size_dimensions(rc, size)
                focus = rc.resolve(next(iter(size.get("focus", [])), None))
                if focus is not None and not tumor.is_primary_tumor(focus):
                    study["target"] = "intraluminal-extension"
        if study.get("modality") is None:
            rc.lose(res, "Procedure.code", "imaging modality not in the case model")
            continue
        imaging.append(study)
    data["imaging"] = imaging
    markers = []
    for res in take("tumor-markers"):
        value = C.FINDING.lookup(res.get("valueCodeableConcept"))
        if value is None:
            rc.lose(res, "Observation.value[x]", "tumor marker result not negative/positive")
            continue
        rc.use(res)
        marker: dict[str, Any] = {"result": value}
        if res.get("code", {}).get("text"):
            marker["name"] = res["code"]["text"]
        when = read_time(res, "effectiveDateTime")
        if when:
            marker["when"] = when
        markers.append(rc.item(res, marker, ("name", "result", "when")))
    data["tumor_markers"] = markers
    biopsies = take("biopsy")
    if biopsies:
        data["biopsy"] = proc.from_fhir_biopsy(rc, biopsies[0])
        for extra in biopsies[1:]:
            rc.lose(extra, "Procedure", "conflicting values: a second biopsy")

    # surgery ------------------------------------------------------------------------------------
    surgeries = take("surgery")
    if surgeries:
        for extra in surgeries[1:]:
            rc.lose(extra, "Procedure", "conflicting values: a second index surgery")
        index = surgeries[0]
        subs = [
            r
            for r in take("surgery-part")
            if any(rc.refers_to(p, index) for p in r.get("partOf", []))
        ]
        surgery = proc.from_fhir_surgery(rc, index, subs)
        for res in take("operative-measure"):
            measure = obs.from_fhir_operative_measure(rc, res)
            if measure:
                field_name, amount = measure
                surgery[field_name] = (
                    int(amount) if field_name == "postoperative_stay_days" else amount
                )
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
        for res in reports[:1]:
            rc.use(res)
            if res.get("conclusion"):
                pathology["conclusion"] = res["conclusion"]
        for res in take("specimen"):
            rc.use(res)
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
    data["follow_up"] = [f for f in (obs.from_fhir_follow_up(rc, g) for g in ordered_visits) if f]

    _report_unused(rc)
    result.fields = _prune(data)
    try:
        result.case = Case.model_validate(result.fields)
    except ValidationError as exc:
        result.error = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return result


def _report_unused(rc: ReadContext) -> None:
    for res in rc.unused():
        already = {loss.resource for loss in rc.losses}
        name = rc.name(res)
        if name not in already:
            profiles = ", ".join(profiles_of(res)) or "no profile"
            rc.lose(
                res, "", f"{res.get('resourceType')} ({profiles}) has no place in the case model"
            )


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
