"""The sans-I/O core: pure functions, no server, no transport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_ivc.client._answers import CapabilityInfo, first_issue_text, parse_transaction_response
from fhir_ivc.client._core import (
    FHIR_JSON,
    USER_AGENT,
    ClientCore,
    RetryPolicy,
    error_for_status,
    is_repeatable,
    is_repeatable_transaction,
    redact_url,
)
from fhir_ivc.exceptions import (
    AuthFailedError,
    ConfigError,
    ConflictError,
    FhirHttpError,
    NotFoundError,
    RequestError,
    RetryableHttpError,
)

from ._support import capability, case_bundle, outcome, response_entry, transaction_response
from .conftest import BASE, NOW, RETRY

# --------------------------------------------------------------------------------------------
# RetryPolicy
# --------------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_pinned_jitter():
    assert [RETRY.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=5.0, jitter=lambda: 1.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 100)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_full_jitter_scales_the_whole_interval():
    policy = RetryPolicy(backoff_base=2.0, jitter=lambda: 0.25)
    assert [policy.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


@given(retry=st.integers(min_value=1, max_value=50))
def test_full_jitter_stays_between_zero_and_the_ceiling(retry):
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=30.0)  # real random jitter
    delay = policy.backoff(retry)
    assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** (retry - 1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 12 ", 12.0),
        ("100000", 120.0),  # capped
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),  # HTTP-date, 30 s after NOW
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # in the past: retry at once
        ("Wed, 15 Nov 2023 22:13:20 GMT", 120.0),  # a day ahead: capped
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # delta-seconds are integers (RFC 9110 §10.2.3)
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert RETRY.parse_retry_after(value) == expected


def test_retry_after_only_for_429_and_503():
    assert RETRY.delay(1, status=429, retry_after="9") == 9.0
    assert RETRY.delay(1, status=503, retry_after="9") == 9.0
    assert RETRY.delay(1, status=500, retry_after="9") == 0.5  # backoff, header ignored
    assert RETRY.delay(2, status=503, retry_after=None) == 1.0  # no header: backoff


def test_retry_policy_rejects_nonsense():
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        RetryPolicy(backoff_base=-1)


def test_clock_is_used_for_http_dates():
    policy = RetryPolicy(clock=lambda: NOW + 20)
    assert policy.parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT") == 10.0


# --------------------------------------------------------------------------------------------
# What may be retried
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        ("GET", None, True),
        ("HEAD", None, True),
        ("PUT", {"resourceType": "Patient"}, True),
        ("POST", {"resourceType": "Patient"}, False),  # plain create
        ("POST", None, False),  # operation via POST
        ("PATCH", {}, False),
        ("POST", case_bundle(), True),  # transaction of conditional PUTs
        ("POST", case_bundle(with_post=True), False),  # one create entry spoils it
    ],
)
def test_is_repeatable(method, body, expected):
    assert is_repeatable(method, body) is expected


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "type": "batch", "entry": []},
        {"resourceType": "Parameters"},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": "nope"},
        "not a bundle",
    ],
)
def test_non_transactions_are_not_repeatable(bundle: Any):
    assert not is_repeatable_transaction(bundle)


def test_transaction_of_get_put_delete_is_repeatable():
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "GET", "url": "Patient?identifier=a|b"}},
            {"request": {"method": "PUT", "url": "Patient/1"}},
            {"request": {"method": "DELETE", "url": "Observation?identifier=a|c"}},
        ],
    }
    assert is_repeatable_transaction(bundle)


# --------------------------------------------------------------------------------------------
# Status → exception, message from the first issue
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, FhirHttpError),
        (401, AuthFailedError),
        (403, AuthFailedError),
        (404, NotFoundError),
        (405, FhirHttpError),
        (408, RetryableHttpError),
        (409, ConflictError),
        (410, NotFoundError),
        (412, ConflictError),
        (422, FhirHttpError),
        (429, RetryableHttpError),
        (500, RetryableHttpError),
        (503, RetryableHttpError),
        (599, RetryableHttpError),
        (302, FhirHttpError),
    ],
)
def test_error_for_status(status, cls):
    exc = error_for_status(status, None, method="GET", url=f"{BASE}/Patient/1")
    assert type(exc) is cls
    assert exc.request == ("GET", f"{BASE}/Patient/1")
    if isinstance(exc, FhirHttpError):
        assert exc.status_code == status


def test_message_comes_from_the_first_issue_and_the_query_is_dropped():
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "first problem"},
            {"severity": "error", "code": "invalid", "diagnostics": "second problem"},
        ],
    }
    exc = error_for_status(
        422,
        oo,
        method="GET",
        url=f"{BASE}/Patient?identifier=urn:mrn|12345",
        reason="Unprocessable Entity",
        attempts=1,
    )
    assert str(exc) == f"GET {BASE}/Patient: HTTP 422 Unprocessable Entity: first problem"
    assert "12345" not in str(exc)
    assert isinstance(exc, FhirHttpError)
    assert exc.outcome == oo


@pytest.mark.parametrize(
    ("oo", "text"),
    [
        (outcome("diag"), "diag"),
        (outcome(details_text="from details"), "from details"),
        (outcome(coding={"system": "s", "code": "C", "display": "Shown"}), "Shown"),
        (outcome(coding={"system": "s", "code": "C"}), "C"),
        (outcome(code="required"), "issue code 'required'"),
        ({"resourceType": "Patient"}, None),
        (None, None),
    ],
)
def test_first_issue_text(oo, text):
    assert first_issue_text(oo) == text


def test_retryable_error_counts_attempts():
    exc = error_for_status(503, None, method="GET", url=BASE, reason="Unavailable", attempts=4)
    assert isinstance(exc, RetryableHttpError)
    assert exc.attempts == 4
    assert "after 4 attempts" in str(exc)


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def test_request_headers_and_body():
    core = ClientCore(BASE + "/", retry=RETRY, headers={"X-Trace": "t"})
    spec = core.request("put", core.url("Patient/1"), body={"resourceType": "Patient", "id": "1"})
    assert spec.method == "PUT"
    assert spec.url == f"{BASE}/Patient/1"
    assert spec.headers == {
        "Accept": FHIR_JSON,
        "User-Agent": USER_AGENT,
        "X-Trace": "t",
        "Content-Type": FHIR_JSON,
    }
    assert spec.content == b'{"resourceType":"Patient","id":"1"}'
    assert spec.repeatable
    get = core.request("GET", core.url("metadata"))
    assert "Content-Type" not in get.headers
    assert get.content is None
    assert USER_AGENT.startswith("fhir-ivc/")


@pytest.mark.parametrize(
    ("path", "url"),
    [("", BASE), ("metadata", f"{BASE}/metadata"), ("/Patient/1", f"{BASE}/Patient/1")],
)
def test_url_joining(path, url):
    assert ClientCore(BASE, retry=RETRY).url(path) == url


@pytest.mark.parametrize("bad", ["fhir.test/fhir", "ftp://fhir.test", "http://", "http://h/f?x=1"])
def test_base_url_must_be_absolute_http(bad):
    with pytest.raises(ConfigError):
        ClientCore(bad, retry=RETRY)


@pytest.mark.parametrize("path", ["http://evil/x", "//evil/x"])
def test_url_refuses_absolute_paths(path):
    with pytest.raises(ValueError, match="relative"):
        ClientCore(BASE, retry=RETRY).url(path)


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("Patient/123/$everything", True),
        ("Patient/$match", True),
        ("$meta", True),
        ("Patient/123", False),
        ("Patient/../../$x", False),
        ("patient/1/$everything", False),
        ("a/b/c/$x", False),
    ],
)
def test_operation_path(path, ok):
    core = ClientCore(BASE, retry=RETRY)
    if ok:
        assert core.operation_path(path) == f"{BASE}/{path}"
    else:
        with pytest.raises(ValueError, match=r"operation path|not a FHIR"):
            core.operation_path(path)


def test_redact_url():
    assert redact_url("https://h:8443/fhir/Patient?name=Doe#x") == "https://h:8443/fhir/Patient"


# --------------------------------------------------------------------------------------------
# Search next links
# --------------------------------------------------------------------------------------------


def _page(url: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "link": [{"relation": "next", "url": url}]}


@pytest.mark.parametrize(
    ("link", "resolved"),
    [
        (f"{BASE}?_getpages=abc&_getpagesoffset=20", f"{BASE}?_getpages=abc&_getpagesoffset=20"),
        ("Patient?page=2", f"{BASE}/Patient?page=2"),
        ("/fhir/Patient?page=3", f"{BASE}/Patient?page=3"),
        ("http://FHIR.test:80/fhir/Patient?page=4", "http://fhir.test/fhir/Patient?page=4"),
    ],
)
def test_next_link_resolution(link, resolved):
    assert ClientCore(BASE, retry=RETRY).next_link(_page(link)) == resolved


@pytest.mark.parametrize(
    "link",
    ["http://evil.test/fhir?page=2", "http://fhir.test:8080/fhir?page=2", "https://fhir.test/fhir"],
)
def test_next_link_to_another_origin_is_refused(link):
    with pytest.raises(RequestError, match="refusing to follow search next link"):
        ClientCore(BASE, retry=RETRY).next_link(_page(link))


def test_no_next_link():
    core = ClientCore(BASE, retry=RETRY)
    assert core.next_link({"link": [{"relation": "self", "url": BASE}]}) is None
    assert core.next_link({}) is None


# --------------------------------------------------------------------------------------------
# CapabilityStatement
# --------------------------------------------------------------------------------------------


def test_capability_parsing():
    info = CapabilityInfo.from_statement(capability())
    assert info.fhir_version == "4.0.1"
    assert info.software == "HAPI FHIR Server 8.8.0"
    assert info.supports("Patient", "update")
    assert not info.supports("Patient", "delete")
    assert not info.supports("Medication", "read")
    assert info.supports_transaction
    assert info.system_interactions == {"transaction", "batch"}
    assert info.supports_operation("everything", "Patient")
    assert info.supports_operation("$everything", "Patient")
    assert not info.supports_operation("everything", "Observation")
    assert info.supports_operation("meta")  # system level
    assert info.resource_types == {"Patient", "Observation"}


@pytest.mark.parametrize("version", ["3.0.2", "4.3.0", "5.0.0", "4.0", "", None])
def test_non_r4_server_is_a_config_error(version):
    statement = capability()
    statement["fhirVersion"] = version
    with pytest.raises(ConfigError, match="FHIR R4"):
        CapabilityInfo.from_statement(statement)


def test_not_a_capability_statement():
    with pytest.raises(ConfigError, match="CapabilityStatement"):
        CapabilityInfo.from_statement({"resourceType": "OperationOutcome"})


def test_capability_without_transaction():
    statement = capability()
    statement["rest"][0]["interaction"] = []
    assert not CapabilityInfo.from_statement(statement).supports_transaction


# --------------------------------------------------------------------------------------------
# transaction-response
# --------------------------------------------------------------------------------------------


def test_transaction_response_parsing():
    body = transaction_response(
        response_entry("201 Created", "Patient/7/_history/1", etag='W/"1"'),
        response_entry("200 OK", "Observation/9/_history/3"),
        response_entry("200", "Procedure/5", etag='W/"2"'),
        response_entry("200 OK", "http://fhir.test/fhir/Condition/c-1/_history/4"),
    )
    parsed = parse_transaction_response(body, expected_entries=4)
    assert [(e.status, e.resource_type, e.resource_id, e.version_id) for e in parsed] == [
        (201, "Patient", "7", "1"),
        (200, "Observation", "9", "3"),
        (200, "Procedure", "5", "2"),
        (200, "Condition", "c-1", "4"),
    ]
    assert parsed[0].status_line == "201 Created"


@pytest.mark.parametrize(
    ("body", "expected", "match"),
    [
        ({"resourceType": "Bundle", "type": "searchset"}, None, "transaction-response"),
        (transaction_response({"nothing": 1}), 1, "has no response"),
        (transaction_response({"response": {"status": "OK"}}), 1, "unreadable status"),
        (transaction_response(response_entry("200 OK", "Patient/1")), 2, "1 entries for 2"),
    ],
)
def test_bad_transaction_responses(body, expected, match):
    with pytest.raises(RequestError, match=match):
        parse_transaction_response(body, expected_entries=expected)


def test_spec_full_url_merges_params():
    core = ClientCore(BASE, retry=RETRY)
    spec = core.request("GET", core.url("Patient"), params={"identifier": "a|b", "_count": 5})
    assert httpx.URL(spec.full_url).params == httpx.QueryParams(
        {"identifier": "a|b", "_count": "5"}
    )
