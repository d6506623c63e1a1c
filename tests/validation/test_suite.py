"""The broken-resource suite: each case caught with the right expression, each base valid."""

from __future__ import annotations

import pytest

from fhir_ivc.validation import validate_resource

from ._suite import BROKEN, VALID, cases, caught, load

CASES = cases()


def test_the_suite_covers_what_issue_5_asks_for() -> None:
    names = {c.name for c in CASES}
    assert {
        "tumor-size-without-subject",  # missing required element
        "tumor-size-without-longest-dimension",  # missing required slice
        "tumor-size-wrong-code",  # wrong fixed code
        "tumor-size-unit-outside-binding",  # unit outside a required binding
        "tumor-size-focus-and-specimen",  # both focus and specimen
        "tumor-size-neither-focus-nor-specimen",
        "ivc-management-unknown-local-code",  # a local code not in its CodeSystem
        "histologic-grade-outside-value-set",
        "condition-claims-tumor-size",  # an mCODE profile on the wrong resource type
        "tumor-location-qualifier-snomed-filter",  # unexpandable filter: warning only
    } <= names
    files = {p.name for p in BROKEN.glob("*.json")}
    assert files == {f"{c.name}.json" for c in CASES} | {f"{c.name}.expected.json" for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_caught_with_the_right_expression(case) -> None:
    reported = validate_resource(case.resource, min_severity="information")
    assert caught(case.issues, reported) == [], case.description
    for want in case.issues:  # and the rule comes from the profile the case names
        hits = [i for i in reported if i["expression"] == [want["expression"]]]
        assert any(i.get("profile") == case.profile for i in hits), (want, hits)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_base_is_valid(case) -> None:
    assert validate_resource(case.base) == []
    assert case.resource != case.base or case.name == "tumor-location-qualifier-snomed-filter"


def test_every_valid_resource_is_used_and_valid() -> None:
    used = {p.name for c in CASES for p in VALID.glob("*.json") if load(p) == c.base}
    assert used == {p.name for p in VALID.glob("*.json")}


def test_errors_only_by_default() -> None:
    case = next(c for c in CASES if c.name == "histologic-grade-outside-value-set")
    assert validate_resource(case.resource) == []  # an extensible binding: a warning only
    assert [i["severity"] for i in validate_resource(case.resource, min_severity="warning")] == [
        "warning"
    ]
