"""Issue 8, item 3: what the adapter emits conforms to US Core 6.1.0, the base of mCODE STU4.

The emitted Patients claim mCODE CancerPatient (validated in test_emitted.py; its snapshot holds
US Core's constraints). Here every emitted Patient is also validated against
``us-core-patient|6.1.0`` itself, from the US Core package in the chain: 0 errors. Controls
(the same Patient without a required element) show the check bites. What US Core asks for that an
IVC case record does not carry is listed in docs/conformance.md ("US Core").
"""

from __future__ import annotations

import json

from ._found import describe
from .conftest import N_SYNTH, US_CORE_PATIENT, US_CORE_PATIENT_REQUIRED, ConformanceRun


def _file(conformance: ConformanceRun, name: str) -> dict:
    (path,) = [p for p in conformance.group("us-core-patients") if p.name == name]
    (report,) = [f for f in conformance.report["files"] if f["path"] == str(path)]
    return report


def test_every_emitted_patient_is_validated_against_us_core_patient(
    conformance: ConformanceRun,
) -> None:
    report = _file(conformance, "us-core-patients.ndjson")
    assert len(report["resources"]) == 2 + N_SYNTH  # one Patient per case
    for resource in report["resources"]:
        assert resource["resourceType"] == "Patient"
        assert resource["profiles"] == [US_CORE_PATIENT]


def test_emitted_patients_have_no_us_core_error(conformance: ConformanceRun) -> None:
    (path, _) = conformance.group("us-core-patients")
    errors = [f for f in conformance.of([path]) if f.is_error]
    assert errors == [], "\n".join(describe(f) for f in errors[:20])


def test_the_controls_without_a_required_element_are_errors(conformance: ConformanceRun) -> None:
    report = _file(conformance, "us-core-patient-controls.ndjson")
    assert len(report["resources"]) == len(US_CORE_PATIENT_REQUIRED)
    for element, resource in zip(US_CORE_PATIENT_REQUIRED, report["resources"], strict=True):
        errors = [i for i in resource["issues"] if i["severity"] in ("error", "fatal")]
        assert any(f"Patient.{element}" in i["message"] for i in errors), (element, errors)


def test_the_emitted_patient_carries_what_the_case_has_and_no_invented_name(
    conformance: ConformanceRun,
) -> None:
    # the name US Core requires is a data-absent-reason, never a made-up name
    (path, _) = conformance.group("us-core-patients")
    for line in path.read_text(encoding="utf-8").splitlines():
        patient = json.loads(line)
        assert patient["name"] == [
            {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "masked",
                    }
                ]
            }
        ]
        assert patient["identifier"][0]["system"]
        assert patient["identifier"][0]["value"]
        assert patient["gender"] in ("female", "male", "other", "unknown")
        # nothing the case record does not hold (docs/conformance.md, "US Core")
        for absent in ("telecom", "address", "communication", "photo", "contact"):
            assert absent not in patient
        urls = {e["url"] for e in patient.get("extension", [])}
        assert not any("us/core/StructureDefinition" in u for u in urls), urls
