"""The push engine: entry outcomes, issue → element translation, push_bundle and push_many."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from fhir_ivc.client._answers import EntryResponse, parse_transaction_response
from fhir_ivc.exceptions import ConflictError, FhirHttpError, TransportError
from fhir_ivc.exchange import CasePushResult, push_many
from fhir_ivc.exchange.push import (
    PlannedEntry,
    classify_entry,
    hapi_storage_code,
    locate_issue,
    plan_entries,
    result_from_http_error,
)
from tests.client._support import (
    BLOOD_LOSS_URL,
    CONDITION_URL,
    HAPI_SYSTEM,
    PATIENT_URL,
    PROCEDURE_URL,
    SOURCES,
    case_bundle,
    hapi_outcome,
    make_response,
    outcome,
    response_entry,
    transaction_response,
)

from .conftest import BASE

# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def test_plan_entries_takes_sources_from_full_urls():
    bundle = case_bundle()
    bundle["entry"].append(
        {
            "resource": {"resourceType": "Encounter"},
            "request": {"method": "PUT", "url": "Encounter/e1"},
        }
    )
    planned = plan_entries(bundle, {**SOURCES, PATIENT_URL: ""})
    assert [(p.index, p.source, p.resource_type, p.method) for p in planned] == [
        (0, "Patient", "Patient", "PUT"),  # empty source: fall back to the resource type
        (1, "diagnosis", "Condition", "PUT"),
        (2, "surgery", "Procedure", "PUT"),
        (3, "surgery.blood_loss_ml", "Observation", "PUT"),
        (4, "Encounter", "Encounter", "PUT"),  # no fullUrl
    ]
    assert planned[3].conditional
    assert not planned[4].conditional


def test_plan_entries_without_resource_uses_the_url():
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "delete", "url": "Observation?identifier=a|b"}}],
    }
    [planned] = plan_entries(bundle)
    assert (planned.resource_type, planned.method, planned.source) == (
        "Observation",
        "DELETE",
        "Observation",
    )


@pytest.mark.parametrize(
    ("bundle", "match"),
    [
        ({"resourceType": "Bundle", "type": "batch"}, "transaction Bundle"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": {"a": 1}}, "not a list"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": [1]}, "not an object"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": [{}]}, "request.method"),
    ],
)
def test_plan_entries_rejects_non_transactions(bundle, match):
    with pytest.raises(ValueError, match=match):
        plan_entries(bundle)


# --------------------------------------------------------------------------------------------
# Classifying transaction-response entries
# --------------------------------------------------------------------------------------------

PUT = PlannedEntry(0, PATIENT_URL, "Patient", "patient", "PUT", "Patient?identifier=a|b")
POST = PlannedEntry(0, PATIENT_URL, "Patient", "patient", "POST", "Patient")
GET = PlannedEntry(0, None, "Patient", "Patient", "GET", "Patient?identifier=a|b")


def entry(
    status: str, location: str = "Patient/7/_history/1", oo: dict[str, Any] | None = None
) -> EntryResponse:
    body = transaction_response(response_entry(status, location, hapi=oo))
    return parse_transaction_response(body)[0]


@pytest.mark.parametrize(
    ("plan", "response", "expected"),
    [
        # HAPI FHIR storage response codes (StorageResponseCodeEnum) decide first
        (
            PUT,
            entry(
                "200 OK",
                "Patient/7/_history/3",
                hapi_outcome(
                    "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE",
                    'Successfully conditionally updated resource "Patient/7/_history/3" with '
                    "no changes detected.",
                ),
            ),
            "unchanged",
        ),
        (
            PUT,
            entry(
                "200 OK",
                "Patient/9481/_history/1",
                hapi_outcome(
                    "SUCCESSFUL_UPDATE_NO_CHANGE",
                    'Successfully updated resource "Patient/9481/_history/1" with no changes '
                    "detected.",
                ),
            ),
            "unchanged",
        ),
        (
            PUT,
            entry(
                "200 OK",
                "Patient/7/_history/2",
                hapi_outcome("SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH", "updated"),
            ),
            "updated",
        ),
        (
            PUT,
            entry(
                "201 Created",
                "Patient/7/_history/1",
                hapi_outcome("SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH", "created"),
            ),
            "created",
        ),
        (
            POST,
            entry(
                "200 OK",
                "Patient/7/_history/4",
                hapi_outcome("SUCCESSFUL_CREATE_WITH_CONDITIONAL_MATCH", "x"),
            ),
            "unchanged",
        ),
        # HAPI evidence beats the version-1 fallback
        (
            PUT,
            entry("200 OK", "Patient/7/_history/1", hapi_outcome("SUCCESSFUL_UPDATE", "updated")),
            "updated",
        ),
        # older HAPI: only the diagnostics say so
        (
            PUT,
            entry(
                "200 OK",
                "Patient/7/_history/5",
                outcome(
                    "Successfully updated resource with no changes detected", severity="information"
                ),
            ),
            "unchanged",
        ),
        # generic fallback: PUT + 200 + still version 1
        (PUT, entry("200 OK", "Patient/7/_history/1"), "unchanged"),
        (PUT, entry("200 OK", "Patient/7/_history/2"), "updated"),
        (PUT, entry("200 OK", "Patient/7"), "updated"),  # no version: not provable
        (PUT, entry("201 Created", "Patient/7/_history/1"), "created"),
        (POST, entry("200 OK", "Patient/7/_history/1"), "updated"),  # not a PUT: not provable
        (POST, entry("201 Created"), "created"),
        (GET, entry("200 OK"), "unchanged"),
        (PUT, entry("400 Bad Request", "Patient/7", outcome("bad")), "failed"),
    ],
)
def test_classify_entry(plan, response, expected):
    assert classify_entry(plan, response)[0] == expected


def test_classify_messages():
    assert classify_entry(PUT, entry("200 OK", "Patient/7/_history/1")) == (
        "unchanged",
        "no new version written (200 OK, still version 1)",
    )
    assert classify_entry(PUT, entry("409 Conflict", "Patient/7", outcome("clash"))) == (
        "failed",
        "clash",
    )
    assert classify_entry(PUT, entry("404 Not Found", "Patient/7")) == ("failed", "404 Not Found")


def test_hapi_storage_code():
    assert hapi_storage_code(hapi_outcome("SUCCESSFUL_CREATE", "x")) == "SUCCESSFUL_CREATE"
    other = outcome("x", coding={"system": "http://other", "code": "SUCCESSFUL_CREATE"})
    assert hapi_storage_code(other) is None
    assert hapi_storage_code(None) is None
    assert hapi_storage_code({"resourceType": "Patient"}) is None


# --------------------------------------------------------------------------------------------
# OperationOutcome issue → entry → case element
# --------------------------------------------------------------------------------------------

PLANNED = plan_entries(case_bundle(), SOURCES)


@pytest.mark.parametrize(
    ("issue", "expected"),
    [
        (
            {"expression": ["Bundle.entry[3].resource.valueQuantity"]},
            (3, "Observation.valueQuantity"),
        ),
        (  # HAPI validator, older location style with a FHIRPath comment
            {"location": ["Bundle.entry[3].resource/*Observation/null*/.value.ofType(Quantity)"]},
            (3, "Observation.valueQuantity"),
        ),
        (
            {"expression": ["Bundle.entry[1].resource.ofType(Condition).code.coding[0].system"]},
            (1, "Condition.code.coding[0].system"),
        ),
        ({"expression": ["Bundle.entry[2]"]}, (2, None)),
        ({"expression": ["Bundle.entry[0].resource"]}, (0, "Patient")),
        ({"expression": ["Bundle.entry[9].resource.id"]}, (None, None)),  # out of range
        ({"diagnostics": "Bundle.entry[2].resource: bad"}, (2, None)),
        ({"diagnostics": 'Invalid verb in Bundle.entry(1).request.method: "X"'}, (1, None)),
        (
            {
                "diagnostics": 'HAPI-0988: Failed to UPDATE resource with match URL "Observation?'
                'identifier=urn:ivc|IVC-001-ebl" because this search matched 2 resources'
            },
            (3, None),
        ),
        (
            {"diagnostics": "no match for Procedure%3Fidentifier%3Durn%3Aivc%7CIVC-001-surgery"},
            (2, None),
        ),
        ({"diagnostics": f"placeholder {CONDITION_URL} could not be resolved"}, (1, None)),
        ({"diagnostics": "database on fire"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_locate_issue(issue, expected):
    assert locate_issue(issue, PLANNED) == expected


def test_rejected_transaction_names_case_and_element():
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "processing",
                "diagnostics": "Quantity value must be >= 0",
                "expression": ["Bundle.entry[3].resource.valueQuantity"],
            },
            {"severity": "warning", "code": "informational", "diagnostics": "ignored warning"},
            {"severity": "error", "code": "processing", "diagnostics": "something general"},
        ],
    }
    exc = FhirHttpError("rejected", status_code=422, outcome=oo)
    result = result_from_http_error("IVC-001", PLANNED, exc)
    assert not result.ok
    assert result.status_code == 422
    assert result.exception is exc
    assert result.error == (
        "case 'IVC-001': transaction rejected with HTTP 422 (validation failed): "
        "surgery.blood_loss_ml (Observation.valueQuantity): Quantity value must be >= 0; "
        "something general"
    )
    assert result.counts == {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 4}
    assert [e.outcome for e in result.entries] == ["failed"] * 4
    assert [e.status for e in result.entries] == [422] * 4
    assert result.entries[3].message == "Observation.valueQuantity: Quantity value must be >= 0"
    assert result.entries[0].message == ("not written: the transaction was rolled back (HTTP 422)")


def test_rejected_transaction_without_outcome_uses_the_exception():
    exc = FhirHttpError("POST x: HTTP 400 Bad Request", status_code=400)
    result = result_from_http_error("IVC-002", PLANNED, exc)
    assert result.error == (
        "case 'IVC-002': transaction rejected with HTTP 400 (invalid request): "
        "POST x: HTTP 400 Bad Request"
    )


def test_many_issues_are_summarised():
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "x", "diagnostics": f"p{i}"} for i in range(15)],
    }
    result = result_from_http_error("C", PLANNED, FhirHttpError("x", status_code=400, outcome=oo))
    assert result.error is not None
    assert result.error.endswith("p9; … and 5 more issues")


# --------------------------------------------------------------------------------------------
# push_bundle through both clients
# --------------------------------------------------------------------------------------------


def mixed_response() -> httpx.Response:
    return make_response(
        200,
        transaction_response(
            response_entry(
                "201 Created",
                "Patient/101/_history/1",
                etag='W/"1"',
                hapi=hapi_outcome("SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH", "created"),
            ),
            response_entry(
                "200 OK",
                "Condition/102/_history/2",
                etag="2",
                hapi=hapi_outcome(
                    "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE", "no changes detected"
                ),
            ),
            response_entry(
                "200 OK",
                "Procedure/103/_history/3",
                hapi=hapi_outcome("SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH", "updated"),
            ),
            response_entry("200 OK", "Observation/104/_history/1"),  # non-HAPI style
        ),
    )


@pytest.mark.anyio
async def test_push_bundle_outcomes(client, router):
    route = router.post(BASE).mock(return_value=mixed_response())
    result = await client.engine("push_bundle", case_bundle(), case_id="IVC-001", sources=SOURCES)
    assert isinstance(result, CasePushResult)
    assert result.ok
    assert result.error is None
    assert [(e.source, e.outcome, e.status, e.version_id) for e in result.entries] == [
        ("patient", "created", 201, "1"),
        ("diagnosis", "unchanged", 200, "2"),
        ("surgery", "updated", 200, "3"),
        ("surgery.blood_loss_ml", "unchanged", 200, "1"),
    ]
    assert result.entries[0].location == "Patient/101/_history/1"
    assert result.entries[0].full_url == PATIENT_URL
    assert result.entries[2].full_url == PROCEDURE_URL
    assert result.counts == {"created": 1, "updated": 1, "unchanged": 2, "deleted": 0, "failed": 0}
    assert route.call_count == 1


@pytest.mark.anyio
async def test_push_bundle_422_translates_issues_to_elements(client, router, caplog):
    caplog.set_level(logging.DEBUG)
    oo = outcome(
        "Observation.value: value 925 exceeds the limit for patient Doe",
        expression=["Bundle.entry[3].resource.valueQuantity"],
    )
    route = router.post(BASE).mock(return_value=make_response(422, oo))
    result = await client.engine("push_bundle", case_bundle(), case_id="IVC-001", sources=SOURCES)
    assert not result.ok
    assert result.error == (
        "case 'IVC-001': transaction rejected with HTTP 422 (validation failed): "
        "surgery.blood_loss_ml (Observation.valueQuantity): Observation.value: value 925 exceeds "
        "the limit for patient Doe"
    )
    assert route.call_count == 1
    # the log names the case, the status and the element key, never server text or values
    assert "case IVC-001 failed: HTTP 422 at surgery.blood_loss_ml" in caplog.text
    assert "Doe" not in caplog.text
    assert "925" not in caplog.text


@pytest.mark.anyio
async def test_push_bundle_412_is_a_failed_case_naming_the_element(client, router):
    diagnostics = (
        'HAPI-0988: Failed to UPDATE resource with match URL "Observation?identifier=urn:ivc|'
        'IVC-001-ebl" because this search matched 2 resources'
    )
    router.post(BASE).mock(return_value=make_response(412, outcome(diagnostics)))
    result = await client.engine("push_bundle", case_bundle(), case_id="IVC-001", sources=SOURCES)
    assert not result.ok
    assert isinstance(result.exception, ConflictError)
    assert result.error == (
        "case 'IVC-001': transaction rejected with HTTP 412 (precondition failed: a conditional "
        "update matched more than one resource or a version check failed): "
        f"surgery.blood_loss_ml (Observation): {diagnostics}"
    )
    assert result.entries[3].message == f"Observation: {diagnostics}"


@pytest.mark.anyio
async def test_push_bundle_raises_transport_errors(client, router):
    router.post(BASE).mock(side_effect=httpx.ConnectError)
    with pytest.raises(TransportError):
        await client.engine("push_bundle", case_bundle(), case_id="IVC-001")
    assert client.delays == [0.5, 1.0, 2.0]  # conditional PUTs only: retried


@pytest.mark.anyio
async def test_push_bundle_with_a_failed_entry(client, router):
    router.post(BASE).mock(
        return_value=make_response(
            200,
            transaction_response(
                response_entry("201 Created", "Patient/1/_history/1"),
                response_entry("201 Created", "Condition/2/_history/1"),
                response_entry("201 Created", "Procedure/3/_history/1"),
                {"response": {"status": "400 Bad Request", "outcome": outcome("bad unit")}},
            ),
        )
    )
    result = await client.engine("push_bundle", case_bundle(), case_id="X", sources=SOURCES)
    assert not result.ok
    assert result.error == "case 'X': surgery.blood_loss_ml: bad unit"
    assert result.counts["created"] == 3


# --------------------------------------------------------------------------------------------
# push_many: order, isolation, bounded concurrency
# --------------------------------------------------------------------------------------------


def case_of(request: httpx.Request) -> str:
    body = json.loads(request.content)
    value = body["entry"][0]["request"]["url"].split("|")[1]
    return str(value.removesuffix("-patient"))


def ok_response(case_id: str) -> httpx.Response:
    return make_response(
        200,
        transaction_response(
            *(response_entry("201 Created", f"Patient/{case_id}-{i}/_history/1") for i in range(4))
        ),
    )


def delayed_handler(
    kind: str, delays: dict[str, float], respond: Callable[[str], httpx.Response]
) -> Callable[[httpx.Request], Any]:
    """A respx side effect that answers after ``delays[case]`` seconds, sync or async."""
    if kind == "async":

        async def handler(request: httpx.Request) -> httpx.Response:
            case_id = case_of(request)
            await anyio.sleep(delays.get(case_id, 0))
            return respond(case_id)

        return handler

    def sync_handler(request: httpx.Request) -> httpx.Response:
        case_id = case_of(request)
        time.sleep(delays.get(case_id, 0))
        return respond(case_id)

    return sync_handler


@pytest.mark.anyio
async def test_push_many_keeps_input_order_and_isolates_failures(kind, client, router):
    def respond(case_id: str) -> httpx.Response:
        if case_id == "B":
            return make_response(
                422, outcome("bad", expression=["Bundle.entry[3].resource.valueQuantity"])
            )
        if case_id == "C":
            raise httpx.ConnectError("refused")
        return ok_response(case_id)

    # A answers last, B first: completion order differs from input order
    router.post(BASE).mock(side_effect=delayed_handler(kind, {"A": 0.15, "D": 0.05}, respond))
    items = [
        ("A", case_bundle("A"), SOURCES),
        ("B", case_bundle("B"), SOURCES),
        ("C", case_bundle("C"), SOURCES),
        ("D", case_bundle("D"), None),
        ("E", {"resourceType": "Bundle", "type": "batch"}, None),  # not even a transaction
    ]
    seen: list[str] = []
    results = await client.engine(
        "push_many", items, concurrency=5, on_result=lambda r: seen.append(r.case_id)
    )
    assert [r.case_id for r in results] == ["A", "B", "C", "D", "E"]
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert seen[-1] == "A"  # completion order
    assert sorted(seen) == ["A", "B", "C", "D", "E"]
    assert results[1].error is not None
    assert results[1].error.startswith("case 'B': transaction rejected with HTTP 422")
    assert "surgery.blood_loss_ml" in results[1].error
    assert results[2].error is not None
    assert results[2].error.startswith("case 'C': POST http://fhir.test/fhir: connection failed")
    assert isinstance(results[2].exception, TransportError)
    assert [e.outcome for e in results[2].entries] == ["failed"] * 4
    assert results[4].error == (
        "case 'E': unexpected ValueError: expected a transaction Bundle, got Bundle/batch"
    )
    assert results[4].entries == []
    assert results[3].counts["created"] == 4


@pytest.mark.anyio
async def test_push_many_bounds_concurrency(kind, client, router):
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def enter() -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)

    def leave() -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    if kind == "async":

        async def handler(request: httpx.Request) -> httpx.Response:
            enter()
            await anyio.sleep(0.02)
            leave()
            return ok_response(case_of(request))

    else:

        def handler(request: httpx.Request) -> httpx.Response:  # type: ignore[misc]
            enter()
            time.sleep(0.02)
            leave()
            return ok_response(case_of(request))

    router.post(BASE).mock(side_effect=handler)
    items = [(f"K{i}", case_bundle(f"K{i}"), None) for i in range(7)]
    results = await client.engine("push_many", items, concurrency=2)
    assert [r.case_id for r in results] == [f"K{i}" for i in range(7)]
    assert all(r.ok for r in results)
    assert peak == 2


@pytest.mark.anyio
async def test_push_many_sequential(kind, client, router):
    router.post(BASE).mock(side_effect=lambda request: ok_response(case_of(request)))
    seen: list[str] = []
    items = [(c, case_bundle(c), None) for c in "XYZ"]
    results = await client.engine(
        "push_many", items, concurrency=1, on_result=lambda r: seen.append(r.case_id)
    )
    assert seen == ["X", "Y", "Z"]
    assert [r.case_id for r in results] == ["X", "Y", "Z"]


@pytest.mark.anyio
async def test_push_many_module_function(kind, client, router):
    router.post(BASE).mock(side_effect=lambda request: ok_response(case_of(request)))
    items = [(c, case_bundle(c), None) for c in "PQ"]
    pending = push_many(client.client, items, concurrency=2)
    results = await pending if kind == "async" else pending
    assert [r.case_id for r in results] == ["P", "Q"]


@pytest.mark.anyio
async def test_push_many_rejects_zero_concurrency(client):
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        await client.engine("push_many", [], concurrency=0)


@pytest.mark.anyio
async def test_push_many_of_nothing(client):
    assert await client.engine("push_many", []) == []


def test_push_result_counts_every_outcome():
    assert CasePushResult("x", True).counts == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "failed": 0,
    }


def test_blood_loss_source_constant():
    assert SOURCES[BLOOD_LOSS_URL] == "surgery.blood_loss_ml"
    assert HAPI_SYSTEM.startswith("https://hapifhir.io/")


def test_result_from_error_with_http_errors_and_bad_bundles():
    from fhir_ivc.exchange.push import result_from_error

    exc = FhirHttpError("nope", status_code=400, outcome=outcome("bad"))
    result = result_from_error("C1", case_bundle(), SOURCES, exc)
    assert result.status_code == 400
    assert [e.status for e in result.entries] == [400] * 4
    # an HTTP error for something that is not a transaction still yields a result
    weird = result_from_error("C2", {"resourceType": "Patient"}, None, exc)
    assert weird.entries == []
    assert weird.error == "case 'C2': nope"


# --------------------------------------------------------------------------------------------
# Answers recorded from the project's HAPI FHIR 8.8.0 (servers/hapi, pushing case_bundle twice)
# --------------------------------------------------------------------------------------------

HAPI_880_NO_OP = {
    "status": "200 OK",
    "location": "Observation/72ba5dd9-f0f1-4824-98da-f47bcc6a4dc4/_history/1",
    "etag": "1",
    "outcome": {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "details": {
                    "coding": [
                        {
                            "system": HAPI_SYSTEM,
                            "code": "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE",
                            "display": "Conditional update succeeded: an existing resource "
                            "matched the conditional URL and was updated, but no changes were "
                            "detected so no action was taken.",
                        }
                    ]
                },
                "diagnostics": 'Successfully conditionally updated resource "Observation/'
                '72ba5dd9-f0f1-4824-98da-f47bcc6a4dc4/_history/1" with no changes detected. '
                'Existing resource matched URL "Observation?identifier=urn:ivc|PROBE-1-ebl".',
            }
        ],
    },
}
HAPI_880_MULTIPLE_MATCHES = outcome(
    'HAPI-2207: Invalid match URL "Observation?identifier=urn:ivc|IVC-001-ebl" - Multiple '
    "resources match this search"
)


def test_hapi_880_no_op_is_unchanged():
    [response] = parse_transaction_response(transaction_response({"response": HAPI_880_NO_OP}))
    assert response.version_id == "1"
    plan = plan_entries(case_bundle(), SOURCES)[3]
    assert classify_entry(plan, response)[0] == "unchanged"


def test_hapi_880_multiple_matches_names_the_element():
    exc = ConflictError("x", status_code=412, outcome=HAPI_880_MULTIPLE_MATCHES)
    result = result_from_http_error("IVC-001", PLANNED, exc)
    assert result.error is not None
    assert "surgery.blood_loss_ml (Observation): HAPI-2207: Invalid match URL" in result.error
