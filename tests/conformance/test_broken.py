"""Issue 5, item 4 (the Java side): the broken-resource suite of tests/validation/broken/ is
caught by the HL7 engine too, and the Python and Java validators agree on which resources are
invalid. The cases and the rule for "caught" are the other engineer's (broken/README.md); the
engine words a missing element's location as its parent with the element named in the message,
which the README allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fhir_ivc.validation import validate_resource
from fhir_ivc.validation.hl7 import hl7_expression
from tests.validation._suite import cases

from ._found import Found
from .conftest import ConformanceRun

CASES = cases()
_SEVERITY = {"fatal": "error"}


def _java(conformance: ConformanceRun, path: Any) -> list[Found]:
    return conformance.of([path])


def _java_errors(found: Sequence[Found]) -> list[Found]:
    return [f for f in found if f.is_error]


def _hits(want: Mapping[str, str], found: Sequence[Found], profile: str) -> list[Found]:
    out = []
    for f in found:
        severity = _SEVERITY.get(f.issue["severity"], f.issue["severity"])
        if severity != want["severity"]:
            continue
        where = hl7_expression(f.issue.get("location", ""))
        expected = want["expression"]
        if where == expected:
            out.append(f)
        elif expected.startswith(where + "."):
            # the parent, naming the missing element / slice, or the case's profile (a resource
            # of the wrong type for a claimed profile is reported at the resource)
            child = re.sub(r"\[\d+\]", "", expected[len(where) + 1 :].split(".")[0])
            message = f.issue.get("message", "")
            if (child and child in message) or profile in message:
                out.append(f)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_caught_by_the_hl7_engine(conformance: ConformanceRun, case) -> None:
    found = _java(conformance, conformance.broken[case.name])
    problems = [
        f"missing {w['severity']} at {w['expression']}"
        for w in case.issues
        if not _hits(w, found, case.profile)
    ]
    allowed = [w for w in case.issues if w["severity"] == "error"]
    # the engine repeats a coding's error on the CodeableConcept: same message, parent location
    expected_messages = {h.issue["message"] for w in allowed for h in _hits(w, found, case.profile)}
    for f in _java_errors(found):
        if f.issue["message"] in expected_messages:
            continue
        if not any(_hits(w, [f], case.profile) for w in allowed):
            problems.append(f"unexpected error @ {f.issue['location']}: {f.issue['message']}")
    assert problems == [], case.description


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_python_and_java_agree_on_validity(conformance: ConformanceRun, case) -> None:
    python_errors = validate_resource(case.resource, min_severity="error")
    java_errors = _java_errors(_java(conformance, conformance.broken[case.name]))
    assert bool(python_errors) == bool(java_errors), (
        [i["diagnostics"] for i in python_errors],
        [f"{f.issue['location']}: {f.issue['message']}" for f in java_errors],
    )


def test_the_valid_bases_have_no_error_in_either_validator(conformance: ConformanceRun) -> None:
    assert conformance.valid, "tests/validation/valid/ is empty"
    for name, path in conformance.valid.items():
        resource = conformance.documents[str(path)]
        assert validate_resource(resource, min_severity="error") == [], name
        errors = _java_errors(_java(conformance, path))
        assert errors == [], (
            name,
            [f"{f.issue['location']}: {f.issue['message']}" for f in errors],
        )
