"""Systemic therapy: mCODE CancerRelatedMedicationAdministration, one per agent of a line.

(http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-related-medication-administration)
``effective[x]`` is required: a Period whose start/end carry the real date or the relative time,
or, when neither is known, a data-absent-reason on the Period. Doses are never invented.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_ivc.fhir.datetimes import read_time, time_fields
from fhir_ivc.fhir.elements import codings, data_absent, ext
from fhir_ivc.mappers._context import MapContext, keyed
from fhir_ivc.mappers._read import ReadContext, ReadShape, profiles_of, show_code
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import INTENT_EXT, LINE_EXT, SETTING_EXT
from fhir_ivc.mappers.canonical import MEDICATION_ADMINISTRATION as PROFILE
from fhir_ivc.model import item_keys
from fhir_ivc.terminology import codes as C

__all__ = ["ELEMENTS", "LINE_EXT", "to_fhir_systemic_therapy"]


def to_fhir_systemic_therapy(ctx: MapContext) -> None:
    case = ctx.case
    metastases = [ctx.ref(f"metastasis.{k}") for k in item_keys(case.metastases)]
    lines = case.systemic_therapy
    for path, key, line in keyed(lines, "systemic_therapy"):
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

#: What the reader takes from a MedicationAdministration (``read_case`` reports the rest).
READ_SHAPES = {
    "therapy": ReadShape.of(
        (
            "status",
            "medicationCodeableConcept",
            "subject",
            "effectivePeriod",
            "effectiveDateTime",
            "reasonReference",
            "note",
            "medicationReference",
        ),
        (SETTING_EXT, INTENT_EXT, LINE_EXT),
    ),
    "medication": ReadShape.of(("code",)),
}


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
        agent = _agent(rc, res)
        if agent is None:
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
    inferred_setting = setting is None
    if setting is None:
        # other producers: metastatic when the reason is a secondary cancer condition
        reasons = [rc.resolve(r) or {} for r in first.get("reasonReference", [])]
        secondary = any(
            "mcode-secondary-cancer-condition" in p for r in reasons for p in profiles_of(r)
        )
        setting = "metastatic" if secondary else "adjuvant"
        rc.lose(
            first,
            "MedicationAdministration.extension[therapy-setting]",
            f"therapy setting not stated; read as {setting} from the reason (marked inferred)",
        )
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
    if len(notes) > 1:
        rc.lose(first, "MedicationAdministration.note", "only the first note is carried")
    item = rc.item(
        first, out, ("agents", "setting", "intent", "line", "start", "end", "status", "note")
    )
    if inferred_setting:
        item["inferred"] = [*item["inferred"], "setting"]
    return item


def _agent(rc: ReadContext, res: dict[str, Any]) -> str | None:
    """The case-model agent of one administration, or None (reported as a Loss).

    By code first (RxNorm ingredient or the project's agent code); a ``medicationReference`` is
    followed to its Medication. Other producers often code the product (RxNorm SCD, e.g. "10 ML
    doxorubicin hydrochloride 2 MG/ML Injection"): when exactly one agent of the case model is
    named in its display or text, that agent is read and the product detail reported lost.
    """
    element = "MedicationAdministration.medicationCodeableConcept"
    medication = res.get("medicationCodeableConcept")
    if medication is None and res.get("medicationReference") is not None:
        element = "MedicationAdministration.medicationReference"
        target = rc.resolve(res.get("medicationReference"))
        if target is None or target.get("resourceType") != "Medication":
            rc.lose(res, element, "the Medication it refers to is not in the pulled data")
            return None
        rc.use(target)
        medication = target.get("code")
    agent = C.AGENT.lookup(medication)
    if agent is not None:
        return agent
    labels = [str(c.get("display", "")) for c in codings(medication)]
    labels.append(str((medication or {}).get("text", "")))
    named = {a for a in C.AGENT.entries for label in labels if re.search(rf"\b{a}\b", label, re.I)}
    if len(named) == 1:
        agent = named.pop()
        rc.lose(
            res,
            element,
            f"{show_code(medication)} is not an agent code of the case model; read as "
            f"{agent!r} from its name (product, strength and form are not carried)",
        )
        return agent
    rc.lose(res, element, f"agent {show_code(medication)} not in the case model")
    return None


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_systemic_therapy = Rows(
    "MedicationAdministration", PROFILE, to_fhir_systemic_therapy, from_fhir_systemic_therapy
)

ELEMENTS: tuple[ElementMap, ...] = (
    _systemic_therapy.row(
        "systemic_therapy[].agents[]",
        "medicationCodeableConcept",
        note="RxNorm ingredient + local agent code; one resource per agent",
    ),
    _systemic_therapy.row("systemic_therapy[].setting", "extension[therapy-setting]"),
    _systemic_therapy.row("systemic_therapy[].intent", "extension[treatmentIntent]"),
    _systemic_therapy.row("systemic_therapy[].line", "extension[therapy-line]"),
    _systemic_therapy.row("systemic_therapy[].start", "effectivePeriod.start"),
    _systemic_therapy.row("systemic_therapy[].end", "effectivePeriod.end"),
    _systemic_therapy.row("systemic_therapy[].status", "status"),
    _systemic_therapy.row("systemic_therapy[].note", "note"),
)
