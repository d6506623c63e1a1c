"""Systemic therapy: mCODE CancerRelatedMedicationAdministration, one per agent of a line.

(http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-related-medication-administration)
``effective[x]`` is required: a Period whose start/end carry the real date or the relative time,
or, when neither is known, a data-absent-reason on the Period. Doses are never invented.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.datetimes import read_time, time_fields
from fhir_ivc.fhir.elements import data_absent, ext
from fhir_ivc.mappers._context import MapContext, mcode
from fhir_ivc.mappers._read import ReadContext, profiles_of
from fhir_ivc.mappers._rows import ElementMap
from fhir_ivc.mappers.procedure import INTENT_EXT, SETTING_EXT
from fhir_ivc.model import item_keys
from fhir_ivc.terminology import codes as C
from fhir_ivc.terminology.systems import project_url

__all__ = ["ELEMENTS", "LINE_EXT", "to_fhir_systemic_therapy"]

PROFILE = mcode("mcode-cancer-related-medication-administration")
LINE_EXT = project_url("StructureDefinition", "therapy-line")

ELEMENTS = (
    ElementMap(
        "systemic_therapy[].agents[]",
        "MedicationAdministration.medicationCodeableConcept",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
        note="RxNorm ingredient + local agent code; one resource per agent",
    ),
    ElementMap(
        "systemic_therapy[].setting",
        "MedicationAdministration.extension[therapy-setting]",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
    ElementMap(
        "systemic_therapy[].intent",
        "MedicationAdministration.extension[treatmentIntent]",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
    ElementMap(
        "systemic_therapy[].line",
        "MedicationAdministration.extension[therapy-line]",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
    ElementMap(
        "systemic_therapy[].start",
        "MedicationAdministration.effectivePeriod.start",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
    ElementMap(
        "systemic_therapy[].end",
        "MedicationAdministration.effectivePeriod.end",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
    ElementMap(
        "systemic_therapy[].status",
        "MedicationAdministration.status",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
    ElementMap(
        "systemic_therapy[].note",
        "MedicationAdministration.note",
        PROFILE,
        "to_fhir_systemic_therapy",
        "from_fhir_systemic_therapy",
    ),
)


def to_fhir_systemic_therapy(ctx: MapContext) -> None:
    case = ctx.case
    metastases = [ctx.ref(f"metastasis.{k}") for k in item_keys(case.metastases)]
    lines = case.systemic_therapy
    for i, (key, line) in enumerate(zip(item_keys(lines), lines, strict=True)):
        path = f"systemic_therapy[{i}]"
        extensions = [
            ext(SETTING_EXT, valueCodeableConcept=C.THERAPY_SETTING.concept(line.setting))
        ]
        if line.intent:
            extensions.append(
                ext(INTENT_EXT, valueCodeableConcept=C.PROCEDURE_INTENT.concept(line.intent))
            )
        if line.line is not None:
            extensions.append(ext(LINE_EXT, valuePositiveInt=line.line))
        period = time_fields("start", line.start, ctx.surgery_ref) | time_fields(
            "end", line.end, ctx.surgery_ref
        )
        if not period:
            period = {"extension": [data_absent()]}
        reason = (
            metastases
            if line.setting in ("metastatic", "recurrence") and metastases
            else [ctx.ref("condition.primary")]
        )
        for j, agent in enumerate(line.agents):
            agent_path = f"{path}.agents[{j}]"
            body: dict[str, Any] = {
                "extension": list(extensions),
                "status": line.status,
                "medicationCodeableConcept": C.AGENT.concept(agent),
                "subject": ctx.ref("patient"),
                "effectivePeriod": period,
                "reasonReference": reason,
            }
            if line.note:
                body["note"] = [{"text": line.note}]
            ctx.add(
                f"therapy.{key}.{agent}",
                agent_path,
                "MedicationAdministration",
                body,
                profile=PROFILE,
                facts=[(line, path)],
            )


# --- FHIR -> case ------------------------------------------------------------------------------


def line_path(rc: ReadContext, res: dict[str, Any]) -> str | None:
    """The therapy line a MedicationAdministration belongs to ("systemic_therapy[0]")."""
    path = rc.path(res)
    return path.split(".agents[")[0] if path else None


def from_fhir_systemic_therapy(
    rc: ReadContext, group: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """One therapy line from its MedicationAdministrations (one per agent)."""
    agents: list[str] = []
    first: dict[str, Any] | None = None
    for res in rc.ordered(group):
        agent = C.AGENT.lookup(res.get("medicationCodeableConcept"))
        if agent is None:
            rc.lose(res, "MedicationAdministration.medication[x]", "agent not in the case model")
            continue
        rc.use(res)
        first = first or res
        if agent not in agents:
            agents.append(agent)
    if first is None:
        return None
    setting = None
    intent = None
    line = None
    for e in first.get("extension", []):
        if e.get("url") == SETTING_EXT:
            setting = C.THERAPY_SETTING.lookup(e.get("valueCodeableConcept"))
        elif e.get("url") == INTENT_EXT:
            intent = C.PROCEDURE_INTENT.lookup(e.get("valueCodeableConcept"))
        elif e.get("url") == LINE_EXT:
            line = e.get("valuePositiveInt")
    if setting is None:
        # other producers: metastatic when the reason is a secondary cancer condition
        reasons = [rc.resolve(r) or {} for r in first.get("reasonReference", [])]
        secondary = any(
            "mcode-secondary-cancer-condition" in p for r in reasons for p in profiles_of(r)
        )
        setting = "metastatic" if secondary else "adjuvant"
        rc.lose(first, "MedicationAdministration", f"therapy setting not stated; read as {setting}")
    out: dict[str, Any] = {"agents": agents, "setting": setting, "status": first.get("status")}
    if out["status"] not in ("in-progress", "completed", "stopped", "unknown"):
        rc.lose(
            first, "MedicationAdministration.status", f"status {out['status']!r} read as unknown"
        )
        out["status"] = "unknown"
    if intent:
        out["intent"] = intent
    if line is not None:
        out["line"] = line
    period = first.get("effectivePeriod") or {}
    start, end = read_time(period, "start"), read_time(period, "end")
    if start is None and isinstance(first.get("effectiveDateTime"), str):
        start = read_time(first, "effectiveDateTime")
    if start:
        out["start"] = start
    if end:
        out["end"] = end
    notes = [n["text"] for n in first.get("note", []) if n.get("text")]
    if notes:
        out["note"] = notes[0]
    return rc.item(
        first, out, ("agents", "setting", "intent", "line", "start", "end", "status", "note")
    )
