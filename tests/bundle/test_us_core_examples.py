"""Reading the US Core 6.1.0 examples (third-party data that is not an IVC case), in process.

The examples are read from ``package/example/`` of the pinned US Core tarball at test time (the
shared package folder, verified by scripts/fhir-packages; not vendored). US Core data is general
clinical data: no example is a cancer case, so none becomes a case. What the tests assert: reading
never crashes, each patient's data comes back as "not a case" with the reason, and everything that
does not map is a Loss naming the resource, the element and the reason; what US Core asks for and
the case record does not carry (race, ethnicity, names, ...) is among the losses.
(The same examples are validated by the HL7 engine with the full chain: tests/conformance.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhir_ivc.bundle import CaseReadResult, read_case
from tests._fhir_packages import examples, package_tarball

US_CORE_SD = "http://hl7.org/fhir/us/core/StructureDefinition/"


@pytest.fixture(scope="module")
def us_core() -> dict[str, dict[str, Any]]:
    found = examples(package_tarball("hl7.fhir.us.core"))
    assert len(found) > 150, len(found)  # 183 in US Core 6.1.0
    return found


def key(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def patient_groups(us_core: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each example Patient with every (non-Bundle) example that refers to it: a patient pull."""
    groups = {}
    others = [r for r in us_core.values() if r["resourceType"] not in ("Patient", "Bundle")]
    for patient in (r for r in us_core.values() if r["resourceType"] == "Patient"):
        ref = f'"Patient/{patient["id"]}"'
        groups[key(patient)] = [patient, *(r for r in others if ref in json.dumps(r))]
    return groups


def read(resources: list[dict[str, Any]]) -> CaseReadResult:
    return read_case([(key(r), r) for r in resources])


def test_every_us_core_patient_is_read_as_not_a_case_with_every_resource_reported(us_core):
    groups = patient_groups(us_core)
    assert len(groups) == 5
    assert len(groups["Patient/example"]) > 100
    for patient, resources in groups.items():
        result = read(resources)
        assert result.case is None, patient
        assert str(result.error) == "no primary cancer condition", patient
        whole = {loss.resource for loss in result.losses if loss.element == ""}
        # only the Patient maps (demographics); every other resource is reported as not read
        assert whole == {key(r) for r in resources} - {patient}, patient
        for loss in result.losses:
            assert loss.element == "" or loss.element.startswith(loss.resource.split("/")[0] + ".")
            assert loss.reason, loss
        assert len(result.losses) == len(set(result.losses)), patient


def test_what_us_core_asks_for_and_the_case_record_does_not_carry_is_a_loss(us_core):
    patient = us_core["Patient-example.json"]
    result = read([patient])
    assert result.fields["patient"] == {
        "sex": "female",
        "identifiers": [],
        "birth_date": "1987-02-20",
    }
    elements = {loss.element for loss in result.losses if loss.resource == "Patient/example"}
    for extension in ("race", "ethnicity", "tribal-affiliation", "birthsex", "sex"):
        assert f"Patient.extension[{US_CORE_SD}us-core-{extension}]" in elements, extension
    assert {"Patient.name", "Patient.telecom", "Patient.address"} <= elements


def test_all_examples_at_once_are_refused_with_the_reason(us_core):
    result = read([r for r in us_core.values() if r["resourceType"] != "Bundle"])
    assert result.case is None
    assert str(result.error) == "expected one Patient, found 5"


def test_the_search_bundles_of_the_examples_are_read_without_a_crash(us_core):
    bundles = [r for r in us_core.values() if r["resourceType"] == "Bundle"]
    assert bundles
    for bundle in bundles:
        resources = [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
        result = read(resources)
        assert result.case is None
        assert str(result.error).startswith("expected one Patient, found "), bundle["id"]
