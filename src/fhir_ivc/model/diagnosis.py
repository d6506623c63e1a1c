"""What happened before surgery: presentation, imaging, tumor markers, biopsy, and the diagnosis."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from fhir_ivc.model._base import CaseModel, KindItem, ListItem, NonEmptyText
from fhir_ivc.model.time import TimePoint

__all__ = [
    "Biopsy",
    "Diagnosis",
    "ImagingModality",
    "ImagingStudy",
    "IntraluminalSite",
    "IvcSegment",
    "Organ",
    "OrganContact",
    "Presentation",
    "Symptom",
    "TumorMarkerResult",
]

#: The surgical classification of the IVC used in the report: upper = above the hepatic veins,
#: middle = between the hepatic and renal veins, lower = below the renal veins.
IvcSegment = Literal["upper", "middle", "lower"]

#: Where an intraluminal tumor thrombus extends beyond the IVC.
IntraluminalSite = Literal["right-atrium", "renal-vein", "hepatic-vein"]

#: Organs the tumor touches or infiltrates.
Organ = Literal["liver", "right-kidney", "left-kidney", "duodenum", "pancreas", "aorta"]

ImagingModality = Literal[
    "ultrasound",
    "doppler-ultrasound",
    "ct",
    "mri",
    "echocardiography",
    "transesophageal-echocardiography",
    "pet-ct",
]

Dimensions = Annotated[
    list[Annotated[float, Field(gt=0, le=200)]],
    Field(max_length=3, description="Tumor dimensions in cm (up to 3), stored largest first."),
]


class Symptom(KindItem):
    """A presenting symptom."""

    noun = "symptom"

    kind: Literal["abdominal-pain", "hematuria", "lower-limb-edema", "other"]


class Presentation(CaseModel):
    """How the disease presented. Leave the whole section out when no symptom is known."""

    symptoms: list[Symptom] = Field(min_length=1)


class ImagingStudy(ListItem):
    """One imaging study. Its size measures the tumor in the body (TumorSize focus = Tumor)."""

    modality: ImagingModality
    contrast: bool | None = None
    region: NonEmptyText | None = Field(default=None, description="e.g. 'chest and abdomen'")
    target: Literal["primary", "intraluminal-extension"] = Field(
        default="primary",
        description="Which tumor body structure the size refers to.",
    )
    dimensions_cm: Dimensions = Field(default_factory=list)
    findings: NonEmptyText | None = None
    when: TimePoint | None = None

    @field_validator("dimensions_cm")
    @classmethod
    def _largest_first(cls, value: list[float]) -> list[float]:
        # mCODE TumorSize orders dimensions largest first; storing them that way keeps the
        # FHIR round trip exact.
        return sorted(value, reverse=True)

    @model_validator(mode="after")
    def _target_needs_size(self) -> ImagingStudy:
        if self.target != "primary" and not self.dimensions_cm:
            raise ValueError("target only says which tumor dimensions_cm measure: give the size")
        return self

    def natural_key(self) -> str:
        return self.modality


class TumorMarkerResult(ListItem):
    """Serum tumor markers; ``name`` is None when the report does not say which markers."""

    name: NonEmptyText | None = None
    result: Literal["negative", "positive"]
    when: TimePoint | None = None

    def natural_key(self) -> str:
        return "tumor-markers"


class Biopsy(CaseModel):
    method: Literal["percutaneous-needle", "ultrasound-guided-puncture", "ct-guided-core", "open"]
    result: NonEmptyText = Field(description="The reported result, e.g. 'consistent with sarcoma'.")
    when: TimePoint | None = None


class OrganContact(ListItem):
    """An organ the tumor is in contact with on imaging (not proven infiltration)."""

    organ: Organ

    def natural_key(self) -> str:
        return self.organ


class Diagnosis(CaseModel):
    """The primary cancer: histology, ICD-O-3 morphology, location in the IVC."""

    histology: NonEmptyText = "Leiomyosarcoma"
    icdo3_morphology: Annotated[str, Field(pattern=r"^\d{4}/[0-39]$")] = Field(
        default="8890/3", description="ICD-O-3 morphology and behavior, e.g. 8890/3."
    )
    ivc_segments: list[IvcSegment] = Field(min_length=1)
    intraluminal_extension: list[IntraluminalSite] = Field(default_factory=list)
    organ_contact: list[OrganContact] = Field(default_factory=list)
    basis: Literal["histology", "imaging", "cytology"] = Field(
        default="histology", description="What the diagnosis rests on (mCODE evidence type)."
    )
    when: TimePoint | None = Field(default=None, description="Date of diagnosis.")

    @model_validator(mode="after")
    def _unique_segments(self) -> Diagnosis:
        if len(set(self.ivc_segments)) != len(self.ivc_segments):
            raise ValueError("ivc_segments lists a segment twice")
        if len(set(self.intraluminal_extension)) != len(self.intraluminal_extension):
            raise ValueError("intraluminal_extension lists a site twice")
        return self
