"""Points in time: a real (possibly partial) FHIR date, or a time relative to the index surgery.

The seed report has no calendar dates, only "9 months later" and "30 months after surgery". A
relative time is carried as such and is never turned into an invented date.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from fhir_ivc.model._base import StrictModel

__all__ = ["FhirDate", "FhirDateOnly", "RelativeTime", "TimePoint", "TimeUnit"]

# FHIR R4 dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or a full date-time with seconds and a zone.
_FHIR_DATETIME = re.compile(
    r"^(\d{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$"
)


def _check_fhir_date(value: str) -> str:
    match = _FHIR_DATETIME.match(value)
    if not match:
        raise ValueError(
            "not a FHIR date: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz "
            "(a time needs a time zone)"
        )
    if match.group(5):  # a full date: check the day exists in that month
        import datetime

        try:
            datetime.date(int(match.group(1)), int(match.group(3)), int(match.group(5)))
        except ValueError as exc:
            raise ValueError(f"not a calendar date: {exc}") from None
    return value


#: A FHIR date or dateTime, possibly partial (``2019``, ``2019-03``, ``2019-03-14``).
FhirDate = Annotated[str, AfterValidator(_check_fhir_date)]


def _check_date_only(value: str) -> str:
    if "T" in value:
        raise ValueError("a FHIR date has no time: use YYYY, YYYY-MM or YYYY-MM-DD")
    return _check_fhir_date(value)


#: A FHIR ``date`` (no time), e.g. a birth date.
FhirDateOnly = Annotated[str, AfterValidator(_check_date_only)]

#: UCUM units allowed for a relative offset: days, weeks, months, years.
TimeUnit = Literal["d", "wk", "mo", "a"]


class RelativeTime(StrictModel):
    """An offset from the index surgery, e.g. 9 months after surgery."""

    offset: Annotated[float, Field(ge=0, le=1200)]
    unit: TimeUnit
    relation: Literal["after", "before"] = "after"


class TimePoint(StrictModel):
    """Exactly one of a real date or a time relative to the index surgery.

    A time point has no ``inferred`` of its own: an inferred time is marked on the field that
    holds it (``metastases[0].inferred: [detected]``)."""

    date: FhirDate | None = None
    relative: RelativeTime | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TimePoint:
        if (self.date is None) == (self.relative is None):
            raise ValueError("give exactly one of 'date' or 'relative'")
        return self

    def describe(self) -> str:
        """Human-readable form, e.g. ``9 months after surgery``."""
        if self.date is not None:
            return self.date
        rel = self.relative
        if rel is None:  # unreachable: the validator demands one of the two
            raise ValueError("time point without date or relative time")
        words = {"d": "day", "wk": "week", "mo": "month", "a": "year"}[rel.unit]
        number = f"{rel.offset:g}"
        plural = "" if number == "1" else "s"
        return f"{number} {words}{plural} {rel.relation} surgery"
