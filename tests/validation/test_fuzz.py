"""Bounded fuzz of the validator (issue 12): any JSON where a resource's elements belong gives
issues, never an exception; a check that trips over a shape is an error, never "valid".

Mutations of the example bundles put arbitrary JSON values at arbitrary places. The ``ci``
Hypothesis profile runs a fixed set of examples (tests/conftest.py); ``HYPOTHESIS_PROFILE=dev``
runs more.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_ivc.validation import validate_bundle, validate_resource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "bundles"
BUNDLES = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
KEYS = st.sampled_from(
    [
        "resourceType",
        "meta",
        "profile",
        "extension",
        "url",
        "valueString",
        "coding",
        "system",
        "code",
        "entry",
        "resource",
        "id",
        "value",
        "component",
        "valueQuantity",
        "request",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*path, index))
    return found


PATHS = [paths(bundle)[1:] for bundle in BUNDLES]


@st.composite
def mutated_bundles(draw: st.DrawFn) -> dict[str, Any]:
    which = draw(st.integers(0, len(BUNDLES) - 1))
    bundle = copy.deepcopy(BUNDLES[which])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS[which]))
        target: Any = bundle
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = draw(VALUES)
        except (KeyError, IndexError, TypeError):  # an earlier mutation changed the shape
            continue
    return bundle


def assert_issues(issues: Any) -> None:
    assert isinstance(issues, list)
    for issue in issues:
        assert issue["severity"] in ("error", "warning", "information")
        assert isinstance(issue["diagnostics"], str)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bundle=mutated_bundles())
def test_validator_never_raises_on_mutated_bundles(bundle):
    issues = validate_resource(bundle, min_severity="information")
    assert_issues(issues)
    assert_issues(validate_bundle(bundle))
    # every shape is checked by the checks themselves: the "could not be checked" net of
    # validate() (a check that raised) is never needed (issue 10 fixed the sites fuzz found)
    assert not any(issue["code"] == "exception" for issue in issues), issues


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(resource=st.dictionaries(KEYS | st.text(max_size=4), VALUES, max_size=6))
def test_validator_never_raises_on_arbitrary_objects(resource):
    issues = validate_resource(resource, min_severity="information")
    assert_issues(issues)
    assert not any(issue["code"] == "exception" for issue in issues), issues


def test_a_check_that_trips_is_an_error_issue():
    bundle = copy.deepcopy(BUNDLES[0])
    bundle["entry"][0]["resource"]["resourceType"] = []  # unhashable where a type belongs
    issues = validate_bundle(bundle)
    assert issues, "a resource that cannot be checked must not pass as valid"
    assert all(issue["severity"] == "error" for issue in issues)


#: the shapes fuzzing found that made a check raise (each site now checks the shape itself)
CRASHERS = {
    "code-as-object-in-bound-concept": (1, ["clinicalStatus", "coding", 0, "code"], {}),
    "system-as-list-in-bound-concept": (1, ["clinicalStatus", "coding", 0, "system"], []),
    "coding-as-boolean-in-invariant": (1, ["verificationStatus", "coding"], True),
    "coding-as-number-in-profile-binding": (18, ["valueCodeableConcept", "coding"], 3),
    # a decimal has no range in FHIR: valid, but orjson cannot write it as a memo key
    "integer-beyond-64-bits-in-memo": (14, ["valueQuantity", "value"], 2**70),
    "integer-beyond-64-bits-in-profile-memo": (7, ["component", 0, "extension"], [{"x": 2**70}]),
    "resource-type-as-object": (0, ["resourceType"], {}),
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_shapes_that_once_crashed_a_check_are_plain_errors(name: str) -> None:
    index, path, value = CRASHERS[name]
    bundle = copy.deepcopy(BUNDLES[0])
    target: Any = bundle["entry"][index]["resource"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    issues = validate_resource(bundle, min_severity="information")
    assert [i for i in issues if i["code"] == "exception"] == []
    if name != "integer-beyond-64-bits-in-memo":
        assert any(i["severity"] == "error" for i in issues)
