"""Canonical URLs of the profiles and extensions the mappers write, each declared once.

mCODE STU4 profiles and extensions (``mcode(...)``), FHIR core extensions, and the project's
own (``project_url``: the package in profiles/, authored by :mod:`fhir_ivc.authoring` from
these same constants). The ivc-operative-measure profile is declared with its rows in
:mod:`fhir_ivc.mappers.measures`, the case-element marker in :mod:`fhir_ivc.fhir.elements`.
"""

from __future__ import annotations

from typing import Final

from fhir_ivc.mappers._context import core, mcode
from fhir_ivc.terminology.systems import project_url

__all__ = [
    "ASSERTED_DATE_EXT",
    "CANCER_PATIENT",
    "CLAVIEN_DINDO_EXT",
    "CONTRAST_EXT",
    "DECISION_EXT",
    "DISEASE_STATUS",
    "DUE_TO_EXT",
    "FOLLOW_UP_FINDING",
    "GRADE",
    "HISTOLOGY",
    "HISTOLOGY_EXT",
    "HUMAN_SPECIMEN",
    "INTENT_EXT",
    "IVC_MANAGEMENT_PROFILE",
    "LATERALITY_EXT",
    "LINE_EXT",
    "LOCATION_QUALIFIER_EXT",
    "MARGIN",
    "MEDICATION_ADMINISTRATION",
    "OBSERVATION",
    "PRIMARY",
    "PROCEDURE_METHOD_EXT",
    "RELATED_CONDITION_EXT",
    "RELATED_EXT",
    "RESECTION_EXTENT_EXT",
    "RESIDUAL",
    "SECONDARY",
    "SETTING_EXT",
    "SURGICAL",
    "TUMOR",
    "TUMOR_SIZE",
]

_FHIR_EXT: Final = "http://hl7.org/fhir/StructureDefinition/"


def _project(profile_id: str) -> str:
    return project_url("StructureDefinition", profile_id)


# --- mCODE STU4 profiles -----------------------------------------------------------------------
CANCER_PATIENT: Final = mcode("mcode-cancer-patient")
PRIMARY: Final = mcode("mcode-primary-cancer-condition")
SECONDARY: Final = mcode("mcode-secondary-cancer-condition")
TUMOR: Final = mcode("mcode-tumor")
HUMAN_SPECIMEN: Final = mcode("mcode-human-specimen")
SURGICAL: Final = mcode("mcode-cancer-related-surgical-procedure")
TUMOR_SIZE: Final = mcode("mcode-tumor-size")
HISTOLOGY: Final = mcode("mcode-histologic-behavior-and-type")
GRADE: Final = mcode("mcode-histologic-grade")
DISEASE_STATUS: Final = mcode("mcode-cancer-disease-status")
MEDICATION_ADMINISTRATION: Final = mcode("mcode-cancer-related-medication-administration")
OBSERVATION: Final = core("Observation")  #: observations no profile fits

# --- mCODE STU4 and FHIR core extensions -------------------------------------------------------
HISTOLOGY_EXT: Final = mcode("mcode-histology-morphology-behavior")
LOCATION_QUALIFIER_EXT: Final = mcode("mcode-body-location-qualifier")
LATERALITY_EXT: Final = mcode("mcode-laterality-qualifier")
INTENT_EXT: Final = mcode("mcode-procedure-intent")
RELATED_CONDITION_EXT: Final = mcode("mcode-related-condition")
ASSERTED_DATE_EXT: Final = _FHIR_EXT + "condition-assertedDate"
RELATED_EXT: Final = _FHIR_EXT + "condition-related"
DUE_TO_EXT: Final = _FHIR_EXT + "condition-dueTo"
PROCEDURE_METHOD_EXT: Final = _FHIR_EXT + "procedure-method"

# --- the project's profiles and extensions (profiles/) -----------------------------------------
MARGIN: Final = _project("ivc-surgical-margin")
RESIDUAL: Final = _project("ivc-residual-tumor")
FOLLOW_UP_FINDING: Final = _project("ivc-follow-up-finding")
IVC_MANAGEMENT_PROFILE: Final = _project("ivc-management-procedure")
CLAVIEN_DINDO_EXT: Final = _project("clavien-dindo-grade")
CONTRAST_EXT: Final = _project("imaging-contrast")
RESECTION_EXTENT_EXT: Final = _project("ivc-resection-extent")
DECISION_EXT: Final = _project("ivc-management-decision")
SETTING_EXT: Final = _project("therapy-setting")
LINE_EXT: Final = _project("therapy-line")
