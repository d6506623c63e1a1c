"""Conditions: the primary cancer, presenting symptoms, metastases, surgical complications.

Profiles: mCODE PrimaryCancerCondition and SecondaryCancerCondition; symptoms and complications
are plain Conditions (problem-list items) linked with the R4 core ``condition-dueTo`` extension.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.datetimes import read_time, time_fields
from fhir_ivc.fhir.elements import codings, concept, ext, find_ext, find_exts, has_code, quantity
from fhir_ivc.mappers._context import MapContext, core, keyed
from fhir_ivc.mappers._read import ICDO3_MORPHOLOGY, ReadContext, ReadShape, show_code
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import (
    ASSERTED_DATE_EXT,
    CLAVIEN_DINDO_EXT,
    DUE_TO_EXT,
    HISTOLOGY_EXT,
    LOCATION_QUALIFIER_EXT,
    PRIMARY,
    RELATED_EXT,
    SECONDARY,
)
from fhir_ivc.terminology import codes as C
from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import (
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VER_STATUS,
    ICDO3,
)

__all__ = [
    "ELEMENTS",
    "to_fhir_complications",
    "to_fhir_metastases",
    "to_fhir_primary_condition",
    "to_fhir_symptoms",
]


_ACTIVE = Code(CONDITION_CLINICAL, "active", "Active")
_CONFIRMED = Code(CONDITION_VER_STATUS, "confirmed", "Confirmed")
_ONSETS = ("onsetDateTime", "onsetPeriod", "onsetRange", "onsetString")
#: The codes ``to_fhir_primary_condition`` writes into Condition.code (mCODE style A)
_PRIMARY_CODES = frozenset((c.system, c.code) for c in (C.MALIGNANT_NEOPLASM, C.ICD10CM_PRIMARY))


def _status(category: str) -> dict[str, Any]:
    """Status and category. Cancers are problem-list items, clinically ``active`` (the
    case model has no clinical status, active is the documented default while disease
    persists). Symptoms and complications are encounter diagnoses with no clinical status: the
    report does not say whether they resolved, and none is invented."""
    out: dict[str, Any] = {}
    if category == "problem-list-item":
        out["clinicalStatus"] = {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]}
    out["verificationStatus"] = {"coding": [{"system": CONDITION_VER_STATUS, "code": "confirmed"}]}
    out["category"] = [{"coding": [{"system": CONDITION_CATEGORY, "code": category}]}]
    return out


def ivc_body_site(segments: list[str]) -> dict[str, Any]:
    """The IVC as body site, one location-qualifier extension per segment."""
    return {
        "extension": [
            ext(LOCATION_QUALIFIER_EXT, valueCodeableConcept=C.IVC_SEGMENT.concept(s))
            for s in segments
        ],
        **concept(C.IVC_STRUCTURE),
    }


def histology_concept(morphology: str, text: str) -> dict[str, Any]:
    value = C.icdo3_morphology(morphology, text)
    if morphology == "8890/3":
        value["coding"].append(C.LEIOMYOSARCOMA_SNOMED.coding())
    return value


def primary_text(histology: str) -> str:
    """``Condition.code.text`` of the primary as ``to_fhir_primary_condition`` makes it."""
    return f"{histology} of the inferior vena cava"


def to_fhir_primary_condition(ctx: MapContext) -> None:
    """PrimaryCancerCondition, mCODE style A (generic disorder + histology + topography)."""
    case = ctx.case
    dx = case.diagnosis
    extensions = [
        ext(
            HISTOLOGY_EXT, valueCodeableConcept=histology_concept(dx.icdo3_morphology, dx.histology)
        )
    ]
    if dx.when is not None:
        asserted = time_fields("valueDateTime", dx.when, ctx.surgery_ref)
        extensions.append(ext(ASSERTED_DATE_EXT, **asserted))
    evidence: dict[str, Any] = {"code": [C.EVIDENCE_TYPE.concept(dx.basis)]}
    if case.pathology is not None:
        evidence["detail"] = [ctx.ref("pathology.report")]
    elif case.biopsy is not None:
        evidence["detail"] = [ctx.ref("biopsy")]
    body: dict[str, Any] = {
        "extension": extensions,
        **_status("problem-list-item"),
        "code": concept(
            C.MALIGNANT_NEOPLASM,
            C.ICD10CM_PRIMARY,
            text=f"{dx.histology} of the inferior vena cava",
        ),
        "bodySite": [ivc_body_site(list(dx.ivc_segments))],
        "subject": ctx.ref("patient"),
    }
    if case.patient.age_at_diagnosis_years is not None:
        body["onsetAge"] = quantity(case.patient.age_at_diagnosis_years, "a")
    body["evidence"] = [evidence]
    ctx.add(
        "condition.primary",
        "diagnosis",
        "Condition",
        body,
        profile=PRIMARY,
        facts=[
            (dx, "diagnosis"),
            (case.patient, "patient"),
        ],
    )


def to_fhir_symptoms(ctx: MapContext) -> None:
    presentation = ctx.case.presentation
    if presentation is None:
        return
    for path, key, symptom in keyed(presentation.symptoms, "presentation.symptoms"):
        ctx.add(
            f"symptom.{key}",
            path,
            "Condition",
            {
                "extension": [ext(DUE_TO_EXT, valueReference=ctx.ref("condition.primary"))],
                **_status("encounter-diagnosis"),
                "code": C.SYMPTOM.concept(symptom.kind, symptom.text),
                "subject": ctx.ref("patient"),
            },
            facts=[
                (symptom, path),
                (presentation, "presentation"),
            ],
        )


def to_fhir_metastases(ctx: MapContext) -> None:
    case = ctx.case
    for path, key, met in keyed(case.metastases, "metastases"):
        body: dict[str, Any] = {
            "extension": [ext(RELATED_EXT, valueReference=ctx.ref("condition.primary"))],
            **_status("problem-list-item"),
            "code": C.METASTASIS_SITE.concept(met.site),
            "bodySite": [C.METASTASIS_BODY_SITE.concept(met.site)],
            "subject": ctx.ref("patient"),
            **time_fields("onsetDateTime", met.detected, ctx.surgery_ref),
        }
        ctx.add(
            f"metastasis.{key}",
            path,
            "Condition",
            body,
            profile=SECONDARY,
            facts=[(met, path)],
        )


def to_fhir_complications(ctx: MapContext) -> None:
    surgery = ctx.case.surgery
    if surgery is None:
        return
    for path, key, comp in keyed(surgery.complications, "surgery.complications"):
        extensions = [ext(DUE_TO_EXT, valueReference=ctx.ref("surgery"))]
        if comp.clavien_dindo:
            extensions.append(
                ext(
                    CLAVIEN_DINDO_EXT,
                    valueCodeableConcept=C.CLAVIEN_DINDO.concept(comp.clavien_dindo),
                )
            )
        code = C.COMPLICATION.concept(comp.kind, comp.text)
        code["coding"].insert(0, C.POSTOPERATIVE_COMPLICATION.coding())
        body: dict[str, Any] = {
            "extension": extensions,
            **_status("encounter-diagnosis"),
            "code": code,
            "subject": ctx.ref("patient"),
        }
        if comp.management:
            body["note"] = [{"text": comp.management}]
        ctx.add(f"surgery.complication.{key}", path, "Condition", body, facts=[(comp, path)])


# --- FHIR -> case ------------------------------------------------------------------------------

#: What the readers take from each kind of Condition (``read_case`` reports the rest as Losses).
_STATED = ("clinicalStatus", "verificationStatus", "category", "code", "subject")
READ_SHAPES = {
    "primary": ReadShape.of(
        (*_STATED, "bodySite", "onsetAge", *_ONSETS, "evidence.code", "evidence.detail"),
        (HISTOLOGY_EXT, ASSERTED_DATE_EXT),
    ),
    "symptom": ReadShape.of(_STATED, (DUE_TO_EXT,)),
    "complication": ReadShape.of(
        ("verificationStatus", "category", "code", "subject", "note"),
        (DUE_TO_EXT, CLAVIEN_DINDO_EXT),
    ),
    "metastasis": ReadShape.of((*_STATED, "bodySite", "onsetDateTime"), (RELATED_EXT,)),
}


def _check_status(rc: ReadContext, res: dict[str, Any], *, clinical: bool) -> None:
    """Statuses the case record does not hold: a cancer is read as active and confirmed."""
    status = res.get("clinicalStatus")
    if clinical and status is not None and not has_code(status, _ACTIVE):
        rc.lose(
            res, "Condition.clinicalStatus", f"{show_code(status)} is not carried (read as active)"
        )
    verification = res.get("verificationStatus")
    if verification is not None and not has_code(verification, _CONFIRMED):
        rc.lose(
            res,
            "Condition.verificationStatus",
            f"{show_code(verification)} is not carried (read as confirmed)",
        )


def icdo3_of(
    rc: ReadContext, res: dict[str, Any], element: str, value: Any
) -> tuple[str, str] | None:
    """``(code, histology text)`` of an ICD-O-3 coded value; a Loss when there is none.

    The text is the concept's text, else the ICD-O-3 display. Morphology coded in SNOMED only
    (mCODE allows either) is reported: the case model holds ICD-O-3.
    """
    icdo = next((c for c in codings(value) if c.get("system") == ICDO3), None)
    if icdo is None:
        rc.lose(
            res,
            element,
            f"morphology {show_code(value)} has no ICD-O-3 code (the case model holds ICD-O-3)",
        )
        return None
    code = str(icdo.get("code", ""))
    if not ICDO3_MORPHOLOGY.match(code):
        rc.lose(res, element, f"ICD-O-3 code {code!r} is not a morphology/behavior code (NNNN/B)")
        return None
    text = (value or {}).get("text") or icdo.get("display") or ""
    return code, str(text)


def from_fhir_primary_condition(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any]:
    """Diagnosis fields (and the age at diagnosis) from a PrimaryCancerCondition."""
    rc.use(res)
    _check_status(rc, res, clinical=True)
    out: dict[str, Any] = {}
    histology = find_ext(res, HISTOLOGY_EXT)
    if histology is None:
        rc.lose(res, "Condition.extension[histologyMorphologyBehavior]", "no histology given")
    else:
        morphology = icdo3_of(
            rc,
            res,
            "Condition.extension[histologyMorphologyBehavior]",
            histology.get("valueCodeableConcept"),
        )
        if morphology is not None:
            out["icdo3_morphology"] = morphology[0]
            if morphology[1]:
                out["histology"] = morphology[1]
    code = res.get("code") or {}
    for coding in codings(code):
        if (coding.get("system"), coding.get("code")) not in _PRIMARY_CODES:
            rc.lose(
                res,
                "Condition.code",
                f"diagnosis code {show_code({'coding': [coding]})} is not carried: the case "
                "record holds the cancer as ICD-O-3 morphology and IVC segments",
            )
    if code.get("text") and "histology" in out and code["text"] != primary_text(out["histology"]):
        rc.lose(res, "Condition.code.text", "not carried (the text is made from the histology)")
    segments: list[str] = []
    if not res.get("bodySite"):
        rc.lose(res, "Condition.bodySite", "no body site: the case model needs the IVC segments")
    for site in res.get("bodySite", []):
        if not has_code(site, C.IVC_STRUCTURE):
            rc.lose(res, "Condition.bodySite", f"body site is not the IVC: {_show(site)}")
            continue
        for q in find_exts(site, LOCATION_QUALIFIER_EXT):
            seg = C.IVC_SEGMENT.lookup(q.get("valueCodeableConcept"))
            if seg is None:
                rc.lose(res, "Condition.bodySite.extension[locationQualifier]", "unknown qualifier")
            elif seg not in segments:
                segments.append(seg)
    out["ivc_segments"] = segments
    for ev in res.get("evidence", []):
        for code in ev.get("code", []):
            basis = C.EVIDENCE_TYPE.lookup(code)
            if basis:
                out["basis"] = basis
            else:
                rc.lose(
                    res,
                    "Condition.evidence.code",
                    f"evidence {show_code(code)} not in the case model",
                )
    asserted = find_ext(res, ASSERTED_DATE_EXT)
    if asserted:
        when = read_time(asserted, "valueDateTime")
        if when:
            out["when"] = when
    for onset in _ONSETS:
        if onset in res or f"_{onset}" in res:
            rc.lose(
                res,
                f"Condition.{onset}",
                "the onset is not the date of diagnosis, which is read from the "
                "condition-assertedDate extension (diagnosis.when)",
            )
    out["inferred"] = rc.inferred(rc.path(res))
    return out


def from_fhir_age(rc: ReadContext, res: dict[str, Any]) -> int | None:
    age = res.get("onsetAge")
    if not age:
        return None
    if age.get("code") != "a":
        rc.lose(res, "Condition.onsetAge", f"age unit {age.get('code')!r} is not years")
        return None
    return int(age["value"])


def from_fhir_symptom(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any]:
    rc.use(res)
    _check_status(rc, res, clinical=False)
    if res.get("clinicalStatus"):
        rc.lose(res, "Condition.clinicalStatus", "a symptom's clinical status is not carried")
    kind = C.SYMPTOM.lookup(res.get("code")) or "other"
    text = res.get("code", {}).get("text")
    out: dict[str, Any] = {"kind": kind}
    if text:
        out["text"] = text
    if kind == "other" and not text:
        out["text"] = _show(res.get("code"))
    return rc.item(res, out, ("kind", "text"))


def from_fhir_metastasis(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any] | None:
    site = C.METASTASIS_SITE.lookup(res.get("code"))
    if site is None:
        for body_site in res.get("bodySite", []):
            site = site or C.METASTASIS_BODY_SITE.lookup(body_site)
    if site is None:
        rc.lose(
            res,
            "Condition.code",
            f"metastasis site not in the case model: {show_code(res.get('code'))}",
        )
        return None
    rc.use(res)
    _check_status(rc, res, clinical=True)
    out: dict[str, Any] = {"site": site}
    detected = read_time(res, "onsetDateTime")
    if detected:
        out["detected"] = detected
    return rc.item(res, out, ("site", "detected"))


def from_fhir_complication(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any]:
    rc.use(res)
    _check_status(rc, res, clinical=False)
    kind = C.COMPLICATION.lookup(res.get("code")) or "other"
    out: dict[str, Any] = {"kind": kind}
    text = res.get("code", {}).get("text")
    if text:
        out["text"] = text
    elif kind == "other":
        out["text"] = _show(res.get("code"))
    grade = find_ext(res, CLAVIEN_DINDO_EXT)
    if grade:
        out["clavien_dindo"] = C.CLAVIEN_DINDO.lookup(grade.get("valueCodeableConcept"))
    notes = res.get("note", [])
    if notes:
        out["management"] = notes[0].get("text")
    return rc.item(res, out, ("kind", "text", "clavien_dindo", "management"))


def _show(cc: Any) -> str:
    """A short human label of a CodeableConcept for messages."""
    if not isinstance(cc, dict):
        return "<none>"
    if cc.get("text"):
        return str(cc["text"])
    first: dict[str, Any] = next(iter(cc.get("coding", [])), {})
    return f"{first.get('system', '')}|{first.get('code', '')} {first.get('display', '')}".strip()


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_primary_condition = Rows(
    "Condition", PRIMARY, to_fhir_primary_condition, from_fhir_primary_condition
)
_symptoms = Rows("Condition", core("Condition"), to_fhir_symptoms, from_fhir_symptom)
_metastases = Rows("Condition", SECONDARY, to_fhir_metastases, from_fhir_metastasis)
_complications = Rows("Condition", core("Condition"), to_fhir_complications, from_fhir_complication)

ELEMENTS: tuple[ElementMap, ...] = (
    _primary_condition.row(
        "diagnosis.icdo3_morphology",
        "extension[histologyMorphologyBehavior]",
        note="ICD-O-3; SNOMED 1163022006 added for 8890/3",
    ),
    _primary_condition.row("diagnosis.histology", "extension[histologyMorphologyBehavior].text"),
    _primary_condition.row(
        "diagnosis.ivc_segments",
        "bodySite (IVC 64131007).extension[locationQualifier]",
        note="SNOMED upper/middle/lower qualifier + local ivc-segment coding",
    ),
    _primary_condition.row("diagnosis.basis", "evidence.code"),
    _primary_condition.row("diagnosis.when", "extension[condition-assertedDate]"),
    _primary_condition.row("patient.age_at_diagnosis_years", "onsetAge (a)"),
    _symptoms.row("presentation.symptoms[].kind", "code"),
    _symptoms.row("presentation.symptoms[].text", "code.text"),
    _metastases.row("metastases[].site", "code + bodySite"),
    _metastases.row("metastases[].detected", "onsetDateTime (or relative)"),
    _complications.row("surgery.complications[].kind", "code"),
    _complications.row("surgery.complications[].text", "code.text"),
    _complications.row("surgery.complications[].clavien_dindo", "extension[clavien-dindo-grade]"),
    _complications.row("surgery.complications[].management", "note"),
)
