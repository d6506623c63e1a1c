"""Smoke tests of the local HAPI FHIR server: the behaviour the push client relies on.

Each test uses fresh identifiers (uuid4), so the tests also pass against a long-running server
that already holds data (FHIR_IVC_TEST_SERVER).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

HAPI_CODES = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"
SYSTEM = "urn:fhir-ivc:test:patient-id"


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _patient(value: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": value}],
        "name": [{"family": family, "given": ["Vena"]}],
        "gender": "female",
        "birthDate": "1961-03-14",
    }


def _conditional_put_transaction(patient: dict[str, Any], value: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": patient,
                "request": {"method": "PUT", "url": f"Patient?identifier={SYSTEM}|{value}"},
            }
        ],
    }


def _outcome_code(response_entry: dict[str, Any]) -> str:
    """The HAPI storage-response code in a transaction-response entry's ``response.outcome``."""
    (issue,) = response_entry["outcome"]["issue"]
    assert issue["severity"] == "information"
    (coding,) = issue["details"]["coding"]
    assert coding["system"] == HAPI_CODES
    code: str = coding["code"]
    return code


def test_capability_statement(fhir: httpx.Client) -> None:
    cs = _ok(fhir.get("metadata"))
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    (rest,) = cs["rest"]
    assert rest["mode"] == "server"
    assert {"code": "transaction"} in rest["interaction"]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    interactions = {i["code"] for i in patient["interaction"]}
    assert {"search-type", "read", "create", "update", "delete"} <= interactions
    assert "identifier" in {p["name"] for p in patient["searchParam"]}
    assert "everything" in {op["name"] for op in patient["operation"]}
    assert patient["conditionalUpdate"] is True
    assert patient["conditionalCreate"] is True


def test_conditional_update_in_transaction(fhir: httpx.Client) -> None:
    value = str(uuid.uuid4())
    patient = _patient(value, "Cava")

    # 1. no match: the conditional PUT creates the patient
    created = _ok(fhir.post("", json=_conditional_put_transaction(patient, value)))
    assert created["type"] == "transaction-response"
    (entry,) = created["entry"]
    response = entry["response"]
    assert response["status"] == "201 Created"
    assert response["etag"] == "1"
    location = response["location"]
    assert location.startswith("Patient/")
    assert location.endswith("/_history/1")
    assert _outcome_code(response) == "SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH"
    patient_id = location.split("/")[1]

    # 2. the same resource again: a no-op -- 200, still version 1, no new history entry
    same = _ok(fhir.post("", json=_conditional_put_transaction(patient, value)))
    (entry,) = same["entry"]
    response = entry["response"]
    assert response["status"] == "200 OK"
    assert response["etag"] == "1"
    assert response["location"] == f"Patient/{patient_id}/_history/1"
    assert "lastModified" not in response
    assert _outcome_code(response) == "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE"
    history = _ok(fhir.get(f"Patient/{patient_id}/_history"))
    assert history["total"] == 1

    # 3. an edited resource: updated in place, version 2
    edited = _patient(value, "Cava-Inferior")
    updated = _ok(fhir.post("", json=_conditional_put_transaction(edited, value)))
    (entry,) = updated["entry"]
    response = entry["response"]
    assert response["status"] == "200 OK"
    assert response["etag"] == "2"
    assert response["location"] == f"Patient/{patient_id}/_history/2"
    assert _outcome_code(response) == "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH"

    # 4. exactly one patient carries the identifier, and it is the edited version 2
    found = _ok(fhir.get("Patient", params={"identifier": f"{SYSTEM}|{value}"}))
    assert found["total"] == 1
    (hit,) = found["entry"]
    assert hit["resource"]["id"] == patient_id
    assert hit["resource"]["meta"]["versionId"] == "2"
    assert hit["resource"]["name"][0]["family"] == "Cava-Inferior"


def test_client_assigned_numeric_id(fhir: httpx.Client) -> None:
    # ClientIdStrategy ANY: even purely numeric ids may be assigned by the client.
    numeric_id = str(uuid.uuid4().int)[:12]
    value = str(uuid.uuid4())
    body = {**_patient(value, "Numeric"), "id": numeric_id}
    put = fhir.put(f"Patient/{numeric_id}", json=body)
    assert put.status_code == 201, put.text
    assert _ok(fhir.get(f"Patient/{numeric_id}"))["id"] == numeric_id


def test_search_sees_writes_immediately(fhir: httpx.Client) -> None:
    """No stale search cache: the same search repeated right after a write sees the write."""
    patient_id = _ok(fhir.post("Patient", json=_patient(str(uuid.uuid4()), "Fresh")), 201)["id"]
    query = {"subject": f"Patient/{patient_id}", "_total": "accurate"}

    def observation(value: float) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "21889-1"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "valueQuantity": {"value": value, "unit": "cm"},
        }

    assert _ok(fhir.get("Observation", params=query))["total"] == 0
    for expected in (1, 2, 3):
        _ok(fhir.post("Observation", json=observation(float(expected))), 201)
        bundle = _ok(fhir.get("Observation", params=query))
        assert bundle["total"] == expected
        assert len(bundle["entry"]) == expected

    everything = _ok(fhir.get(f"Patient/{patient_id}/$everything"))
    types = sorted(e["resource"]["resourceType"] for e in everything["entry"])
    assert types == ["Observation", "Observation", "Observation", "Patient"]


@pytest.mark.parametrize(("count", "page"), [(None, 20), (500, 25)])
def test_paging(fhir: httpx.Client, count: int | None, page: int) -> None:
    """Default page size 20 with a next link; _count above the data size returns everything."""
    patient_ref = f"urn:uuid:{uuid.uuid4()}"
    entries = [
        {
            "fullUrl": patient_ref,
            "resource": _patient(str(uuid.uuid4()), "Paged"),
            "request": {"method": "POST", "url": "Patient"},
        }
    ] + [
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": f"measurement {i}"},
                "subject": {"reference": patient_ref},
            },
            "request": {"method": "POST", "url": "Observation"},
        }
        for i in range(25)
    ]
    tx = _ok(
        fhir.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    )
    patient_location = tx["entry"][0]["response"]["location"]
    patient_id = patient_location.split("/")[1]

    params: dict[str, str | int] = {"subject": f"Patient/{patient_id}", "_total": "accurate"}
    if count is not None:
        params["_count"] = count
    bundle = _ok(fhir.get("Observation", params=params))
    assert bundle["total"] == 25
    assert len(bundle["entry"]) == page
    relations = {link["relation"] for link in bundle["link"]}
    assert ("next" in relations) is (page < 25)
