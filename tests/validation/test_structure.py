"""The structure stage (R4 core tables) and the bundle rules, on small hand-made resources."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_ivc.validation import validate, validate_bundle, validate_resource
from fhir_ivc.validation._core import core
from tests.mapping._fhir import seed_bundles

ISSUE_KEYS = {"severity", "code", "expression", "diagnostics"}
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def _obs(**extra: Any) -> dict[str, Any]:
    return {**copy.deepcopy(OBS), **extra}


def _where(issues: list[Any]) -> set[tuple[str, str]]:
    return {(i["code"], i["expression"][0]) for i in issues}


@pytest.mark.parametrize(
    ("resource", "code", "expression"),
    [
        (_obs(foo=1), "structure", "Observation.foo"),
        ({"resourceType": "Observation", "status": "final"}, "required", "Observation.code"),
        (
            _obs(component=[{"code": {"text": "y"}, "valueQuantity": {"value": "ten"}}]),
            "value",
            "Observation.component[0].valueQuantity.value",
        ),
        (_obs(valueQuantity={"value": "300"}), "value", "Observation.valueQuantity.value"),
        (_obs(valueInteger=1.5), "value", "Observation.valueInteger"),
        (_obs(valueBoolean="true"), "value", "Observation.valueBoolean"),
        ({"resourceType": "Patient", "birthDate": "1960-13-45"}, "value", "Patient.birthDate"),
        ({"resourceType": "Patient", "gender": ""}, "value", "Patient.gender"),
        ({"resourceType": "Patient", "gender": "woman"}, "code-invalid", "Patient.gender"),
        (_obs(status="done"), "code-invalid", "Observation.status"),
        ({"resourceType": "Nope"}, "structure", "Nope"),
        ({"resourceType": "Coding", "code": "x"}, "structure", "Coding"),
        (_obs(category={"text": "x"}), "structure", "Observation.category"),
        (_obs(code=[{"text": "x"}]), "structure", "Observation.code"),
        (_obs(note=[]), "structure", "Observation.note"),
        (_obs(subject=None), "structure", "Observation.subject"),
        (_obs(subject={}), "invariant", "Observation.subject"),
        (_obs(valueBoolean=True, valueString="y"), "structure", "Observation.valueString"),
        (
            _obs(subject={"reference": "Specimen/1"}),
            "structure",
            "Observation.subject.reference",
        ),
        (
            _obs(valueString="x", dataAbsentReason={"text": "masked"}),
            "invariant",
            "Observation",
        ),
        (
            _obs(effectivePeriod={"start": "2020-02-01", "end": "2020-01-01"}),
            "invariant",
            "Observation.effectivePeriod",
        ),
        (_obs(valueQuantity={"value": 1, "code": "mm"}), "invariant", "Observation.valueQuantity"),
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/1"},
                "abatementString": "gone",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
            },
            "invariant",
            "Condition",
        ),
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/1"},
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "better",
                        }
                    ]
                },
            },
            "code-invalid",
            "Condition.clinicalStatus",
        ),
    ],
    ids=[
        "unknown element",
        "missing code",
        "bad decimal",
        "decimal in quotes",
        "integer with a fraction",
        "boolean in quotes",
        "bad date",
        "empty string",
        "gender outside its required value set",
        "status outside its required value set",
        "unknown resource type",
        "datatype as a resource",
        "single value where an array is required",
        "array where a single value is required",
        "empty array",
        "null",
        "empty object (ele-1)",
        "choice type twice",
        "reference to a type not allowed",
        "obs-6",
        "per-1",
        "qty-3",
        "con-4",
        "unknown code of a core code system",
    ],
)
def test_issues(resource: dict[str, Any], code: str, expression: str) -> None:
    issues = validate_resource(resource)
    assert issues, resource
    for issue in issues:
        assert set(issue) >= ISSUE_KEYS
        assert issue["severity"] == "error"
        assert issue["diagnostics"].startswith(issue["expression"][0])
    assert (code, expression) in _where(issues)


def test_minimal_resources_are_valid() -> None:
    assert validate_resource({"resourceType": "Condition", "subject": {"reference": "x"}}) == []
    assert validate_resource(_obs(valueQuantity={"value": 3.5})) == []


def test_diagnostics_never_quote_values() -> None:
    secret = "Jane-Doe-1960"
    issues = validate_resource({"resourceType": "Patient", "birthDate": secret, "gender": secret})
    assert len(issues) == 2
    assert all(secret not in str(i) for i in issues)


def test_what_is_not_checked_is_information() -> None:
    resource = _obs(code={"coding": [{"system": "http://snomed.info/sct", "code": "1"}]})
    assert validate_resource(resource) == []
    notes = validate_resource(resource, min_severity="information")
    assert any("SNOMED CT" in i["diagnostics"] for i in notes)
    assert all(i["severity"] == "information" for i in notes)


def test_extensible_core_binding_is_a_warning() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"type": {"coding": [{"system": "urn:x", "code": "y"}]}, "value": "1"}],
    }
    assert validate_resource(patient) == []
    [warning] = validate_resource(patient, min_severity="warning")
    assert warning["expression"] == ["Patient.identifier[0].type"]
    assert "extensible" in warning["diagnostics"]


def test_bundle_level_issues() -> None:
    bundle = copy.deepcopy(seed_bundles("case-1").transaction)
    bundle["type"] = "bogus"
    bundle["entry"][2]["request"]["method"] = "FETCH"
    bundle["entry"][4]["fullUrl"] = bundle["entry"][3]["fullUrl"]
    bundle["entry"][6]["resource"]["subject"] = {"reference": "urn:uuid:not-in-bundle"}
    del bundle["entry"][7]["resource"]["status"]
    del bundle["entry"][9]["fullUrl"]
    got = _where(validate_bundle(bundle))
    assert ("code-invalid", "Bundle.type") in got
    assert ("code-invalid", "Bundle.entry[2].request.method") in got
    assert ("invariant", "Bundle") in got  # bdl-7: fullUrl unique
    assert ("not-found", "Bundle.entry[6].resource.subject.reference") in got
    assert ("required", "Bundle.entry[7].resource.status") in got
    assert ("required", "Bundle.entry[9].fullUrl") in got


def test_reference_targets_are_checked_after_resolving_in_the_bundle() -> None:
    bundle = copy.deepcopy(seed_bundles("case-1").transaction)
    specimen = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Specimen")
    i, condition = next(
        (i, e)
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == "Condition"
    )
    condition["resource"]["subject"] = {"reference": specimen["fullUrl"]}
    got = [i for i in validate_bundle(bundle) if "Specimen" in i["diagnostics"]]
    assert got
    assert got[0]["expression"] == [f"Bundle.entry[{i}].resource.subject.reference"]


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
    got = [i for i in validate_bundle(bundle) if i["code"] == "not-found"]
    assert len(got) == 1
    assert ".extension[" in got[0]["expression"][0]


def test_not_a_bundle() -> None:
    assert validate_bundle({"resourceType": "Patient"})[0]["expression"] == ["Bundle"]
    assert validate({"resourceType": "Patient"}) == []


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
    assert validate_resource(_asserted({"_valueDateTime": {"extension": [DAR]}})) == []
    assert (
        validate_resource(
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
        ({"_valueNonsense": {"extension": [DAR]}}, "Condition.extension[0]._valueNonsense"),
        ({"valueDateTime": "2020-13"}, "Condition.extension[0].valueDateTime"),
        ({"_valueDateTime": {"id": "a"}}, "Condition.extension[0].valueDateTime"),  # ele-1
    ],
)
def test_broken_extension_values_are_reported(value: dict[str, Any], expression: str) -> None:
    issues = validate_resource(_asserted(value))
    assert issues
    assert any(i["expression"][0].endswith(expression) for i in issues), issues


def test_core_tables_come_from_the_pinned_r4_definitions() -> None:
    tables = core()
    assert tables.source["fhirVersion"] == "4.0.1"
    assert len(tables.source["sha256"]) == 64
    gender = tables.expansion("http://hl7.org/fhir/ValueSet/administrative-gender")
    assert gender.codes == {"male", "female", "other", "unknown"}
    assert tables.primitives["positiveInt"].json == "integer"
    assert tables.primitives["date"].regex is not None


def test_regexes_are_java_regexes() -> None:
    """R4's string regex is ``[ \\r\\n\\t\\S]+`` in Java, where ``\\S`` is ASCII: a no-break
    space is a valid string character (the HL7 engine accepts it)."""
    assert validate_resource({"resourceType": "Patient", "identifier": [{"value": "0\xa00"}]}) == []


def test_the_walks_shortcuts_never_pass_a_value_the_full_check_refuses() -> None:
    """A string the ``code`` type found valid before (``final``, an Observation.status) is
    still checked against the value set bound where it is met next (Patient.gender), and a
    string valid as a ``string`` is still checked against the regex of another type."""
    assert validate_resource(_obs()) == []  # "final" is now a code found valid
    issues = validate_resource({"resourceType": "Patient", "gender": "final"})
    assert ("code-invalid", "Patient.gender") in _where(issues)
    assert validate_resource(_obs(valueString="2020-13-45")) == []
    issues = validate_resource({"resourceType": "Patient", "birthDate": "2020-13-45"})
    assert ("value", "Patient.birthDate") in _where(issues)
    issues = validate_resource({"resourceType": "Patient", "active": "true"})
    assert ("value", "Patient.active") in _where(issues)
