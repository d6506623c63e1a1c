"""Surgical pathology of the resection specimen."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from fhir_ivc.model._base import CaseModel, ListItem, NonEmptyText
from fhir_ivc.model.diagnosis import Organ

__all__ = ["OrganInfiltration", "Pathology"]


class OrganInfiltration(ListItem):
    """Whether an organ resected en bloc was infiltrated by the tumor."""

    organ: Organ
    infiltrated: bool

    def natural_key(self) -> str:
        return self.organ


class Pathology(CaseModel):
    histologic_type: NonEmptyText = "Leiomyosarcoma"
    icdo3_morphology: Annotated[str, Field(pattern=r"^\d{4}/[0-39]$")] = "8890/3"
    grade: Literal["low", "intermediate", "high"] | None = None
    fnclcc_grade: Literal[1, 2, 3] | None = Field(
        default=None, description="FNCLCC grade when the report states it; never derived."
    )
    size_cm: list[Annotated[float, Field(gt=0, le=200)]] = Field(
        default_factory=list, max_length=3, description="Tumor size in cm, stored largest first."
    )

    margin_status: Literal["uninvolved", "involved", "cannot-be-assessed"] | None = None
    r_classification: Literal["R0", "R1", "R2", "RX"] | None = None
    organ_infiltration: list[OrganInfiltration] = Field(default_factory=list)
    conclusion: NonEmptyText | None = Field(
        default=None, description="Gross/microscopic description as free text."
    )

    @field_validator("size_cm")
    @classmethod
    def _largest_first(cls, value: list[float]) -> list[float]:
        return sorted(value, reverse=True)
