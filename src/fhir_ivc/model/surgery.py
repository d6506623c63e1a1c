"""The index operation: approach, en bloc IVC resection, associated resections, IVC management."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from fhir_ivc.model._base import CaseModel, KindItem, ListItem, NonEmptyText
from fhir_ivc.model.diagnosis import IvcSegment
from fhir_ivc.model.time import FhirDate

__all__ = [
    "ApproachStep",
    "AssociatedResection",
    "Complication",
    "GraftMaterial",
    "IvcManagement",
    "IvcManagementMethod",
    "Surgery",
]

ApproachKind = Literal[
    "laparotomy",
    "median-sternotomy",
    "thoracotomy",
    "cardiopulmonary-bypass",
    "total-hepatic-vascular-exclusion",
    "in-situ-cold-liver-perfusion",
    "cannulation",
    "intraoperative-tee",
    "laparoscopy",
]

IvcManagementMethod = Literal[
    "ligation", "primary-repair", "patch-cavoplasty", "graft-replacement", "anastomosis", "none"
]

GraftMaterial = Literal[
    "ptfe",
    "dacron",
    "aortic-allograft",
    "venous-allograft",
    "autologous-vein",
    "bovine-pericardium",
    "autologous-pericardium",
]

Minutes = Annotated[float, Field(gt=0, le=2880)]


class ApproachStep(ListItem):
    """A step of the surgical approach (laparotomy, sternotomy, bypass, hepatic exclusion...)."""

    kind: ApproachKind
    detail: NonEmptyText | None = None

    def natural_key(self) -> str:
        return self.kind


class AssociatedResection(ListItem):
    """An organ or vessel resected en bloc with the IVC segment."""

    kind: Literal["nephrectomy", "renal-vein-segment", "adrenalectomy", "liver-resection"]
    side: Literal["left", "right"] | None = None
    detail: NonEmptyText | None = None
    reason: NonEmptyText | None = None

    def natural_key(self) -> str:
        return f"{self.side}-{self.kind}" if self.side else self.kind


class IvcManagement(ListItem):
    """How the IVC was handled after resection; ``graft_material`` for grafts and patches."""

    method: IvcManagementMethod
    graft_material: GraftMaterial | None = None
    detail: NonEmptyText | None = None
    decided: Literal["preoperative", "intraoperative"] | None = None

    @model_validator(mode="after")
    def _material_fits_method(self) -> IvcManagement:
        if self.graft_material and self.method not in ("graft-replacement", "patch-cavoplasty"):
            raise ValueError(
                f"graft_material is only meaningful for graft-replacement or patch-cavoplasty, "
                f"not {self.method!r}"
            )
        return self

    def natural_key(self) -> str:
        return self.method


class Complication(KindItem):
    """A postoperative complication (Clavien-Dindo grade when known)."""

    noun = "complication"

    kind: Literal[
        "hematoma",
        "bleeding",
        "graft-thrombosis",
        "graft-infection",
        "acute-kidney-injury",
        "lymphatic-leak",
        "wound-infection",
        "other",
    ]
    clavien_dindo: Literal["I", "II", "IIIa", "IIIb", "IVa", "IVb", "V"] | None = None
    management: NonEmptyText | None = None


class Surgery(CaseModel):
    """The index surgery: the anchor (T0) of all relative times in the case."""

    date: FhirDate | None = Field(default=None, description="Real date when known, else absent.")
    intent: Literal["curative", "palliative"] = "curative"
    en_bloc: bool = True
    resected_segments: list[IvcSegment] = Field(min_length=1)
    resection_extent: Literal["partial", "circumferential"] | None = None
    approach: list[ApproachStep] = Field(default_factory=list)
    associated_resections: list[AssociatedResection] = Field(default_factory=list)
    ivc_management: list[IvcManagement] = Field(default_factory=list)
    operative_time_min: Minutes | None = None
    ivc_clamp_time_min: Minutes | None = None
    blood_loss_ml: Annotated[float, Field(ge=0, le=50000)] | None = None
    complications: list[Complication] = Field(default_factory=list)
    postoperative_stay_days: Annotated[int, Field(ge=0, le=365)] | None = Field(
        default=None, description="Days from surgery to discharge (as the report counts them)."
    )
    notes: list[NonEmptyText] = Field(
        default_factory=list, description="Operative findings and details without a coded home."
    )

    @model_validator(mode="after")
    def _unique_segments(self) -> Surgery:
        if len(set(self.resected_segments)) != len(self.resected_segments):
            raise ValueError("resected_segments lists a segment twice")
        return self
