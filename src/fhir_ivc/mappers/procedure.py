"""Procedures: imaging, biopsy, the index surgery and its sub-procedures, therapies not given.

The index surgery is an mCODE CancerRelatedSurgicalProcedure; approach steps, associated
resections and the IVC management are CancerRelatedSurgicalProcedures too, ``partOf`` the index.
Imaging and biopsy are plain R4 Procedures.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.datetimes import read_time, time_fields
from fhir_ivc.fhir.elements import concept, data_absent, ext, find_ext, find_exts, has_code
from fhir_ivc.mappers._context import MapContext, core, keyed
from fhir_ivc.mappers._read import ReadContext, ReadShape
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import (
    CONTRAST_EXT,
    DECISION_EXT,
    INTENT_EXT,
    IVC_MANAGEMENT_PROFILE,
    LATERALITY_EXT,
    LOCATION_QUALIFIER_EXT,
    PROCEDURE_METHOD_EXT,
    RESECTION_EXTENT_EXT,
    SETTING_EXT,
    SURGICAL,
)
from fhir_ivc.mappers.condition import ivc_body_site
from fhir_ivc.model import CaseModel, item_keys
from fhir_ivc.terminology import codes as C

__all__ = [
    "ELEMENTS",
    "to_fhir_biopsy",
    "to_fhir_imaging_procedures",
    "to_fhir_surgery",
    "to_fhir_therapy_not_given",
]


_P = SURGICAL


def _performed(ctx: MapContext, when: Any) -> dict[str, Any]:
    fields = time_fields("performedDateTime", when, ctx.surgery_ref)
    return fields or {"_performedDateTime": {"extension": [data_absent()]}}


def _common(ctx: MapContext) -> dict[str, Any]:
    return {"subject": ctx.ref("patient")}


def to_fhir_imaging_procedures(ctx: MapContext) -> None:
    for path, key, study in keyed(ctx.case.imaging, "imaging"):
        body: dict[str, Any] = {}
        if study.contrast is not None:
            body["extension"] = [ext(CONTRAST_EXT, valueBoolean=study.contrast)]
        body |= {
            "status": "completed",
            "code": C.IMAGING_MODALITY.concept(study.modality),
            **_common(ctx),
            **_performed(ctx, study.when),
            "reasonReference": [ctx.ref("condition.primary")],
        }
        if study.region:
            body["bodySite"] = [{"text": study.region}]
        if study.findings:
            body["note"] = [{"text": study.findings}]
        ctx.add(f"imaging.{key}", path, "Procedure", body, facts=[(study, path)])


def to_fhir_biopsy(ctx: MapContext) -> None:
    biopsy = ctx.case.biopsy
    if biopsy is None:
        return
    ctx.add(
        "biopsy",
        "biopsy",
        "Procedure",
        {
            "extension": [
                ext(
                    PROCEDURE_METHOD_EXT,
                    valueCodeableConcept=C.BIOPSY_METHOD.concept(biopsy.method),
                )
            ],
            "status": "completed",
            "code": concept(C.BIOPSY),
            **_common(ctx),
            **_performed(ctx, biopsy.when),
            "reasonReference": [ctx.ref("condition.primary")],
            "outcome": {"text": biopsy.result},
        },
        facts=[(biopsy, "biopsy")],
    )


def to_fhir_surgery(ctx: MapContext) -> None:
    """The index operation and its sub-procedures."""
    case = ctx.case
    surgery = case.surgery
    if surgery is None:
        return
    extensions = [
        ext(INTENT_EXT, valueCodeableConcept=C.PROCEDURE_INTENT.concept(surgery.intent)),
    ]
    if surgery.resection_extent:
        extensions.append(
            ext(
                RESECTION_EXTENT_EXT,
                valueCodeableConcept=C.RESECTION_EXTENT.concept(surgery.resection_extent),
            )
        )
    segments = ", ".join(surgery.resected_segments)
    body: dict[str, Any] = {
        "extension": extensions,
        "status": "completed",
        "code": C.IVC_PROCEDURE.concept(
            surgery.en_bloc,
            f"{'En bloc resection' if surgery.en_bloc else 'Resection'} of the {segments} "
            f"IVC segment{'s' if len(surgery.resected_segments) > 1 else ''}",
        ),
        **_common(ctx),
    }
    body |= {"performedDateTime": surgery.date} if surgery.date else _performed(ctx, None)
    body["reasonReference"] = [ctx.ref("condition.primary")]
    body["bodySite"] = [ivc_body_site(list(surgery.resected_segments))]
    if case.pathology is not None:
        body["report"] = [ctx.ref("pathology.report")]
    complication_keys = item_keys(surgery.complications)
    if complication_keys:
        body["complicationDetail"] = [
            ctx.ref(f"surgery.complication.{k}") for k in complication_keys
        ]
    if surgery.notes:
        body["note"] = [{"text": n} for n in surgery.notes]
    ctx.add("surgery", "surgery", "Procedure", body, profile=SURGICAL, facts=[(surgery, "surgery")])

    def sub(
        key: str,
        path: str,
        item: CaseModel,
        code: dict[str, Any],
        extra: dict[str, Any],
        profile: str = SURGICAL,
    ) -> None:
        """A sub-procedure of the index surgery (``partOf``), carrying the facts of ``item``."""
        sub_body: dict[str, Any] = {
            "extension": [extensions[0]],
            "partOf": [ctx.ref("surgery")],
            "status": "completed",
            "code": code,
            **_common(ctx),
        }
        sub_body |= {"performedDateTime": surgery.date} if surgery.date else _performed(ctx, None)
        sub_body["reasonReference"] = [ctx.ref("condition.primary")]
        for name, value in extra.items():
            if name == "extension":
                sub_body["extension"] = sub_body["extension"] + value
            else:
                sub_body[name] = value
        ctx.add(key, path, "Procedure", sub_body, profile=profile, facts=[(item, path)])

    for path, key, step in keyed(surgery.approach, "surgery.approach"):
        extra: dict[str, Any] = {"note": [{"text": step.detail}]} if step.detail else {}
        sub(f"surgery.step.{key}", path, step, C.SURGICAL_STEP.concept(step.kind), extra)

    resections = surgery.associated_resections
    for path, key, res in keyed(resections, "surgery.associated_resections"):
        extra = {}
        site = C.resection_site(res.kind, res.side)
        if res.side:
            site["extension"] = [
                ext(LATERALITY_EXT, valueCodeableConcept=C.LATERALITY.concept(res.side))
            ]
        if site:
            extra["bodySite"] = [site]
        if res.reason:
            extra["reasonCode"] = [{"text": res.reason}]
        if res.detail:
            extra["note"] = [{"text": res.detail}]
        code = C.ASSOCIATED_RESECTION.concept(res.kind)
        sub(f"surgery.resection.{key}", path, res, code, extra)

    managed = surgery.ivc_management
    for path, key, mgmt in keyed(managed, "surgery.ivc_management"):
        extra = {}
        if mgmt.decided:
            extra["extension"] = [
                ext(DECISION_EXT, valueCodeableConcept=C.MANAGEMENT_DECISION.concept(mgmt.decided))
            ]
        extra["bodySite"] = [concept(C.IVC_STRUCTURE)]
        if mgmt.detail:
            extra["note"] = [{"text": mgmt.detail}]
        if mgmt.graft_material:
            extra["usedCode"] = [C.GRAFT_MATERIAL.concept(mgmt.graft_material)]
        code = C.IVC_MANAGEMENT.concept(mgmt.method)
        sub(f"surgery.ivc.{key}", path, mgmt, code, extra, profile=IVC_MANAGEMENT_PROFILE)


def to_fhir_therapy_not_given(ctx: MapContext) -> None:
    items = ctx.case.therapy_not_given
    for path, key, item in keyed(items, "therapy_not_given"):
        body: dict[str, Any] = {
            "extension": [
                ext(SETTING_EXT, valueCodeableConcept=C.THERAPY_SETTING.concept(item.setting))
            ],
            "status": "not-done",
        }
        if item.reason:
            body["statusReason"] = {"text": item.reason}
        body |= {
            "code": C.NOT_GIVEN_THERAPY.concept(item.therapy),
            **_common(ctx),
            "reasonReference": [ctx.ref("condition.primary")],
        }
        ctx.add(f"not-given.{key}", path, "Procedure", body, facts=[(item, path)])


# --- FHIR -> case ------------------------------------------------------------------------------

_PROCEDURE = ("status", "code", "subject", "performedDateTime", "reasonReference")
#: What the readers take from each kind of Procedure (``read_case`` reports the rest).
READ_SHAPES = {
    "imaging": ReadShape.of((*_PROCEDURE, "bodySite", "note"), (CONTRAST_EXT,)),
    "biopsy": ReadShape.of((*_PROCEDURE, "outcome"), (PROCEDURE_METHOD_EXT,)),
    "surgery": ReadShape.of(
        (*_PROCEDURE, "bodySite", "report", "complicationDetail", "note"),
        (INTENT_EXT, RESECTION_EXTENT_EXT),
    ),
    "surgery-part": ReadShape.of(
        (*_PROCEDURE, "partOf", "reasonCode", "bodySite", "note", "usedCode"),
        (INTENT_EXT, DECISION_EXT),
    ),
    "not-given": ReadShape.of(
        ("status", "statusReason", "code", "subject", "reasonReference"), (SETTING_EXT,)
    ),
}


def _notes(res: dict[str, Any]) -> list[str]:
    return [n["text"] for n in res.get("note", []) if n.get("text")]


def _ext_code(res: dict[str, Any], url: str, table: Any) -> Any:
    found = find_ext(res, url)
    return table.lookup(found.get("valueCodeableConcept")) if found else None


def from_fhir_imaging(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any]:
    """Imaging study fields from its Procedure (the size comes from the TumorSize)."""
    rc.use(res)
    out: dict[str, Any] = {"modality": C.IMAGING_MODALITY.lookup(res.get("code"))}
    contrast = find_ext(res, CONTRAST_EXT)
    if contrast is not None:
        out["contrast"] = contrast.get("valueBoolean")
    sites = res.get("bodySite", [])
    if sites and sites[0].get("text"):
        out["region"] = sites[0]["text"]
    notes = _notes(res)
    if notes:
        out["findings"] = notes[0]
    when = read_time(res, "performedDateTime")
    if when:
        out["when"] = when
    return rc.item(res, out, ("modality", "contrast", "region", "findings", "when", "target"))


def from_fhir_biopsy(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any] | None:
    method = _ext_code(res, PROCEDURE_METHOD_EXT, C.BIOPSY_METHOD)
    result = (res.get("outcome") or {}).get("text")
    if method is None or not result:
        rc.lose(res, "Procedure", "biopsy without a known method or a result text")
        return None
    rc.use(res)
    out: dict[str, Any] = {"method": method, "result": result}
    when = read_time(res, "performedDateTime")
    if when:
        out["when"] = when
    out["inferred"] = rc.inferred(rc.path(res))
    return out


def _segments(res: dict[str, Any]) -> list[str]:
    segments: list[str] = []
    for site in res.get("bodySite", []):
        for q in find_exts(site, LOCATION_QUALIFIER_EXT):
            seg = C.IVC_SEGMENT.lookup(q.get("valueCodeableConcept"))
            if seg and seg not in segments:
                segments.append(seg)
    return segments


def from_fhir_surgery(
    rc: ReadContext, index: dict[str, Any], subs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The index surgery and its sub-procedures (approach, resections, IVC management)."""
    rc.use(index)
    path = rc.path(index)
    out: dict[str, Any] = {
        "en_bloc": C.IVC_PROCEDURE.lookup(index.get("code")) is not False,
        "resected_segments": _segments(index),
    }
    if isinstance(index.get("performedDateTime"), str):
        out["date"] = index["performedDateTime"]
    intent = _ext_code(index, INTENT_EXT, C.PROCEDURE_INTENT)
    if intent:
        out["intent"] = intent
    extent = _ext_code(index, RESECTION_EXTENT_EXT, C.RESECTION_EXTENT)
    if extent:
        out["resection_extent"] = extent
    out["notes"] = _notes(index)
    approach, resections, managed = [], [], []
    for res in rc.ordered(subs):
        rc.use(res)
        notes = _notes(res)
        if (step := C.SURGICAL_STEP.lookup(res.get("code"))) is not None:
            item: dict[str, Any] = {"kind": step}
            if notes:
                item["detail"] = notes[0]
            approach.append(rc.item(res, item, ("kind", "detail")))
        elif (kind := C.ASSOCIATED_RESECTION.lookup(res.get("code"))) is not None:
            item = {"kind": kind}
            for site in res.get("bodySite", []):
                side = _ext_code(site, LATERALITY_EXT, C.LATERALITY)
                if side:
                    item["side"] = side
            if notes:
                item["detail"] = notes[0]
            reasons = [r["text"] for r in res.get("reasonCode", []) if r.get("text")]
            if reasons:
                item["reason"] = reasons[0]
            resections.append(rc.item(res, item, ("kind", "side", "detail", "reason")))
        elif (method := C.IVC_MANAGEMENT.lookup(res.get("code"))) is not None:
            item = {"method": method}
            used = res.get("usedCode", [])
            if used:
                item["graft_material"] = C.GRAFT_MATERIAL.lookup(used[0])
            decided = _ext_code(res, DECISION_EXT, C.MANAGEMENT_DECISION)
            if decided:
                item["decided"] = decided
            if notes:
                item["detail"] = notes[0]
            managed.append(rc.item(res, item, ("method", "graft_material", "detail", "decided")))
    out["approach"] = approach
    out["associated_resections"] = resections
    out["ivc_management"] = managed
    out["inferred"] = rc.inferred(path)
    return out


