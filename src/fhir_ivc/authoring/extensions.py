"""The project's extension definitions (differential StructureDefinitions)."""

from __future__ import annotations

from collections.abc import Sequence

from fhir_ivc.authoring._common import CORE, Json, binding, el, structure_definition, url_slicing
from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.mappers.canonical import (
    CLAVIEN_DINDO_EXT,
    CONTRAST_EXT,
    DECISION_EXT,
    LINE_EXT,
    RESECTION_EXTENT_EXT,
    SETTING_EXT,
)

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.terminology import local as L  # noqa: N812

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
