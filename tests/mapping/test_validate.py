"""``fhir_ivc.fhir.validate``: issue shape, what it catches, reuse never changes a verdict."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from fhir_ivc.fhir import validate as v

from ._fhir import resources, seed_bundles, seed_case_ids

ISSUE_KEYS = {"severity", "code", "expression", "diagnostics"}


def _plain_ok(resource: dict[str, Any]) -> bool:
    """The verdict of fhir.resources without any reuse (the reference behaviour)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(copy.deepcopy(resource))
    except (ValidationError, ValueError):
        return False
    return True


@pytest.mark.parametrize("case_id", seed_case_ids())
@pytest.mark.parametrize("kind", ["transaction", "collection"])
def test_seed_bundles_are_valid(case_id: str, kind: str) -> None:
    assert v.validate_bundle(getattr(seed_bundles(case_id), kind)) == []


def test_validation_does_not_mutate_its_input() -> None:
    bundle = seed_bundles("case-2").transaction
    before = copy.deepcopy(bundle)
    v.validate_bundle(bundle)
    assert bundle == before


@pytest.mark.parametrize(
    ("resource", "code", "expression"),
    [
        (
            {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "foo": 1},
            "structure",
            "Observation.foo",
        ),
        ({"resourceType": "Observation", "status": "final"}, "required", "Observation.code"),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "component": [{"code": {"text": "y"}, "valueQuantity": {"value": "ten"}}],
            },
            "value",
            "Observation.component[0].valueQuantity.value",
        ),
        (
            {"resourceType": "Patient", "birthDate": "1960-13-45"},
            "value",
            "Patient.birthDate",
        ),
        ({"resourceType": "Nope"}, "structure", "Nope"),
        ({"resourceType": "Coding", "code": "x"}, "structure", "Coding"),
    ],
    ids=["unknown element", "missing code", "bad decimal", "bad date", "type", "datatype"],
)
def test_issues(resource: dict[str, Any], code: str, expression: str) -> None:
    issues = v.validate_resource(resource)
    assert issues, resource
    for issue in issues:
        assert set(issue) == ISSUE_KEYS
        assert issue["severity"] == "error"
        assert isinstance(issue["expression"], list)
        assert issue["diagnostics"].startswith(issue["expression"][0])
    assert (code, [expression]) in [(i["code"], i["expression"]) for i in issues]


def test_minimal_resource_is_valid() -> None:
    assert v.validate_resource({"resourceType": "Condition", "subject": {"reference": "x"}}) == []


def test_choice_type_twice_is_an_error() -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueBoolean": True,
        "valueString": "yes",
    }
    assert v.validate_resource(obs)


def test_diagnostics_never_quote_values() -> None:
    secret = "Jane-Doe-1960"
    issues = v.validate_resource(
        {"resourceType": "Patient", "birthDate": secret, "gender": "female"}
    )
    assert issues
    assert all(secret not in str(i) for i in issues)


def test_bundle_level_issues() -> None:
    bundle = copy.deepcopy(seed_bundles("case-1").transaction)
    bundle["type"] = "bogus"
    bundle["entry"][2]["request"]["method"] = "FETCH"
    bundle["entry"][4]["fullUrl"] = bundle["entry"][3]["fullUrl"]
    bundle["entry"][6]["resource"]["subject"] = {"reference": "urn:uuid:not-in-bundle"}
    del bundle["entry"][7]["resource"]["status"]
    del bundle["entry"][8]["resource"]
    got = {(i["code"], i["expression"][0]) for i in v.validate_bundle(bundle)}
    assert ("value", "Bundle.type") in got
    assert ("required", "Bundle.entry[2].request.method") in got
    assert ("duplicate", "Bundle.entry[4].fullUrl") in got
    assert ("not-found", "Bundle.entry[6].resource.subject.reference") in got
    assert ("required", "Bundle.entry[7].resource.status") in got
    assert ("required", "Bundle.entry[8].resource") in got


def test_unresolved_reference_inside_an_extension_is_found() -> None:
    bundle = copy.deepcopy(seed_bundles("case-1").collection)
    for entry in bundle["entry"]:
        for ext in entry["resource"].get("extension", []):
            if "valueReference" in ext:
                ext["valueReference"]["reference"] = "urn:uuid:gone"
                break
        else:
            continue
        break
    got = [i for i in v.validate_bundle(bundle) if i["code"] == "not-found"]
    assert len(got) == 1
    assert ".extension[" in got[0]["expression"][0]


def test_not_a_bundle() -> None:
    assert v.validate_bundle({"resourceType": "Patient"})[0]["expression"] == ["Bundle"]


def _mutations(resource: Any, rng: random.Random) -> Any:
    """A copy of ``resource`` with one leaf replaced by a value of another JSON type."""
    mutated = copy.deepcopy(resource)
    leaves: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if key == "resourceType":
                continue
            if isinstance(value, dict | list):
                walk(value)
            leaves.append((node, key))

    walk(mutated)
    node, key = rng.choice(leaves)
    node[key] = rng.choice([None, 1, 1.5, True, "", "x y", [], {}, [None], {"z": 1}, "2024-99"])
    return mutated


def test_reuse_never_changes_a_verdict() -> None:
    """Random one-leaf mutations of seed resources: same verdict with and without reuse, also
    after the valid originals have filled the reuse cache."""
    rng = random.Random(20240611)
    originals = [r for c in seed_case_ids() for r in resources(seed_bundles(c).collection)]
    for r in originals:
        assert v.validate_resource(r) == []
    checked = 0
    for _ in range(400):
        mutated = _mutations(rng.choice(originals), rng)
        assert (v.validate_resource(mutated) == []) == _plain_ok(mutated), mutated
        checked += 1
    assert checked == 400


def test_cache_is_bounded_and_clearable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v, "_MAX_CACHED", 8)
    v.clear_cache()
    for r in resources(seed_bundles("case-2").collection):
        v.validate_resource(r)
        assert len(v._cache) <= 8
    v.clear_cache()
    assert len(v._cache) == 0


def _asserted(value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": "urn:uuid:p"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate", **value}
        ],
    }


DAR = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}


def test_primitive_extension_on_an_extension_value_is_accepted() -> None:
    """FHIR JSON allows ``_valueDateTime`` inside an extension; the R4B model lacks it."""
    assert v.validate_resource(_asserted({"_valueDateTime": {"extension": [DAR]}})) == []
    assert (
        v.validate_resource(
            _asserted({"valueDateTime": "2020-01", "_valueDateTime": {"extension": [DAR]}})
        )
        == []
    )


@pytest.mark.parametrize(
    ("value", "expression"),
    [
        ({"_valueDateTime": {"extension": [{"valueCode": "x"}]}}, "url"),  # inner url missing
        ({"_valueDateTime": "unknown"}, "Condition.extension[0].valueDateTime"),
        ({"_valueDateTime": {"extension": [DAR], "bogus": 1}}, "bogus"),
        ({"_valueNonsense": {"extension": [DAR]}}, "Condition.extension[0].valueNonsense"),
        ({"valueDateTime": "2020-13"}, "Condition.extension[0].valueDateTime"),
    ],
)
def test_broken_extension_values_are_reported(value: dict[str, Any], expression: str) -> None:
    issues = v.validate_resource(_asserted(value))
    assert issues
    assert any(i["expression"][0].endswith(expression) for i in issues), issues
