"""``pull`` by the system of a typed patient identifier (an MRN) is one clear error, naming the
system, the type and the server id, never the value (it would otherwise become the case id)."""

from __future__ import annotations

import pytest

from fhir_ivc.exceptions import ConfigError
from fhir_ivc.exchange import PatientQuery
from fhir_ivc.exchange.pull import plan_targets

CASES = "https://fhir-ivc.example.org/fhir/sid/seed-report"
MRN = "urn:oid:1.2.36.146.595.217.0.1"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def patient(pid: str, case_id: str, mrn: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {"system": CASES, "value": case_id},
            {"type": MR, "system": MRN, "value": mrn},
        ],
    }


@pytest.mark.parametrize(
    "query",
    [
        PatientQuery.by_identifiers([f"{MRN}|mrn-4711"]),
        PatientQuery(system=MRN),
    ],
)
def test_a_typed_identifier_system_is_refused_without_its_value(query):
    with pytest.raises(ConfigError) as caught:
        plan_targets(query, [patient("17", "case-1", "mrn-4711")])
    message = str(caught.value)
    assert f"identifier system {MRN} is a patient identifier (type MR) on Patient/17" in message
    assert "mrn-4711" not in message
    assert "case-1" not in message


def test_the_case_source_system_is_pulled_as_before():
    query = PatientQuery.by_identifiers([f"{CASES}|case-1"])
    (target,) = plan_targets(query, [patient("17", "case-1", "mrn-4711")])
    assert (target.source_system, target.case_id, target.conflict) == (CASES, "case-1", None)
