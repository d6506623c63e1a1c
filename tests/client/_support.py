"""Response and resource builders shared by the client tests."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json; fhirVersion=4.0"
HAPI_SYSTEM = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"


def make_response(
    status: int = 200,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A FHIR JSON response (``body`` may be ``None`` for an empty one)."""
    all_headers = {"Content-Type": "application/fhir+json;charset=utf-8", **(headers or {})}
    if body is None:
        return httpx.Response(status, headers=all_headers)
    return httpx.Response(status, json=body, headers=all_headers)


def outcome(
    diagnostics: str | None = None,
    *,
    severity: str = "error",
    code: str = "processing",
    expression: list[str] | None = None,
    location: list[str] | None = None,
    details_text: str | None = None,
    coding: dict[str, str] | None = None,
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code}
    if diagnostics is not None:
        issue["diagnostics"] = diagnostics
    if expression is not None:
        issue["expression"] = expression
    if location is not None:
        issue["location"] = location
    if details_text is not None or coding is not None:
        issue["details"] = {}
        if details_text is not None:
            issue["details"]["text"] = details_text
        if coding is not None:
            issue["details"]["coding"] = [coding]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def hapi_outcome(code: str, diagnostics: str) -> dict[str, Any]:
    """The ``entry.response.outcome`` HAPI FHIR writes into a transaction-response."""
    return outcome(
        diagnostics,
        severity="information",
        code="informational",
        coding={"system": HAPI_SYSTEM, "code": code},
    )


def searchset(entries: int = 1, next_url: str | None = None, page: int = 1) -> dict[str, Any]:
    links = [{"relation": "self", "url": f"http://fhir.test/fhir/Patient?page={page}"}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {"resource": {"resourceType": "Patient", "id": f"p{page}-{i}"}} for i in range(entries)
        ],
    }


def capability(fhir_version: str = "4.0.1") -> dict[str, Any]:
    """A trimmed HAPI FHIR 8.x CapabilityStatement."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": fhir_version,
        "format": ["application/fhir+xml", "application/fhir+json"],
        "software": {"name": "HAPI FHIR Server", "version": "8.8.0"},
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": [
                            {"code": "read"},
                            {"code": "update"},
                            {"code": "search-type"},
                        ],
                        "conditionalUpdate": True,
                        "operation": [
                            {
                                "name": "everything",
                                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                            }
                        ],
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "read"}, {"code": "create"}, {"code": "update"}],
                    },
                ],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "operation": [{"name": "meta", "definition": "http://x/OperationDefinition/meta"}],
            }
        ],
    }


# --------------------------------------------------------------------------------------------
# One small case as a transaction of conditional PUTs, with its element sources
# --------------------------------------------------------------------------------------------

PATIENT_URL = "urn:uuid:00000000-0000-4000-8000-000000000001"
CONDITION_URL = "urn:uuid:00000000-0000-4000-8000-000000000002"
PROCEDURE_URL = "urn:uuid:00000000-0000-4000-8000-000000000003"
BLOOD_LOSS_URL = "urn:uuid:00000000-0000-4000-8000-000000000004"

SOURCES = {
    PATIENT_URL: "patient",
    CONDITION_URL: "diagnosis",
    PROCEDURE_URL: "surgery",
    BLOOD_LOSS_URL: "surgery.blood_loss_ml",
}


def case_bundle(case_id: str = "IVC-001", *, with_post: bool = False) -> dict[str, Any]:
    def put(full_url: str, resource: dict[str, Any], system_value: str) -> dict[str, Any]:
        rtype = resource["resourceType"]
        return {
            "fullUrl": full_url,
            "resource": resource,
            "request": {"method": "PUT", "url": f"{rtype}?identifier=urn:ivc|{system_value}"},
        }

    entries = [
        put(PATIENT_URL, {"resourceType": "Patient"}, f"{case_id}-patient"),
        put(CONDITION_URL, {"resourceType": "Condition"}, f"{case_id}-dx"),
        put(PROCEDURE_URL, {"resourceType": "Procedure"}, f"{case_id}-surgery"),
        put(
            BLOOD_LOSS_URL,
            {"resourceType": "Observation", "valueQuantity": {"value": 925, "unit": "mL"}},
            f"{case_id}-ebl",
        ),
    ]
    if with_post:
        entries[3]["request"] = {"method": "POST", "url": "Observation"}
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def response_entry(
    status: str, location: str, *, etag: str | None = None, hapi: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status, "location": location}
    if etag is not None:
        response["etag"] = etag
    if hapi is not None:
        response["outcome"] = hapi
    return {"response": response}


def transaction_response(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": list(entries)}
