"""Tumor body structures (mCODE Tumor) and the resection specimen (mCODE HumanSpecimen).

The Tumor and the Specimen cut from it share one identifier (mCODE: unique within the patient),
An intraluminal extension (e.g. to the right atrium) is a second Tumor.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.elements import concept, ext, has_code
from fhir_ivc.mappers._context import MapContext
from fhir_ivc.mappers._read import ReadContext, ReadShape
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import HUMAN_SPECIMEN as SPECIMEN
from fhir_ivc.mappers.canonical import RELATED_CONDITION_EXT, TUMOR
from fhir_ivc.mappers.condition import from_fhir_primary_condition
from fhir_ivc.terminology import codes as C
from fhir_ivc.terminology.systems import CANONICAL, RESOURCE_TYPES

__all__ = ["ELEMENTS", "TUMOR_ID_SYSTEM", "to_fhir_specimen", "to_fhir_tumors"]

#: system of the identifier a Tumor shares with the Specimen taken from it
TUMOR_ID_SYSTEM = f"{CANONICAL}/sid/tumor"


def _tumor_identifier(ctx: MapContext, key: str) -> dict[str, Any]:
    return {
        "use": "usual",
        "type": {"coding": [{"system": RESOURCE_TYPES, "code": "BodyStructure"}]},
        "system": TUMOR_ID_SYSTEM,
        "value": f"{ctx.case_uuid}/{key}",
    }


def _morphology(morphology: str) -> dict[str, Any]:
    if morphology == "8890/3":
        return concept(C.LEIOMYOSARCOMA_SNOMED)
    return C.icdo3_morphology(morphology)


def to_fhir_tumors(ctx: MapContext) -> None:
    dx = ctx.case.diagnosis
    related = [ext(RELATED_CONDITION_EXT, valueReference=ctx.ref("condition.primary"))]
    tumor_id = _tumor_identifier(ctx, "tumor")
    ctx.add(
        "tumor",
        "diagnosis",
        "BodyStructure",
        {
            "extension": related,
            "identifier": [tumor_id],
            "morphology": _morphology(dx.icdo3_morphology),
            "location": concept(C.IVC_STRUCTURE),
            "locationQualifier": [C.IVC_SEGMENT.concept(s) for s in dx.ivc_segments],
            "description": f"{dx.histology} of the inferior vena cava",
            "patient": ctx.ref("patient"),
        },
        profile=TUMOR,
        identifier=(TUMOR_ID_SYSTEM, tumor_id["value"]),
    )
    for i, site in enumerate(dx.intraluminal_extension):
        key = f"tumor.extension.{site}"
        ident = _tumor_identifier(ctx, key)
        ctx.add(
            key,
            f"diagnosis.intraluminal_extension[{i}]",
            "BodyStructure",
            {
                "extension": list(related),
                "identifier": [ident],
                "morphology": _morphology(dx.icdo3_morphology),
                "location": C.INTRALUMINAL_SITE.concept(site),
                "description": "Intraluminal extension of the IVC tumor",
                "patient": ctx.ref("patient"),
            },
            profile=TUMOR,
            facts=[(dx, "diagnosis")],
            identifier=(TUMOR_ID_SYSTEM, ident["value"]),
        )


def to_fhir_specimen(ctx: MapContext) -> None:
    """The resection specimen, carrying the Tumor's identifier."""
    case = ctx.case
    if case.pathology is None:
        return
    collection: dict[str, Any] = {"bodySite": concept(C.IVC_STRUCTURE)}
    if case.surgery is not None and case.surgery.date:
        collection = {"collectedDateTime": case.surgery.date, **collection}
    ctx.add(
        "specimen",
        "pathology",
        "Specimen",
        {
            "identifier": [_tumor_identifier(ctx, "tumor")],
            "type": concept(C.TUMOR_SPECIMEN),
            "subject": ctx.ref("patient"),
            "collection": collection,
        },
        profile=SPECIMEN,
    )


# --- FHIR -> case ------------------------------------------------------------------------------

_TUMOR_SHAPE = ReadShape.of(
    ("morphology", "location", "locationQualifier", "description", "patient"),
    (RELATED_CONDITION_EXT,),
)
#: What the readers take from Tumors and the Specimen (``read_case`` reports the rest).
READ_SHAPES = {
    "tumor": _TUMOR_SHAPE,
    "tumor-extension": _TUMOR_SHAPE,
    "specimen": ReadShape.of(
        ("type", "subject", "collection.bodySite", "collection.collectedDateTime")
    ),
}


def is_primary_tumor(res: dict[str, Any]) -> bool:
    return has_code(res.get("location"), C.IVC_STRUCTURE)


def from_fhir_specimen(rc: ReadContext, res: dict[str, Any]) -> None:
    """The resection specimen: read for its presence; a specimen not from the IVC is a Loss."""
    rc.use(res)
    site = (res.get("collection") or {}).get("bodySite")
    if site is not None and not has_code(site, C.IVC_STRUCTURE):
        rc.lose(res, "Specimen.collection.bodySite", "the specimen is not from the IVC")


def from_fhir_tumor_extension(rc: ReadContext, res: dict[str, Any]) -> str | None:
    """The intraluminal site of an extension Tumor, or None (reported as a loss)."""
    return rc.coded(
        res,
        C.INTRALUMINAL_SITE,
        "location",
        "tumor location is neither the IVC nor a known intraluminal extension site",
    )


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_tumors = Rows("BodyStructure", TUMOR, to_fhir_tumors, from_fhir_primary_condition)
_tumors_tumor_extension = Rows("BodyStructure", TUMOR, to_fhir_tumors, from_fhir_tumor_extension)
_specimen = Rows("Specimen", SPECIMEN, to_fhir_specimen, from_fhir_specimen)

ELEMENTS: tuple[ElementMap, ...] = (
    _tumors.row(
        "diagnosis.ivc_segments",
        "locationQualifier",
        equivalence="equivalent",
        note="repeats the segments of Condition.bodySite on the Tumor",
    ),
    _tumors.row("diagnosis.icdo3_morphology", "morphology", equivalence="equivalent"),
    _tumors_tumor_extension.row(
        "diagnosis.intraluminal_extension[]",
        " (second Tumor).location",
        note="right atrium 73829009, renal vein 56400007, hepatic vein local",
    ),
    _specimen.row(
        "pathology (presence)", " type TUMOR, identifier = Tumor identifier", equivalence="derived"
    ),
)
