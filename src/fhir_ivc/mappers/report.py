"""The surgical pathology DiagnosticReport: groups the pathology Observations."""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.elements import concept
from fhir_ivc.mappers._context import MapContext, core
from fhir_ivc.mappers._read import ReadContext, ReadShape
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.terminology import codes as C

__all__ = ["ELEMENTS", "from_fhir_pathology_report", "to_fhir_pathology_report"]

_RESULTS = ("histology", "grade", "size", "margin", "residual-tumor")


def to_fhir_pathology_report(ctx: MapContext) -> None:
    """Call after the pathology observations so ``result`` lists exactly those emitted."""
    pathology = ctx.case.pathology
    if pathology is None:
        return
    results = [ctx.ref(f"pathology.{k}") for k in _RESULTS if ctx.has(f"pathology.{k}")]
    results += [ctx.ref(e.key) for e in ctx.entries if e.key.startswith("pathology.infiltration.")]
    body: dict[str, Any] = {
        "status": "final",
        "code": concept(C.PATHOLOGY_REPORT),
        "subject": ctx.ref("patient"),
    }
    if ctx.case.surgery is not None and ctx.case.surgery.date:
        body["effectiveDateTime"] = ctx.case.surgery.date
    body["specimen"] = [ctx.ref("specimen")]
    if results:
        body["result"] = results
    if pathology.conclusion:
        body["conclusion"] = pathology.conclusion
    ctx.add(
        "pathology.report",
        "pathology",
        "DiagnosticReport",
        body,
        facts=[(pathology, "pathology")],
    )


def from_fhir_pathology_report(
    rc: ReadContext, reports: list[dict[str, Any]], pathology: dict[str, Any]
) -> None:
    """The conclusion of the (first) pathology report; a second report is a conflict (Loss)."""
    for res in reports[:1]:
        rc.use(res)
        if res.get("conclusion"):
            pathology["conclusion"] = res["conclusion"]
    for extra in reports[1:]:
        rc.lose(extra, "DiagnosticReport", "conflicting values: a second pathology report")
        rc.use(extra)


#: What ``read_case`` takes from the pathology report (the rest is reported as Losses).
READ_SHAPES = {
    "pathology-report": ReadShape.of(
        ("status", "code", "subject", "effectiveDateTime", "specimen", "result", "conclusion")
    ),
}


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_pathology_report = Rows(
    "DiagnosticReport",
    core("DiagnosticReport"),
    to_fhir_pathology_report,
    from_fhir_pathology_report,
)

ELEMENTS: tuple[ElementMap, ...] = (_pathology_report.row("pathology.conclusion", "conclusion"),)
