"""The case model (pydantic v2): the source side of every mapping.

``Case`` is the root; ``Case.model_json_schema()`` is what ``fhir-ivc schema`` prints.
"""

from fhir_ivc.model._base import CaseModel, ListItem
from fhir_ivc.model.case import SCHEMA_VERSION, Case, item_keys
from fhir_ivc.model.diagnosis import (
    Biopsy,
    Diagnosis,
    ImagingStudy,
    OrganContact,
    Presentation,
    Symptom,
    TumorMarkerResult,
)
from fhir_ivc.model.outcome import FollowUp, Metastasis, SystemicTherapy, TherapyNotGiven
from fhir_ivc.model.pathology import OrganInfiltration, Pathology
from fhir_ivc.model.patient import Patient, PatientIdentifier
from fhir_ivc.model.surgery import (
    ApproachStep,
    AssociatedResection,
    Complication,
    IvcManagement,
    Surgery,
)
from fhir_ivc.model.time import RelativeTime, TimePoint

__all__ = [
    "SCHEMA_VERSION",
    "ApproachStep",
    "AssociatedResection",
    "Biopsy",
    "Case",
    "CaseModel",
    "Complication",
    "Diagnosis",
    "FollowUp",
    "ImagingStudy",
    "IvcManagement",
    "ListItem",
    "Metastasis",
    "OrganContact",
    "OrganInfiltration",
    "Pathology",
    "Patient",
    "PatientIdentifier",
    "Presentation",
    "RelativeTime",
    "Surgery",
    "Symptom",
    "SystemicTherapy",
    "TherapyNotGiven",
    "TimePoint",
    "TumorMarkerResult",
    "item_keys",
]
