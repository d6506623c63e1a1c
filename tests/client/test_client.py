"""Both clients against respx routers: wire format, retries, error mapping, paging.

Every test runs twice, for ``FhirClient`` and ``AsyncFhirClient`` (the ``kind`` fixture).
Sleeps are recorded, never waited for; delays are exact because jitter is pinned to 1.0.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fhir_ivc.client import USER_AGENT
from fhir_ivc.exceptions import (
    ConfigError,
    ConflictError,
    FhirHttpError,
    NotFoundError,
    RequestError,
    RetryableHttpError,
    TransportError,
)

from ._support import (
    FHIR_JSON,
    capability,
    case_bundle,
    make_response,
    outcome,
    response_entry,
    searchset,
    transaction_response,
)
from .conftest import BASE

pytestmark = pytest.mark.anyio

PATIENT = {"resourceType": "Patient", "id": "123"}


def ok_transaction(n: int = 4) -> httpx.Response:
    return make_response(
        200,
        transaction_response(
            *(response_entry("201 Created", f"Patient/{i}/_history/1") for i in range(n))
        ),
    )


# --------------------------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------------------------


async def test_read_sends_fhir_headers(client, router):
    route = router.get("/Patient/123").mock(return_value=make_response(200, PATIENT))
    assert await client.call("read", "Patient", "123") == PATIENT
    request = route.calls.last.request
    assert request.url == f"{BASE}/Patient/123"
    assert request.headers["Accept"] == FHIR_JSON
    assert request.headers["User-Agent"] == USER_AGENT
    assert "Content-Type" not in request.headers
    assert client.delays == []


async def test_transaction_posts_fhir_json_to_the_base(client, router):
    route = router.post(BASE).mock(return_value=ok_transaction())
    bundle = case_bundle()
    answer = await client.call("transaction", bundle)
    assert answer["type"] == "transaction-response"
    request = route.calls.last.request
    assert request.url == BASE
    assert request.headers["Content-Type"] == FHIR_JSON
    assert json.loads(request.content) == bundle


async def test_operation_everything(client, router):
    route = router.get("/Patient/123/$everything", params={"_count": "50"}).mock(
        return_value=make_response(200, searchset())
    )
    body = await client.call("operation", "Patient/123/$everything", {"_count": 50})
    assert body["type"] == "searchset"
    assert route.called


async def test_extra_headers_are_sent(make_client, router):
    route = router.get("/metadata").mock(return_value=make_response(200, capability()))
    client = make_client(headers={"X-Request-Id": "abc"})
    await client.call("capabilities")
    assert route.calls.last.request.headers["X-Request-Id"] == "abc"


async def test_context_manager_closes(kind, router):
    from .conftest import Harness

    router.get("/Patient/123").mock(return_value=make_response(200, PATIENT))
    harness = Harness(kind, router)
    if kind == "async":
        async with harness.client as c:  # type: ignore[union-attr]
            await c.read("Patient", "123")
        with pytest.raises(RuntimeError):
            await harness.client.read("Patient", "123")  # type: ignore[misc]
    else:
        with harness.client as c:  # type: ignore[union-attr]
            c.read("Patient", "123")
        with pytest.raises(RuntimeError):
            harness.client.read("Patient", "123")


@pytest.mark.parametrize(("rtype", "rid"), [("patient", "1"), ("Patient", "a/b"), ("Patient", "")])
async def test_read_validates_type_and_id(client, rtype, rid):
    with pytest.raises(ValueError, match="not a FHIR"):
        await client.call("read", rtype, rid)


async def test_transaction_needs_a_transaction_bundle(client):
    with pytest.raises(ValueError, match="transaction"):
        await client.call("transaction", {"resourceType": "Bundle", "type": "batch"})


# --------------------------------------------------------------------------------------------
# Retries: 429/503 with Retry-After, 5xx backoff, transport errors
# --------------------------------------------------------------------------------------------


async def test_429_with_retry_after_seconds_then_200(client, router):
    route = router.get("/Patient/123").mock(
        side_effect=[
            make_response(429, headers={"Retry-After": "7"}),
            make_response(200, PATIENT),
        ]
    )
    assert await client.call("read", "Patient", "123") == PATIENT
    assert route.call_count == 2
    assert client.delays == [7.0]


async def test_429_with_retry_after_http_date_then_200(client, router):
    # the fixed clock is 2023-11-14T22:13:20Z; the server asks us to come back 45 s later
    route = router.get("/Patient/123").mock(
        side_effect=[
            make_response(429, headers={"Retry-After": "Tue, 14 Nov 2023 22:14:05 GMT"}),
            make_response(200, PATIENT),
        ]
    )
    assert await client.call("read", "Patient", "123") == PATIENT
    assert route.call_count == 2
    assert client.delays == [45.0]


async def test_retry_after_is_capped(client, router):
    router.get("/Patient/123").mock(
        side_effect=[
            make_response(503, headers={"Retry-After": "86400"}),
            make_response(200, PATIENT),
        ]
    )
    await client.call("read", "Patient", "123")
    assert client.delays == [120.0]


async def test_503_storm_exhausts_retries(client, router):
    route = router.get("/Patient/123").mock(
        return_value=make_response(
            503, outcome("HAPI-1234: database is restarting"), headers={"Retry-After": "2"}
        )
    )
    with pytest.raises(RetryableHttpError) as info:
        await client.call("read", "Patient", "123")
    exc = info.value
    assert exc.attempts == 4
    assert exc.status_code == 503
    assert route.call_count == 4
    assert client.delays == [2.0, 2.0, 2.0]
    assert str(exc) == (
        f"GET {BASE}/Patient/123: HTTP 503 Service Unavailable after 4 attempts: "
        "HAPI-1234: database is restarting"
    )


@pytest.mark.parametrize("status", [500, 502, 504, 408])
async def test_other_retryable_statuses_back_off_exponentially(client, router, status):
    route = router.get("/Patient/123").mock(
        side_effect=[make_response(status)] * 3 + [make_response(200, PATIENT)]
    )
    assert await client.call("read", "Patient", "123") == PATIENT
    assert route.call_count == 4
    assert client.delays == [0.5, 1.0, 2.0]


async def test_503_without_retry_after_backs_off(client, router):
    router.get("/Patient/123").mock(
        side_effect=[make_response(503), make_response(503), make_response(200, PATIENT)]
    )
    await client.call("read", "Patient", "123")
    assert client.delays == [0.5, 1.0]


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectTimeout]
)
async def test_connection_failures_are_retried_then_succeed(client, router, error):
    route = router.get("/Patient/123").mock(side_effect=[error, error, make_response(200, PATIENT)])
    assert await client.call("read", "Patient", "123") == PATIENT
    assert route.call_count == 3
    assert client.delays == [0.5, 1.0]


async def test_read_timeout_becomes_transport_error_after_retries(client, router):
    route = router.get("/Patient/123").mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(TransportError) as info:
        await client.call("read", "Patient", "123")
    exc = info.value
    assert exc.attempts == 4
    assert route.call_count == 4
    assert client.delays == [0.5, 1.0, 2.0]
    assert isinstance(exc.__cause__, httpx.ReadTimeout)
    assert str(exc).startswith(f"GET {BASE}/Patient/123: read timeout after 4 attempts")
    assert exc.request == ("GET", f"{BASE}/Patient/123")


async def test_httpx_errors_never_reach_callers(client, router):
    router.get("/Patient/123").mock(side_effect=httpx.LocalProtocolError)
    with pytest.raises(TransportError) as info:
        await client.call("read", "Patient", "123")
    assert info.value.attempts == 1  # not retryable: our own request was malformed
    assert isinstance(info.value.__cause__, httpx.LocalProtocolError)


async def test_conditional_put_transaction_is_retried(client, router):
    route = router.post(BASE).mock(
        side_effect=[httpx.RemoteProtocolError, make_response(503), ok_transaction()]
    )
    answer = await client.call("transaction", case_bundle())
    assert answer["type"] == "transaction-response"
    assert route.call_count == 3
    assert client.delays == [0.5, 1.0]


async def test_plain_post_is_not_retried_on_503(client, router):
    route = router.post(BASE).mock(return_value=make_response(503))
    with pytest.raises(RetryableHttpError) as info:
        await client.call("transaction", case_bundle(with_post=True))
    assert info.value.attempts == 1
    assert route.call_count == 1
    assert client.delays == []


async def test_plain_post_is_not_retried_after_it_may_have_been_sent(client, router):
    route = router.post(BASE).mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(TransportError):
        await client.call("transaction", case_bundle(with_post=True))
    assert route.call_count == 1
    assert client.delays == []


async def test_post_operation_is_not_retried(client, router):
    route = router.post("/Patient/$match").mock(return_value=make_response(500))
    with pytest.raises(RetryableHttpError):
        await client.call(
            "operation", "Patient/$match", method="POST", body={"resourceType": "Parameters"}
        )
    assert route.call_count == 1


async def test_plain_post_is_retried_when_the_connection_never_opened(client, router):
    # ConnectError: not a byte was sent, so even a create is safe to send again
    route = router.post(BASE).mock(side_effect=[httpx.ConnectError, ok_transaction()])
    await client.call("transaction", case_bundle(with_post=True))
    assert route.call_count == 2
    assert client.delays == [0.5]


# --------------------------------------------------------------------------------------------
# Error mapping with OperationOutcome bodies
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"), [(400, "Bad Request"), (422, "Unprocessable Entity")]
)
async def test_4xx_with_operation_outcome(client, router, status, reason):
    oo = outcome(
        "HAPI-0450: Failed to parse request body as JSON resource.",
        expression=["Bundle.entry[3].resource.valueQuantity"],
    )
    route = router.post(BASE).mock(return_value=make_response(status, oo))
    with pytest.raises(FhirHttpError) as info:
        await client.call("transaction", case_bundle())
    exc = info.value
    assert type(exc) is FhirHttpError
    assert exc.status_code == status
    assert exc.outcome == oo
    assert str(exc) == (
        f"POST {BASE}: HTTP {status} {reason}: "
        "HAPI-0450: Failed to parse request body as JSON resource."
    )
    assert route.call_count == 1  # 4xx are never retried
    assert client.delays == []


@pytest.mark.parametrize("status", [404, 410])
async def test_not_found(client, router, status):
    router.get("/Patient/123").mock(
        return_value=make_response(status, outcome("HAPI-2001: Resource Patient/123 is not known"))
    )
    with pytest.raises(NotFoundError, match="Resource Patient/123 is not known"):
        await client.call("read", "Patient", "123")


async def test_412_on_conditional_update_is_a_conflict(client, router):
    diagnostics = (
        'HAPI-0988: Failed to UPDATE resource with match URL "Observation?identifier=urn:ivc|'
        'IVC-001-ebl" because this search matched 2 resources'
    )
    router.post(BASE).mock(return_value=make_response(412, outcome(diagnostics)))
    with pytest.raises(ConflictError) as info:
        await client.call("transaction", case_bundle())
    assert info.value.status_code == 412
    assert "matched 2 resources" in str(info.value)


async def test_success_that_is_not_json(client, router):
    router.get("/Patient/123").mock(
        return_value=httpx.Response(
            200, text="<html>proxy</html>", headers={"Content-Type": "text/html"}
        )
    )
    with pytest.raises(RequestError, match="not JSON"):
        await client.call("read", "Patient", "123")


# --------------------------------------------------------------------------------------------
# Capabilities
# --------------------------------------------------------------------------------------------


async def test_capabilities(client, router):
    route = router.get("/metadata").mock(return_value=make_response(200, capability()))
    info = await client.call("capabilities")
    assert info.fhir_version == "4.0.1"
    assert info.supports_transaction
    assert info.supports_operation("everything", "Patient")
    assert route.called


@pytest.mark.parametrize("version", ["3.0.2", "5.0.0", "4.3.0"])
async def test_capabilities_of_a_non_r4_server(client, router, version):
    router.get("/metadata").mock(return_value=make_response(200, capability(version)))
    with pytest.raises(ConfigError, match=f"FHIR '{version}'"):
        await client.call("capabilities")


# --------------------------------------------------------------------------------------------
# Search paging
# --------------------------------------------------------------------------------------------


async def test_search_follows_absolute_and_relative_next_links(client, router):
    first = router.get("/Patient", params={"family": "Doe", "_count": "2"}).mock(
        return_value=make_response(200, searchset(2, f"{BASE}?_getpages=abc&_getpagesoffset=2", 1))
    )
    second = router.get(BASE, params={"_getpages": "abc", "_getpagesoffset": "2"}).mock(
        return_value=make_response(200, searchset(2, "Patient?page=3", 2))
    )
    third = router.get("/Patient", params={"page": "3"}).mock(
        return_value=make_response(200, searchset(1, None, 3))
    )
    pages = await client.pages("Patient", {"family": "Doe", "_count": 2})
    assert [len(p["entry"]) for p in pages] == [2, 2, 1]
    assert [p["entry"][0]["resource"]["id"] for p in pages] == ["p1-0", "p2-0", "p3-0"]
    assert first.call_count == second.call_count == third.call_count == 1


async def test_search_refuses_a_next_link_to_another_host(client, router):
    router.get("/Patient").mock(
        return_value=make_response(200, searchset(1, "http://evil.test/fhir/Patient?page=2"))
    )
    seen: list[dict[str, Any]] = []
    with pytest.raises(RequestError, match=r"refusing to follow.*evil\.test") as info:
        await client.pages("Patient", into=seen)
    assert len(seen) == 1  # the first page was delivered, nothing was sent to evil.test
    assert len(router.calls) == 1
    assert "fhir.test/fhir" in str(info.value)


async def test_search_refuses_a_next_link_to_another_port(client, router):
    router.get("/Patient").mock(
        return_value=make_response(200, searchset(1, "http://fhir.test:9999/fhir/Patient?page=2"))
    )
    with pytest.raises(RequestError, match=r"fhir\.test:9999"):
        await client.pages("Patient")


async def test_search_stops_on_a_repeated_link(client, router):
    first = router.get("/Patient", params={"page": "1"}).mock(
        return_value=make_response(200, searchset(1, f"{BASE}/Patient?page=2", 1))
    )
    second = router.get("/Patient", params={"page": "2"}).mock(
        return_value=make_response(200, searchset(1, f"{BASE}/Patient?page=1", 2))
    )
    pages = await client.pages("Patient", {"page": 1})
    assert len(pages) == 2
    assert first.call_count == 1
    assert second.call_count == 1


async def test_search_stops_on_a_self_referencing_next_link(client, router):
    route = router.get("/Patient", params={"page": "2"}).mock(
        return_value=make_response(200, searchset(1, f"{BASE}/Patient?page=2", 2))
    )
    router.get("/Patient", params={"page": "1"}).mock(
        return_value=make_response(200, searchset(1, f"{BASE}/Patient?page=2", 1))
    )
    pages = await client.pages("Patient", {"page": 1})
    assert len(pages) == 2
    assert route.call_count == 1


async def test_search_pages_are_retried_too(client, router):
    router.get("/Patient").mock(side_effect=[make_response(502), make_response(200, searchset())])
    assert len(await client.pages("Patient")) == 1
    assert client.delays == [0.5]


async def test_search_expects_a_searchset(client, router):
    router.get("/Patient").mock(return_value=make_response(200, {"resourceType": "Patient"}))
    with pytest.raises(RequestError, match="searchset"):
        await client.pages("Patient")
