"""Mappers: one module per resource family, each element mapped in one visible place.

``MAPPERS`` is the order in which a case is mapped (the bundle order: Patient first).
``ELEMENTS`` collects every module's mapping rows (docs/mapping.md is generated from them).
"""

from collections.abc import Callable

from fhir_ivc.mappers import (
    condition,
    follow_up,
    measures,
    medication,
    observation,
    patient,
    procedure,
    report,
    tumor,
)
from fhir_ivc.mappers._context import MapContext
from fhir_ivc.mappers._rows import ElementMap

__all__ = ["ELEMENTS", "MAPPERS", "ElementMap"]

MAPPERS: tuple[Callable[[MapContext], None], ...] = (
    patient.to_fhir_patient,
    condition.to_fhir_primary_condition,
    tumor.to_fhir_tumors,
    condition.to_fhir_symptoms,
    procedure.to_fhir_imaging_procedures,
    observation.to_fhir_imaging_sizes,
    observation.to_fhir_tumor_markers,
    procedure.to_fhir_biopsy,
    observation.to_fhir_organ_contact,
    procedure.to_fhir_surgery,
    measures.to_fhir_operative_measures,
    condition.to_fhir_complications,
    tumor.to_fhir_specimen,
    observation.to_fhir_pathology_observations,
    report.to_fhir_pathology_report,
    condition.to_fhir_metastases,
    medication.to_fhir_systemic_therapy,
    procedure.to_fhir_therapy_not_given,
    follow_up.to_fhir_follow_up,
)

ELEMENTS: tuple[ElementMap, ...] = (
    *patient.ELEMENTS,
    *condition.ELEMENTS,
    *tumor.ELEMENTS,
    *procedure.ELEMENTS,
    *measures.ELEMENTS,
    *observation.ELEMENTS,
    *follow_up.ELEMENTS,
    *report.ELEMENTS,
    *medication.ELEMENTS,
)
