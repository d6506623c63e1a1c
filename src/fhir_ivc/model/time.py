"""Points in time: a real (possibly partial) FHIR date, or a time relative to the index surgery.

The seed report has no calendar dates, only "9 months later" and "30 months after surgery". A
relative time is carried as such and is never turned into an invented date.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from fhir_ivc.model._base import StrictModel

__all__ = ["FhirDate", "FhirDateOnly", "RelativeTime", "TimePoint", "TimeUnit", "order"]

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


_DAYS = {"d": 1.0, "wk": 7.0, "mo": 30.4375, "a": 365.25}


def _instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def order(first: TimePoint, second: TimePoint) -> str | None:
    """How two time points compare: "before", "same", "after", "unordered" (FHIR cannot order
    them, e.g. ``2019-02`` and ``2019``), or None when one is a date and the other relative."""
    if first.date is not None and second.date is not None:
        if "T" in first.date and "T" in second.date:
            a_instant, b_instant = _instant(first.date), _instant(second.date)
            return (
                "before" if a_instant < b_instant else "after" if a_instant > b_instant else "same"
            )
        a, b = first.date[:10].split("-"), second.date[:10].split("-")
        common = min(len(a), len(b))
        if a[:common] != b[:common]:  # zero-padded parts compare as strings
            return "before" if a[:common] < b[:common] else "after"
        same_precision = len(a) == len(b) and ("T" in first.date) == ("T" in second.date)
        return "same" if same_precision else "unordered"
    if first.relative is not None and second.relative is not None:

        def days(rel: RelativeTime) -> float:
            sign = 1 if rel.relation == "after" else -1
            return sign * rel.offset * _DAYS[rel.unit]

        d1, d2 = days(first.relative), days(second.relative)
        return "before" if d1 < d2 else "after" if d1 > d2 else "same"
    return None
