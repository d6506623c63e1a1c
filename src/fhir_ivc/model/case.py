"""The case record: one patient's IVC leiomyosarcoma, from presentation to follow-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from fhir_ivc.model._base import CaseModel, ListItem
from fhir_ivc.model.diagnosis import (
    Biopsy,
    Diagnosis,
    ImagingStudy,
    Presentation,
    TumorMarkerResult,
)
from fhir_ivc.model.outcome import FollowUp, Metastasis, SystemicTherapy, TherapyNotGiven
from fhir_ivc.model.pathology import Pathology
from fhir_ivc.model.patient import Patient
from fhir_ivc.model.surgery import Surgery
from fhir_ivc.model.time import TimePoint

__all__ = ["SCHEMA_VERSION", "Case", "item_keys"]

SCHEMA_VERSION: Literal["1.0"] = "1.0"

CaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
SystemUri = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9+.-]*:\S+$", max_length=400)]


def item_keys(items: Sequence[ListItem]) -> list[str]:
    """Stable keys of list items: the explicit ``key``, else the natural key ranked by order.

    The first item whose natural key is ``lung`` gets ``lung``, the second ``lung-2``: editing
    any other field of an item never changes its key.
    """
    seen: dict[str, int] = {}
    keys: list[str] = []
    for item in items:
        if item.key is not None:
            keys.append(item.key)
            continue
        natural = item.natural_key()
        seen[natural] = seen.get(natural, 0) + 1
        keys.append(natural if seen[natural] == 1 else f"{natural}-{seen[natural]}")
    return keys


class Case(CaseModel):
    """A structured IVC leiomyosarcoma case record (schema version 1.0)."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    case_id: CaseId = Field(description="The case's id in its source system.")
    source_system: SystemUri = Field(
        description="URI of the system the case comes from; with case_id it identifies the case."
    )
    patient: Patient
    presentation: Presentation | None = None
    imaging: list[ImagingStudy] = Field(default_factory=list)
    tumor_markers: list[TumorMarkerResult] = Field(default_factory=list)
    biopsy: Biopsy | None = None
    diagnosis: Diagnosis
    surgery: Surgery | None = None
    pathology: Pathology | None = None
    metastases: list[Metastasis] = Field(default_factory=list)
    systemic_therapy: list[SystemicTherapy] = Field(default_factory=list)
    therapy_not_given: list[TherapyNotGiven] = Field(default_factory=list)
    follow_up: list[FollowUp] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        for name in (
            "imaging",
            "tumor_markers",
            "metastases",
            "systemic_therapy",
            "therapy_not_given",
            "follow_up",
        ):
            _unique_keys(name, getattr(self, name))
        if self.presentation:
            _unique_keys("presentation.symptoms", self.presentation.symptoms)
        _unique_keys("diagnosis.organ_contact", self.diagnosis.organ_contact)
        if self.surgery:
            for name in ("approach", "associated_resections", "ivc_management", "complications"):
                _unique_keys(f"surgery.{name}", getattr(self.surgery, name))
        if self.pathology:
            _unique_keys("pathology.organ_infiltration", self.pathology.organ_infiltration)
        if self.surgery is None and any(tp.relative for tp in self.time_points()):
            raise ValueError("relative times need the index surgery they count from ('surgery')")
        if any(i.target == "intraluminal-extension" for i in self.imaging) and (
            not self.diagnosis.intraluminal_extension
        ):
            raise ValueError(
                "an imaging study targets the intraluminal extension, "
                "but diagnosis.intraluminal_extension is empty"
            )
        return self

    def time_points(self) -> list[TimePoint]:
        """Every time point in the case (for checks and for date handling)."""
        points: list[TimePoint | None] = [self.diagnosis.when]
        points += [i.when for i in self.imaging] + [m.when for m in self.tumor_markers]
        points += [self.biopsy.when] if self.biopsy else []
        points += [m.detected for m in self.metastases]
        points += [t.start for t in self.systemic_therapy] + [t.end for t in self.systemic_therapy]
        points += [f.when for f in self.follow_up]
        return [p for p in points if p is not None]


def _unique_keys(name: str, items: Sequence[Any]) -> None:
    keys = item_keys(items)
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(
            f"{name}: item keys {dupes} are used twice; give the items distinct 'key's"
        )
