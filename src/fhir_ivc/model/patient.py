"""The patient: identifiers from the source system, sex, birth date or age at diagnosis."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fhir_ivc.model._base import CaseModel, StrictModel
from fhir_ivc.model.time import FhirDateOnly

__all__ = ["Patient", "PatientIdentifier", "Sex"]

Sex = Literal["female", "male", "other", "unknown"]


class PatientIdentifier(StrictModel):
    """A real identifier of the patient in a source system (MRN, national id...)."""

    system: Annotated[str, StringConstraints(pattern=r"^\S+:\S+$", max_length=400)] = Field(
        description="URI of the identifier system (e.g. urn:oid:... or https://...)"
    )
    value: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: Literal["MR", "PI", "PT"] | None = Field(
        default=None, description="HL7 v2-0203 identifier type (MR = medical record number)."
    )


class Patient(CaseModel):
    """Demographics. Never back-calculate a birth date from an age."""

    sex: Sex
    birth_date: FhirDateOnly | None = None
    #: >= 1: it becomes Condition.onsetAge, and FHIR's Age must be positive (R4 invariant age-1)
    age_at_diagnosis_years: Annotated[int, Field(ge=1, le=130)] | None = None
    identifiers: list[PatientIdentifier] = Field(
        default_factory=list,
        description="Identifiers in source systems; the case identifier is always added.",
    )
