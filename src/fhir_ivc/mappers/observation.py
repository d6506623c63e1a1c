"""Observations: tumor sizes, markers, organ contact, intraoperative measures, pathology, follow-up.

Profiles: mCODE TumorSize (imaging: focus = Tumor; pathology: specimen = Specimen; never both),
HistologicBehaviorAndType, HistologicGrade, CancerDiseaseStatus; the project's own profiles for
operative measures, margins and R classification (profiles/). Local codes: terminology/local.py.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.datetimes import read_time
from fhir_ivc.fhir.elements import codings, concept, ext, has_code, quantity
from fhir_ivc.mappers import measures
from fhir_ivc.mappers._context import MapContext, keyed
from fhir_ivc.mappers._observation import add_observation
from fhir_ivc.mappers._read import ReadContext, ReadShape, profiles_of, show_code
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import (
    GRADE,
    HISTOLOGY,
    MARGIN,
    RELATED_CONDITION_EXT,
    RESIDUAL,
    TUMOR_SIZE,
)
from fhir_ivc.mappers.canonical import OBSERVATION as _O
from fhir_ivc.mappers.condition import icdo3_of
from fhir_ivc.terminology import codes as C

__all__ = [
    "ELEMENTS",
    "to_fhir_imaging_sizes",
    "to_fhir_organ_contact",
    "to_fhir_pathology_observations",
    "to_fhir_tumor_markers",
]


def _size_components(dimensions: list[float]) -> list[dict[str, Any]]:
    """Longest dimension first (33728-7), then the others largest to smallest (33729-5)."""
    ordered = sorted(dimensions, reverse=True)
    return [
        {
            "code": concept(C.TUMOR_LONGEST_DIMENSION if i == 0 else C.TUMOR_OTHER_DIMENSION),
            "valueQuantity": quantity(value, "cm"),
        }
        for i, value in enumerate(ordered)
    ]


def _local(name: str) -> dict[str, Any]:
    return concept(C.OBS[name])


def to_fhir_imaging_sizes(ctx: MapContext) -> None:
    for path, key, study in keyed(ctx.case.imaging, "imaging"):
        if not study.dimensions_cm:
            continue
        focus = "tumor"
        if study.target == "intraluminal-extension":
            focus = f"tumor.extension.{ctx.case.diagnosis.intraluminal_extension[0]}"
        method = C.IMAGING_MODALITY.concept(study.modality)
        add_observation(
            ctx,
            f"imaging.{key}.size",
            path,
            concept(C.TUMOR_SIZE),
            {"component": _size_components(study.dimensions_cm)},
            category="imaging",
            profile=TUMOR_SIZE,
            when=study.when,
            facts=[(study, path)],
            extra={
                "partOf": [ctx.ref(f"imaging.{key}")],
                "focus": [ctx.ref(focus)],
                "method": method,
            },
        )


def to_fhir_tumor_markers(ctx: MapContext) -> None:
    markers = ctx.case.tumor_markers
    for path, key, marker in keyed(markers, "tumor_markers"):
        add_observation(
            ctx,
            f"tumor-markers.{key}",
            path,
            concept(C.OBS["tumor-markers"], text=marker.name),
            {"valueCodeableConcept": C.FINDING.concept(marker.result)},
            category="laboratory",
            when=marker.when,
            facts=[(marker, path)],
        )


def to_fhir_organ_contact(ctx: MapContext) -> None:
    contacts = ctx.case.diagnosis.organ_contact
    for path, key, contact in keyed(contacts, "diagnosis.organ_contact"):
        add_observation(
            ctx,
            f"organ-contact.{key}",
            path,
            _local("organ-contact"),
            {"valueBoolean": True},
            category="imaging",
            facts=[(contact, path)],
            extra={"focus": [ctx.ref("tumor")], "bodySite": C.ORGAN.concept(contact.organ)},
        )


def to_fhir_pathology_observations(ctx: MapContext) -> None:
    path_ = ctx.case.pathology
    if path_ is None:
        return
    p = "pathology"
    related = {
        "extension": [ext(RELATED_CONDITION_EXT, valueReference=ctx.ref("condition.primary"))]
    }
    specimen = {"specimen": ctx.ref("specimen")}

    def finding(
        key: str, code: dict[str, Any], value: dict[str, Any], profile: str, **extra: Any
    ) -> None:
        """One pathology Observation of the whole ``pathology`` object (the resection specimen)."""
        add_observation(
            ctx,
            f"pathology.{key}",
            p,
            code,
            value,
            category="laboratory",
            profile=profile,
            facts=[(path_, p)],
            extra=extra,
        )

    value = C.icdo3_morphology(path_.icdo3_morphology, path_.histologic_type)
    behavior = concept(C.HISTOLOGIC_BEHAVIOR_AND_TYPE)
    finding(
        "histology", behavior, {"valueCodeableConcept": value}, HISTOLOGY, **related, **specimen
    )
    if path_.grade or path_.fnclcc_grade:
        grade: dict[str, Any] = {"coding": []}
        if path_.grade:
            grade["coding"] += C.HISTOLOGIC_GRADE_VALUE.codings(path_.grade)
        if path_.fnclcc_grade:
            grade["coding"] += C.FNCLCC_GRADE.codings(path_.fnclcc_grade)
        method = {"method": concept(C.FNCLCC_SYSTEM)} if path_.fnclcc_grade else {}
        value = {"valueCodeableConcept": grade}
        finding("grade", concept(C.HISTOLOGIC_GRADE), value, GRADE, **related, **specimen, **method)
    if path_.size_cm:
        size = {"component": _size_components(path_.size_cm)}
        gross = concept(C.GROSS_EXAMINATION)
        finding("size", concept(C.TUMOR_SIZE), size, TUMOR_SIZE, **specimen, method=gross)
    part_of = {"partOf": [ctx.ref("surgery")]} if ctx.case.surgery else {}
    if path_.margin_status:
        value = {"valueCodeableConcept": C.MARGIN_STATUS.concept(path_.margin_status)}
        finding("margin", concept(C.SURGICAL_MARGIN), value, MARGIN, **part_of, **specimen)
    if path_.r_classification:
        value = {"valueCodeableConcept": C.R_CLASSIFICATION.concept(path_.r_classification)}
        code = _local("residual-tumor")
        finding("residual-tumor", code, value, RESIDUAL, **part_of, **specimen)
    items = path_.organ_infiltration
    for ipath, key, item in keyed(items, "pathology.organ_infiltration"):
        add_observation(
            ctx,
            f"pathology.infiltration.{key}",
            ipath,
            _local("organ-infiltration"),
            {
                "valueCodeableConcept": C.FINDING.concept(
                    "positive" if item.infiltrated else "negative"
                )
            },
            category="laboratory",
            facts=[(item, ipath)],
            extra={"bodySite": C.ORGAN.concept(item.organ), **specimen},
        )


# --- FHIR -> case ------------------------------------------------------------------------------

_OBS = ("status", "category", "code", "subject")
_RELATED = (RELATED_CONDITION_EXT,)
#: What the readers take from each kind of Observation (``read_case`` reports the rest).
READ_SHAPES = {
    "size-imaging": ReadShape.of(
        (*_OBS, "effectiveDateTime", "component", "focus", "method", "partOf")
    ),
    "size-pathology": ReadShape.of((*_OBS, "component", "specimen", "method", "focus")),
    "tumor-markers": ReadShape.of((*_OBS, "effectiveDateTime", "valueCodeableConcept")),
    "organ-contact": ReadShape.of((*_OBS, "focus", "bodySite", "valueBoolean")),
    "histology": ReadShape.of((*_OBS, "specimen", "valueCodeableConcept"), _RELATED),
    "grade": ReadShape.of((*_OBS, "specimen", "method", "valueCodeableConcept"), _RELATED),
    "margin": ReadShape.of((*_OBS, "partOf", "specimen", "valueCodeableConcept")),
    "residual-tumor": ReadShape.of((*_OBS, "partOf", "specimen", "valueCodeableConcept")),
    "organ-infiltration": ReadShape.of((*_OBS, "bodySite", "specimen", "valueCodeableConcept")),
    "disease-status": ReadShape.of((*_OBS, "effectiveDateTime", "focus", "valueCodeableConcept")),
    "local-recurrence": ReadShape.of((*_OBS, "effectiveDateTime", "focus", "valueBoolean")),
    "vital-status": ReadShape.of((*_OBS, "effectiveDateTime", "valueCodeableConcept")),
}


def classify_observation(res: dict[str, Any]) -> str | None:
    """Which case element an Observation carries: by profile, then by its code."""
    code = res.get("code")
    profiles = profiles_of(res)
    if TUMOR_SIZE in profiles or has_code(code, C.TUMOR_SIZE):
        # mCODE: specimen = measured on the removed tumor; other producers also send a gross
        # examination with focus = Tumor (the IG's own pathology example does)
        pathology = res.get("specimen") or has_code(res.get("method"), C.GROSS_EXAMINATION)
        return "size-pathology" if pathology else "size-imaging"
    if measures.measure_of(res) is not None:
        return measures.KIND
    for fixed, kind in (
        (C.HISTOLOGIC_BEHAVIOR_AND_TYPE, "histology"),
        (C.HISTOLOGIC_GRADE, "grade"),
        (C.CANCER_DISEASE_STATUS, "disease-status"),
        (C.SURGICAL_MARGIN, "margin"),
    ):
        if has_code(code, fixed):
            return kind
    for coding in codings(code):
        if coding.get("system") == C.OBS.url and coding.get("code") in C.OBS.concepts:
            name: str = coding["code"]
            return name
    return None


def size_dimensions(rc: ReadContext, res: dict[str, Any]) -> list[float]:
    dims: list[float] = []
    for comp in res.get("component", []):
        q = comp.get("valueQuantity") or {}
        if "value" not in q:
            continue
        value = float(q["value"])
        if q.get("code") == "mm":
            value = value / 10
        elif q.get("code") != "cm":
            rc.lose(res, "Observation.component.valueQuantity", f"unit {q.get('code')!r}")
            continue
        dims.append(value)
    return sorted(dims, reverse=True)[:3]


def from_fhir_imaging_size(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any] | None:
    """An imaging study from a TumorSize that is part of no imaging Procedure (other producers).

    The modality comes from ``method`` (mCODE TumorSizeMethodVS: CT, MRI, ultrasound); without
    one the size has no place in the case record (it keeps sizes per imaging study).
    """
    reason = (
        f"imaging tumor size without an imaging study, and its method "
        f"{show_code(res.get('method'))} is not an imaging modality of the case model"
    )
    modality = rc.coded(res, C.IMAGING_MODALITY, "method", reason)
    if modality is None:
        return None
    study: dict[str, Any] = {"modality": modality, "dimensions_cm": size_dimensions(rc, res)}
    when = read_time(res, "effectiveDateTime")
    if when:
        study["when"] = when
    focus = rc.resolve(next(iter(res.get("focus", [])), None))
    if (
        focus is not None
        and focus.get("resourceType") == "BodyStructure"
        and not tumor_is_ivc(focus)
    ):
        rc.lose(res, "Observation.focus", "the measured tumor is not in the IVC")
    return rc.item(res, study, ("modality", "dimensions_cm", "when"))


def from_fhir_imaging_sizes(
    rc: ReadContext, study: dict[str, Any], procedure: dict[str, Any], sizes: list[dict[str, Any]]
) -> None:
    """Fold the TumorSize Observations that are ``partOf`` an imaging Procedure into its study."""
    for size in sizes:
        if any(rc.refers_to(p, procedure) for p in size.get("partOf", [])):
            rc.use(size)
            study["dimensions_cm"] = size_dimensions(rc, size)
            focus = rc.resolve(next(iter(size.get("focus", [])), None))
            if focus is not None and not has_code(focus.get("location"), C.IVC_STRUCTURE):
                study["target"] = "intraluminal-extension"


def from_fhir_tumor_marker(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any] | None:
    """A tumor marker from its Observation; None (a Loss) unless the result is negative/positive."""
    reason = "tumor marker result not negative/positive"
    value = rc.coded(res, C.FINDING, "valueCodeableConcept", reason, element="Observation.value[x]")
    if value is None:
        return None
    marker: dict[str, Any] = {"result": value}
    if res.get("code", {}).get("text"):
        marker["name"] = res["code"]["text"]
    when = read_time(res, "effectiveDateTime")
    if when:
        marker["when"] = when
    return rc.item(res, marker, ("name", "result", "when"))


def from_fhir_organ_contact(rc: ReadContext, res: dict[str, Any]) -> dict[str, Any] | None:
    """An organ the tumor touches on imaging; None (a Loss) for an organ the model lacks."""
    organ = rc.coded(res, C.ORGAN, "bodySite", "organ not in the case model")
    if organ is None:
        return None
    return rc.item(res, {"organ": organ}, ("organ",))


def tumor_is_ivc(body_structure: dict[str, Any]) -> bool:
    return has_code(body_structure.get("location"), C.IVC_STRUCTURE)


def from_fhir_pathology_observation(
    rc: ReadContext, kind: str, res: dict[str, Any], out: dict[str, Any]
) -> None:
    """Fold one pathology Observation into the pathology fields ``out``."""
    value = res.get("valueCodeableConcept")
    rc.use(res)
    if kind == "histology":
        morphology = icdo3_of(rc, res, "Observation.valueCodeableConcept", value)
        if morphology is not None:
            out["icdo3_morphology"] = morphology[0]
            if morphology[1]:
                out["histologic_type"] = morphology[1]
    elif kind == "grade":
        grade = C.HISTOLOGIC_GRADE_VALUE.lookup(value)
        fnclcc = C.FNCLCC_GRADE.lookup(value)
        if grade:
            out["grade"] = grade
        if fnclcc:
            out["fnclcc_grade"] = fnclcc
        if not grade and not fnclcc:
            rc.lose(res, "Observation.valueCodeableConcept", "grade code not in mCODE grade VS")
        method = res.get("method")
        if method is not None and not has_code(method, C.FNCLCC_SYSTEM):
            rc.lose(
                res,
                "Observation.method",
                f"grading system {show_code(method)} is not carried (the case model records "
                "the grade, and the FNCLCC grade when FNCLCC is the method)",
            )
    elif kind == "size-pathology":
        out["size_cm"] = size_dimensions(rc, res)
        focus = rc.resolve(next(iter(res.get("focus", [])), None))
        measured = focus is not None and focus.get("resourceType") == "BodyStructure"
        if measured and focus is not None and not tumor_is_ivc(focus):
            rc.lose(res, "Observation.focus", "the measured tumor is not in the IVC")
    elif kind in ("margin", "residual-tumor"):
        table = C.MARGIN_STATUS if kind == "margin" else C.R_CLASSIFICATION
        found = table.lookup(value)
        if found is None:
            rc.lose(
                res,
                "Observation.valueCodeableConcept",
                f"{show_code(value)} is not a {table.name} value of the case model",
            )
        else:
            out["margin_status" if kind == "margin" else "r_classification"] = found
    elif kind == "organ-infiltration":
        organ = C.ORGAN.lookup(res.get("bodySite"))
        finding = C.FINDING.lookup(value)
        if organ is None or finding is None:
            rc.lose(res, "Observation.bodySite", "organ or finding not in the case model")
            return
        item = {"organ": organ, "infiltrated": finding == "positive"}
        out.setdefault("organ_infiltration", []).append(
            rc.item(res, item, ("organ", "infiltrated"))
        )


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_imaging_sizes = Rows("Observation", TUMOR_SIZE, to_fhir_imaging_sizes, from_fhir_imaging_sizes)
_tumor_markers = Rows("Observation", _O, to_fhir_tumor_markers, from_fhir_tumor_marker)
_organ_contact = Rows("Observation", _O, to_fhir_organ_contact, from_fhir_organ_contact)
_pathology_observations = Rows(
    "Observation", HISTOLOGY, to_fhir_pathology_observations, from_fhir_pathology_observation
)

ELEMENTS: tuple[ElementMap, ...] = (
    _imaging_sizes.row(
        "imaging[].dimensions_cm",
        "component[tumorLongestDimension|tumorOtherDimension] (cm), focus = Tumor",
    ),
    _imaging_sizes.row("imaging[].target", "focus (primary Tumor | extension Tumor)"),
    _tumor_markers.row("tumor_markers[].name", "code.text"),
    _tumor_markers.row("tumor_markers[].result", "valueCodeableConcept"),
    _tumor_markers.row("tumor_markers[].when", "effectiveDateTime"),
    _organ_contact.row("diagnosis.organ_contact[].organ", "(organ-contact).bodySite"),
    _pathology_observations.row("pathology.histologic_type", "valueCodeableConcept.text"),
    _pathology_observations.row("pathology.icdo3_morphology", "valueCodeableConcept (ICD-O-3)"),
    _pathology_observations.row("pathology.grade", "valueCodeableConcept (SNOMED)", profile=GRADE),
    _pathology_observations.row(
        "pathology.fnclcc_grade",
        "valueCodeableConcept (local fnclcc-grade) + method 426757001",
        profile=GRADE,
    ),
    _pathology_observations.row(
        "pathology.size_cm", "component (cm), specimen = Specimen", profile=TUMOR_SIZE
    ),
    _pathology_observations.row(
        "pathology.margin_status", "(396631001).valueCodeableConcept", profile=MARGIN
    ),
    _pathology_observations.row(
        "pathology.r_classification", "(residual-tumor).valueCodeableConcept", profile=RESIDUAL
    ),
    _pathology_observations.row(
        "pathology.organ_infiltration[]",
        "(organ-infiltration) bodySite + value negative/positive",
        profile=_O,
    ),
)