def classify_procedure(res: dict[str, Any]) -> str | None:
    """Which case element a Procedure carries, by its codes (so other producers are read)."""
    code = res.get("code")
    if res.get("status") == "not-done" and C.NOT_GIVEN_THERAPY.lookup(code):
        return "not-given"
    if C.IVC_PROCEDURE.lookup(code) is not None:
        return "surgery"
    for table, kind in (
        (C.SURGICAL_STEP, "surgery-part"),
        (C.ASSOCIATED_RESECTION, "surgery-part"),
        (C.IVC_MANAGEMENT, "surgery-part"),
        (C.IMAGING_MODALITY, "imaging"),
    ):
        if table.lookup(code) is not None:
            return kind
    if has_code(code, C.BIOPSY):
        return "biopsy"
    return None


def from_fhir_therapy_not_given(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any] | None:
    setting = _ext_code(res, SETTING_EXT, C.THERAPY_SETTING)
    if setting not in ("neoadjuvant", "adjuvant"):
        rc.lose(res, "Procedure.extension[therapy-setting]", "not-done therapy without a setting")
        return None
    rc.use(res)
    out: dict[str, Any] = {
        "therapy": C.NOT_GIVEN_THERAPY.lookup(res.get("code")),
        "setting": setting,
    }
    reason = (res.get("statusReason") or {}).get("text")
    if reason:
        out["reason"] = reason
    return rc.item(res, out, ("therapy", "setting", "reason"))


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_imaging_procedures = Rows(
    "Procedure", core("Procedure"), to_fhir_imaging_procedures, from_fhir_imaging
)
_biopsy = Rows("Procedure", core("Procedure"), to_fhir_biopsy, from_fhir_biopsy)
_surgery = Rows("Procedure", _P, to_fhir_surgery, from_fhir_surgery)
_ivc_management = Rows("Procedure", IVC_MANAGEMENT_PROFILE, to_fhir_surgery, from_fhir_surgery)
_therapy_not_given = Rows(
    "Procedure", core("Procedure"), to_fhir_therapy_not_given, from_fhir_therapy_not_given
)

