"""The hand-written strategies themselves: valid values, exact floats, and reach of the edges."""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from fhir_ivc.model import (
    Case,
    Complication,
    Diagnosis,
    Metastasis,
    RelativeTime,
    Symptom,
    SystemicTherapy,
    TimePoint,
    item_keys,
)
from tests.strategies import (
    case_ids,
    cases,
    enum_values,
    fhir_dates,
    free_texts,
    keyed_lists,
    metastases,
    source_systems,
    tenths,
    time_points,
)

T = TypeVar("T")

FIND = settings(max_examples=2000, database=None, deadline=None)


@given(st.one_of(tenths(0, 200, exclude_low=True), tenths(0, 1200), tenths(0, 50000)))
def test_tenths_round_trip_through_json_and_decimal(value: float) -> None:
    assert float(repr(value)) == value
    assert json.loads(json.dumps(value)) == value
    # repr is the short decimal: exactly what a FHIR decimal carries, nothing more
    assert Decimal(repr(value)) == Decimal(round(value * 10)) / 10
    assert round(value, 1) == value


def test_tenths_reach_both_bounds_but_not_an_excluded_low() -> None:
    assert find(tenths(0, 200, exclude_low=True), lambda x: True, settings=FIND) == 0.1
    assert find(tenths(0, 200), lambda x: x >= 200, settings=FIND) == 200.0


@given(free_texts())
def test_free_text_is_stored_unchanged(text: str) -> None:
    assert text == text.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text)
    assert Symptom(kind="other", text=text).text == text


@given(fhir_dates())
def test_fhir_dates_are_accepted_unchanged(date: str) -> None:
    assert TimePoint(date=date).date == date


class _AllReachedError(Exception):
    """Stops ``reached`` early: every condition has been met."""


def reached(
    strategy: SearchStrategy[T], conditions: Mapping[str, Callable[[T], object]], n: int = 1000
) -> set[str]:
    """Names of the conditions met by some generated value, drawing at most ``n`` values."""
    seen: set[str] = set()

    @settings(max_examples=n, phases=[Phase.generate], database=None, deadline=None)
    @given(strategy)
    def collect(value: T) -> None:
        seen.update(name for name, condition in conditions.items() if condition(value))
        if len(seen) == len(conditions):
            raise _AllReachedError

    with contextlib.suppress(_AllReachedError):
        collect()
    return seen


DATE_FORMS = {
    "YYYY": r"\d{4}",
    "YYYY-MM": r"\d{4}-\d{2}",
    "YYYY-MM-DD": r"\d{4}-\d{2}-\d{2}",
    "dateTime Z": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
    "dateTime offset": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}",
    "dateTime fraction": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+(Z|[+-]\d{2}:\d{2})",
}


def test_fhir_dates_reach_every_precision() -> None:
    conditions = {
        name: lambda d, p=pattern: re.fullmatch(p, d) is not None
        for name, pattern in DATE_FORMS.items()
    }
    assert reached(fhir_dates(), conditions) == set(conditions)


def test_relative_times_reach_every_unit_and_relation() -> None:
    conditions = {
        f"{unit} {relation}": lambda tp, u=unit, r=relation: (
            tp.relative is not None and (tp.relative.unit, tp.relative.relation) == (u, r)
        )
        for unit in enum_values(RelativeTime, "unit")
        for relation in enum_values(RelativeTime, "relation")
    }
    assert reached(time_points(), conditions) == set(conditions)


@given(time_points(relative=False))
def test_time_points_without_surgery_are_dates(tp: TimePoint) -> None:
    assert tp.relative is None


@given(case_ids(), source_systems())
def test_identity_helpers_make_valid_cases(case_id: str, source_system: str) -> None:
    record = {
        "case_id": case_id,
        "source_system": source_system,
        "patient": {"sex": "unknown"},
        "diagnosis": {"ivc_segments": ["lower"]},
    }
    case = Case.model_validate(record)
    assert (case.case_id, case.source_system) == (case_id, source_system)


@given(cases(case_id="fixed-1", source_system="urn:oid:1.2.3"))
@settings(max_examples=10)
def test_cases_take_a_fixed_identity(case: Case) -> None:
    assert (case.case_id, case.source_system) == ("fixed-1", "urn:oid:1.2.3")


@given(
    st.lists(
        cases(case_id=st.integers(1, 999).map(lambda n: f"c-{n}")),
        min_size=2,
        max_size=2,
        unique_by=lambda c: c.case_id,
    )
)
@settings(max_examples=10)
def test_cases_can_be_drawn_with_distinct_ids(many: list[Case]) -> None:
    assert len({c.case_id for c in many}) == len(many)


def test_enum_values_read_the_model() -> None:
    assert enum_values(Diagnosis, "ivc_segments") == ("upper", "middle", "lower")
    assert "other" in enum_values(Complication, "kind")
    assert len(enum_values(SystemicTherapy, "agents")) == 12
    with pytest.raises(TypeError, match="no Literal values"):
        enum_values(Diagnosis, "histology")


def test_keyed_lists_reach_explicit_and_derived_keys() -> None:
    conditions: dict[str, Callable[[list[Metastasis]], object]] = {
        "explicit and derived": lambda ms: any(m.key for m in ms) and any(not m.key for m in ms),
        "ranked derived key": lambda ms: any(k.endswith("-2") for k in item_keys(ms)),
        "longest key": lambda ms: any(m.key and len(m.key) == 63 for m in ms),
    }
    assert reached(keyed_lists(metastases(time_points())), conditions) == set(conditions)


CASE_EDGES: dict[str, Callable[[Case], object]] = {
    "no surgery": lambda c: c.surgery is None,
    "relative time before surgery": lambda c: any(
        tp.relative and tp.relative.relation == "before" for tp in c.time_points()
    ),
    "full dateTime": lambda c: any(tp.date and "T" in tp.date for tp in c.time_points()),
    "intraluminal imaging target": lambda c: any(
        i.target == "intraluminal-extension" for i in c.imaging
    ),
    "several metastases": lambda c: len(c.metastases) >= 2,
    "several follow-ups": lambda c: len(c.follow_up) >= 2,
    "several therapy lines": lambda c: len(c.systemic_therapy) >= 2,
    "graft material": lambda c: (
        c.surgery is not None and any(m.graft_material for m in c.surgery.ivc_management)
    ),
    "explicit key": lambda c: any(m.key for m in [*c.metastases, *c.imaging, *c.follow_up]),
    "three dimensions": lambda c: any(len(i.dimensions_cm) == 3 for i in c.imaging),
    "patient identifier": lambda c: bool(c.patient.identifiers),
    "inferred marker": lambda c: c.pathology is not None and bool(c.pathology.inferred),
    "absent section": lambda c: c.presentation is None,
}


def test_cases_reach_the_edges() -> None:
    assert reached(cases(), CASE_EDGES) == set(CASE_EDGES)
