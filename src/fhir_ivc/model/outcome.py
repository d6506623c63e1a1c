"""After surgery: metastases, systemic therapy, therapies not given, follow-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fhir_ivc.model._base import ListItem, NonEmptyText
from fhir_ivc.model.time import TimePoint, order

__all__ = ["Agent", "FollowUp", "Metastasis", "SystemicTherapy", "TherapyNotGiven"]

#: Systemic agents used for leiomyosarcoma (ESMO/NCCN soft-tissue sarcoma options).
Agent = Literal[
    "doxorubicin",
    "ifosfamide",
    "gemcitabine",
    "docetaxel",
    "dacarbazine",
    "trabectedin",
    "eribulin",
    "pazopanib",
    "epirubicin",
    "cyclophosphamide",
    "vincristine",
    "paclitaxel",
]


class Metastasis(ListItem):
    site: Literal["lung", "liver", "bone", "peritoneum"]
    detected: TimePoint | None = None

    def natural_key(self) -> str:
        return self.site


class SystemicTherapy(ListItem):
    """One line of systemic therapy; one MedicationAdministration per agent."""

    agents: list[Agent] = Field(min_length=1)
    setting: Literal["neoadjuvant", "adjuvant", "metastatic", "recurrence"]
    intent: Literal["curative", "palliative"] | None = None
    line: int | None = Field(default=None, ge=1, le=20)
    start: TimePoint | None = None
    end: TimePoint | None = None
    status: Literal["in-progress", "completed", "stopped", "unknown"] = "unknown"
    note: NonEmptyText | None = None

    @model_validator(mode="after")
    def _unique_agents(self) -> SystemicTherapy:
        if len(set(self.agents)) != len(self.agents):
            raise ValueError("agents lists an agent twice")
        if self.start is not None and self.end is not None:
            relation = order(self.start, self.end)
            if relation == "after":
                raise ValueError("end is before start")
            if relation == "unordered":  # FHIR Period rule per-1 cannot be evaluated
                raise ValueError(
                    "start and end cannot be ordered (e.g. 2019-02 and 2019): give both at the "
                    "same precision"
                )
        return self

    def natural_key(self) -> str:
        return "-".join(self.agents)


class TherapyNotGiven(ListItem):
    """A therapy that was considered and not given (e.g. no adjuvant chemotherapy)."""

    therapy: Literal["chemotherapy", "radiotherapy"]
    setting: Literal["neoadjuvant", "adjuvant"]
    reason: NonEmptyText | None = None

    def natural_key(self) -> str:
        return f"{self.setting}-{self.therapy}"


class FollowUp(ListItem):
    """A follow-up assessment."""

    when: TimePoint
    disease_status: Literal["improving", "stable", "worsening", "undetermined"] | None = None
    local_recurrence: bool | None = None
    vital_status: Literal["alive", "dead"] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> FollowUp:
        if (self.disease_status, self.local_recurrence, self.vital_status) == (None, None, None):
            raise ValueError("a follow-up needs disease_status, local_recurrence or vital_status")
        return self

    def natural_key(self) -> str:
        return "follow-up"
