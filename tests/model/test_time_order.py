"""Ordering of time points, and therapy periods FHIR can evaluate (Period rule per-1)."""

import pytest
from pydantic import ValidationError

from fhir_ivc.model import SystemicTherapy, TimePoint
from fhir_ivc.model.time import order


def d(value: str) -> TimePoint:
    return TimePoint(date=value)


def r(offset: float, unit: str = "mo", relation: str = "after") -> TimePoint:
    return TimePoint.model_validate(
        {"relative": {"offset": offset, "unit": unit, "relation": relation}}
    )


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (d("2019-02"), d("2019-03"), "before"),
        (d("2020"), d("2019-12-31"), "after"),
        (d("2019-05"), d("2019-05"), "same"),
        (d("2019-02"), d("2019"), "unordered"),
        (d("2019-02-03"), d("2019-02-03T10:00:00Z"), "unordered"),
        (d("2020-01-01T00:00:00+01:00"), d("2019-12-31T23:30:00Z"), "before"),
        (r(9), r(1, "a"), "before"),
        (r(2, "wk", "before"), r(1, "d"), "before"),
        (r(12), r(1, "a"), "same"),  # a month is 30.4375 days: 12 of them are a year
        (d("2019"), r(3), None),
    ],
)
def test_order(first, second, expected):
    assert order(first, second) == expected


def test_therapy_end_before_start_is_refused():
    with pytest.raises(ValidationError, match="end is before start"):
        SystemicTherapy(agents=["doxorubicin"], setting="metastatic", start=r(9), end=r(6))


def test_therapy_period_fhir_cannot_order_is_refused():
    with pytest.raises(ValidationError, match="same precision"):
        SystemicTherapy(
            agents=["doxorubicin"], setting="metastatic", start=d("2019-02"), end=d("2019")
        )


def test_therapy_period_in_order_is_accepted():
    line = SystemicTherapy(
        agents=["ifosfamide"], setting="metastatic", start=d("2019-02"), end=d("2019-06")
    )
    assert line.end == d("2019-06")
