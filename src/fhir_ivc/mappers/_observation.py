"""The one way an Observation is written: status, category, code, subject, time, then the rest.

Shared by :mod:`fhir_ivc.mappers.observation` and :mod:`fhir_ivc.mappers.measures`.
"""

from __future__ import annotations

from typing import Any

from fhir_ivc.fhir.datetimes import time_fields
from fhir_ivc.mappers._context import Facts, MapContext
from fhir_ivc.model import TimePoint
from fhir_ivc.terminology.systems import OBSERVATION_CATEGORY

__all__ = ["add_observation", "category_of"]


def category_of(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code}]}]


def add_observation(
    ctx: MapContext,
    key: str,
    path: str,
    code: dict[str, Any],
    value: dict[str, Any],
    *,
    category: str | None = None,
    profile: str | None = None,
    facts: list[Facts] = (),  # type: ignore[assignment]
    when: TimePoint | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    body: dict[str, Any] = {"status": "final"}
    if category:
        body["category"] = category_of(category)
    body |= {"code": code, "subject": ctx.ref("patient")}
    body |= time_fields("effectiveDateTime", when, ctx.surgery_ref)
    body |= extra or {}
    body |= value
    ctx.add(key, path, "Observation", body, profile=profile, facts=facts)
