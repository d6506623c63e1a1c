"""Code system URIs and the project's canonical base (all V; docs/terminology.md lists them)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "CANONICAL",
    "CONDITION_CATEGORY",
    "CONDITION_CLINICAL",
    "CONDITION_VER_STATUS",
    "DATA_ABSENT_REASON",
    "ICD10CM",
    "ICD10PCS",
    "ICDO3",
    "IDENTIFIER_TYPE",
    "LOINC",
    "MCODE",
    "NCIT",
    "OBSERVATION_CATEGORY",
    "RESOURCE_TYPES",
    "RXNORM",
    "SNOMED",
    "SPECIMEN_TYPE",
    "UCUM",
    "local_system",
    "project_url",
]

#: One canonical base for every artifact the project defines (profiles/, local code systems).
#: A subdomain of example.org, reserved for documentation (RFC 2606): replace it when the
#: project gets a registered home, in this one place.
CANONICAL: Final = "https://fhir-ivc.example.org/fhir"

SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
ICDO3: Final = "http://terminology.hl7.org/CodeSystem/icd-o-3"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS: Final = "http://www.cms.gov/Medicare/Coding/ICD10"
NCIT: Final = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM: Final = "http://unitsofmeasure.org"
SPECIMEN_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0487"
IDENTIFIER_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
RESOURCE_TYPES: Final = "http://hl7.org/fhir/resource-types"
MCODE: Final = "http://hl7.org/fhir/us/mcode/StructureDefinition"


def local_system(name: str) -> str:
    """URI of one of the project's code systems, e.g. ``.../CodeSystem/ivc-segment``."""
    return f"{CANONICAL}/CodeSystem/{name}"


def project_url(kind: str, name: str) -> str:
    """Canonical URL of a project artifact, e.g. ``project_url("StructureDefinition", "x")``."""
    return f"{CANONICAL}/{kind}/{name}"
