"""Patient: mCODE CancerPatient (http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-patient)."""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.elements import data_absent
from fhir_ivc.mappers._context import Facts, MapContext
from fhir_ivc.mappers._read import ReadContext, ReadShape
from fhir_ivc.mappers._rows import ElementMap, Rows
from fhir_ivc.mappers.canonical import CANCER_PATIENT as PROFILE
from fhir_ivc.model import PatientIdentifier
from fhir_ivc.terminology.systems import IDENTIFIER_TYPE

__all__ = ["ELEMENTS", "from_fhir_patient", "to_fhir_patient"]


def to_fhir_patient(ctx: MapContext) -> None:
    """The CancerPatient. Identifier 1 is the case identifier (source system | case id)."""
    case = ctx.case
    patient = case.patient
    identifiers: list[dict[str, Any]] = [{"system": case.source_system, "value": case.case_id}]
    for ident in patient.identifiers:
        item: dict[str, Any] = {"system": ident.system, "value": ident.value}
        if ident.type:
            item = {"type": {"coding": [{"system": IDENTIFIER_TYPE, "code": ident.type}]}, **item}
        identifiers.append(item)
    body: dict[str, Any] = {
        "identifier": identifiers,
        "name": [{"extension": [data_absent("masked")]}],
        "gender": patient.sex,
    }
    if patient.birth_date:
        body["birthDate"] = patient.birth_date
    facts: list[Facts] = [(patient, "patient")]
    vital = [(i, f) for i, f in enumerate(case.follow_up) if f.vital_status]
    if vital:  # derived from the last follow-up that states it, with its inferred marker
        index, last = vital[-1]
        body["deceasedBoolean"] = last.vital_status == "dead"
        facts.append((last, f"follow_up[{index}]"))
    ctx.add(
        "patient",
        "patient",
        "Patient",
        body,
        profile=PROFILE,
        facts=facts,
        identifier=(case.source_system, case.case_id),
    )


#: What the readers take from the Patient (``read_case`` reports everything else as a Loss).
READ_SHAPES = {
    "patient": ReadShape.of(
        (
            "identifier.system",
            "identifier.value",
            "identifier.type",
            "name",
            "gender",
            "birthDate",
            "deceasedBoolean",
        )
    ),
}


def from_fhir_patient(
    resource: dict[str, Any], source_system: str | None = None, rc: ReadContext | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Return (source system, case id, patient fields) from a Patient resource.

    The case identifier is the one whose system is ``source_system`` (when given), else the
    first. With ``rc``, what the case record cannot carry is reported: names (the record never
    holds one), identifier types other than MR/PI/PT, a type on the case identifier.
    """
    identifiers = resource.get("identifier", [])
    index = 0
    if source_system is not None:
        index = next((i for i, x in enumerate(identifiers) if x.get("system") == source_system), 0)
    main = identifiers[index] if identifiers else {}
    others = []
    for i, ident in enumerate(identifiers):
        type_codings: list[dict[str, Any]] = (ident.get("type") or {}).get("coding", [])
        code = type_codings[0].get("code") if type_codings else None
        if i == index:
            if ident.get("type") and rc is not None:
                rc.lose(
                    resource,
                    "Patient.identifier.type",
                    f"the case identifier's type {code!r} is not carried (case_id has none)",
                )
            continue
        if "system" not in ident or "value" not in ident:
            if rc is not None:
                rc.lose(resource, "Patient.identifier", "an identifier without system or value")
            continue
        if ident.get("type") and code not in ("MR", "PI", "PT") and rc is not None:
            rc.lose(
                resource,
                "Patient.identifier.type",
                f"identifier type {code!r} is not one of MR, PI, PT (the identifier is kept)",
            )
        others.append(
            PatientIdentifier(
                system=ident["system"],
                value=ident["value"],
                type=code if code in ("MR", "PI", "PT") else None,
            )
        )
    if rc is not None and any(set(n) - {"extension"} for n in resource.get("name", [])):
        rc.lose(resource, "Patient.name", "names are not carried by the case record")
    fields: dict[str, Any] = {
        "sex": resource.get("gender", "unknown"),
        "identifiers": others,
    }
    if resource.get("birthDate"):
        fields["birth_date"] = resource["birthDate"]
    return main.get("system", ""), main.get("value", ""), fields


# --- the mapping rows (docs/mapping.md is generated from them) --------------------

_patient = Rows("Patient", PROFILE, to_fhir_patient, from_fhir_patient)
_patient_derived = Rows("Patient", PROFILE, to_fhir_patient, None)

ELEMENTS: tuple[ElementMap, ...] = (
    _patient.row(
        "case_id",
        "identifier[0] (system = source_system)",
        note="with source_system, the conditional-update key of the Patient",
    ),
    _patient.row("source_system", "identifier[0].system"),
    _patient.row("patient.identifiers", "identifier[1..]"),
    _patient.row("patient.sex", "gender"),
    _patient.row("patient.birth_date", "birthDate"),
    _patient_derived.row(
        "follow_up[-1].vital_status",
        "deceasedBoolean",
        equivalence="derived",
        note="from the last follow-up that states a vital status; read from the "
        "vital-status Observations instead",
    ),
    _patient_derived.row(
        "(no name in the source)",
        "name.extension[data-absent-reason]=masked",
        equivalence="derived",
        note="mCODE/US Core require a name; the adapter never carries names",
    ),
)