ELEMENTS: tuple[ElementMap, ...] = (
    _imaging_procedures.row("imaging[].modality", "code"),
    _imaging_procedures.row("imaging[].contrast", "extension[imaging-contrast]"),
    _imaging_procedures.row("imaging[].region", "bodySite.text"),
    _imaging_procedures.row("imaging[].findings", "note"),
    _imaging_procedures.row("imaging[].when", "performedDateTime"),
    _biopsy.row("biopsy.method", "extension[procedure-method]"),
    _biopsy.row("biopsy.result", "outcome.text"),
    _biopsy.row("biopsy.when", "performedDateTime"),
    _surgery.row("surgery.date", "performedDateTime (else data-absent-reason)"),
    _surgery.row("surgery.intent", "extension[treatmentIntent]"),
    _surgery.row("surgery.en_bloc", "code (en-bloc-ivc-resection | ivc-resection)"),
    _surgery.row("surgery.resected_segments", "bodySite.extension[locationQualifier]"),
    _surgery.row("surgery.resection_extent", "extension[ivc-resection-extent]"),
    _surgery.row("surgery.notes", "note"),
    _surgery.row("surgery.approach[].kind", "(partOf index).code"),
    _surgery.row("surgery.approach[].detail", "(partOf index).note"),
    _surgery.row("surgery.associated_resections[].kind", "(partOf index).code"),
    _surgery.row("surgery.associated_resections[].side", "bodySite.extension[lateralityQualifier]"),
    _surgery.row("surgery.associated_resections[].detail", "note"),
    _surgery.row("surgery.associated_resections[].reason", "reasonCode.text"),
    _ivc_management.row("surgery.ivc_management[].method", "(partOf index).code"),
    _ivc_management.row("surgery.ivc_management[].graft_material", "usedCode"),
    _ivc_management.row("surgery.ivc_management[].detail", "note"),
    _ivc_management.row("surgery.ivc_management[].decided", "extension[ivc-management-decision]"),
    _therapy_not_given.row("therapy_not_given[].therapy", "(status not-done).code"),
    _therapy_not_given.row("therapy_not_given[].setting", "extension[therapy-setting]"),
    _therapy_not_given.row("therapy_not_given[].reason", "statusReason.text"),
)
