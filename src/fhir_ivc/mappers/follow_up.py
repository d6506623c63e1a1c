"""Follow-up findings: disease status (mCODE CancerDiseaseStatus), local recurrence and vital
status (the project's ivc-follow-up-finding), one Observation per stated finding of a visit.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.datetimes import read_time
from fhir_ivc.fhir.elements import concept
from fhir_ivc.mappers._context import MapContext, keyed
from fhir_ivc.mappers._observation import add_observation
from fhir_ivc.mappers._read import ReadContext
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import DISEASE_STATUS, FOLLOW_UP_FINDING
from fhir_ivc.mappers.observation import classify_observation
from fhir_ivc.model import item_keys
from fhir_ivc.terminology import codes as C

__all__ = ["ELEMENTS", "from_fhir_follow_up", "to_fhir_follow_up"]


def to_fhir_follow_up(ctx: MapContext) -> None:
    case = ctx.case
    status_focus = [ctx.ref(f"metastasis.{k}") for k in item_keys(case.metastases)] or [
        ctx.ref("condition.primary")
    ]
    for path, key, fu in keyed(case.follow_up, "follow_up"):
        if fu.disease_status:
            add_observation(
                ctx,
                f"follow-up.{key}.status",
                path,
                concept(C.CANCER_DISEASE_STATUS),
                {"valueCodeableConcept": C.DISEASE_STATUS.concept(fu.disease_status)},
                profile=DISEASE_STATUS,
                when=fu.when,
                facts=[(fu, path)],
                extra={"focus": status_focus},
            )
        if fu.local_recurrence is not None:
            add_observation(
                ctx,
                f"follow-up.{key}.local-recurrence",
                path,
                concept(C.OBS["local-recurrence"]),
                {"valueBoolean": fu.local_recurrence},
                profile=FOLLOW_UP_FINDING,
                when=fu.when,
                facts=[(fu, path)],
                extra={"focus": [ctx.ref("condition.primary")]},
            )
        if fu.vital_status:
            add_observation(
                ctx,
                f"follow-up.{key}.vital-status",
                path,
                concept(C.OBS["vital-status"]),
                {"valueCodeableConcept": C.VITAL_STATUS.concept(fu.vital_status)},
                profile=FOLLOW_UP_FINDING,
                when=fu.when,
                facts=[(fu, path)],
            )


def from_fhir_follow_up(rc: ReadContext, group: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One follow-up from its findings (disease status, local recurrence, vital status)."""
    out: dict[str, Any] = {}
    for res in group:
        kind = classify_observation(res)
        when = read_time(res, "effectiveDateTime")
        if when is None:
            rc.lose(res, "Observation.effective[x]", "follow-up finding without a time")
            continue
        out.setdefault("when", when)
        rc.use(res)
        value = res.get("valueCodeableConcept")
        if kind == "disease-status":
            status = C.DISEASE_STATUS.lookup(value)
            if status is None:
                rc.lose(res, "Observation.valueCodeableConcept", "status not in mCODE trend VS")
            else:
                out["disease_status"] = status
        elif kind == "local-recurrence":
            out["local_recurrence"] = bool(res.get("valueBoolean"))
        elif kind == "vital-status":
            out["vital_status"] = C.VITAL_STATUS.lookup(value)
    if len(out) < 2:
        return None
    return rc.item(group[0], out, ("when", "disease_status", "local_recurrence", "vital_status"))


# --- the mapping rows (docs/mapping.md is generated from them) ---------------------------------

_follow_up = Rows("Observation", DISEASE_STATUS, to_fhir_follow_up, from_fhir_follow_up)
_finding = Rows("Observation", FOLLOW_UP_FINDING, to_fhir_follow_up, from_fhir_follow_up)

ELEMENTS: tuple[ElementMap, ...] = (
    _follow_up.row("follow_up[].when", "effectiveDateTime (each finding)"),
    _follow_up.row("follow_up[].disease_status", "valueCodeableConcept"),
    _finding.row("follow_up[].local_recurrence", "(local-recurrence).valueBoolean"),
    _finding.row("follow_up[].vital_status", "(vital-status).valueCodeableConcept"),
)
