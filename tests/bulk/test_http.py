"""The Bulk Data request pattern against faults HAPI does not produce on demand (respx).

Kick-off refused with 429 + Retry-After, polls that say 202 with Retry-After and X-Progress, a
503 in between, a job that fails, a job the server forgot, downloads cut short, credentials
and other hosts.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from fhir_ivc.bulk.http import (
    DEFAULT_DOWNLOAD_DEADLINE,
    DEFAULT_JOB_DEADLINE,
    DEFAULT_MAX_FILE_BYTES,
    BulkHttp,
    BulkJobError,
)
from fhir_ivc.cli._connection import Connection
from fhir_ivc.client import DEFAULT_RESPONSE_LIMITS, BearerTokenAuth, ResponseLimits
from fhir_ivc.exceptions import ConfigError, FhirHttpError, RequestError, TransportError

BASE = "https://fhir.example.org/fhir"
STATUS = f"{BASE}/$export-poll-status?_jobId=1"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _http(sleeps: Sleeps, **kwargs: object) -> BulkHttp:
    return BulkHttp(BASE, sleep=sleeps, **kwargs)  # type: ignore[arg-type]


def _outcome(text: str) -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": text}],
    }


@respx.mock
def test_kick_off_honours_429_retry_after_and_returns_the_status_url():
    route = respx.get(f"{BASE}/Patient/$export").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(202, headers={"Content-Location": STATUS}),
        ]
    )
    sleeps = Sleeps()
    with _http(sleeps, max_wait=30) as http:
        assert http.kick_off("Patient/$export", params={"_type": "Patient"}) == STATUS
    assert sleeps == [7.0]
    assert route.calls[0].request.headers["Prefer"] == "respond-async"
    assert route.calls[0].request.url.params["_type"] == "Patient"


@respx.mock
def test_kick_off_without_202_or_location_is_an_error():
    respx.get(f"{BASE}/a").respond(200, json={})
    respx.get(f"{BASE}/b").respond(202)
    respx.get(f"{BASE}/c").respond(400, json=_outcome("bad _type"))
    with _http(Sleeps()) as http:
        with pytest.raises(FhirHttpError, match="expected 202"):
            http.kick_off("a")
        with pytest.raises(FhirHttpError, match="Content-Location"):
            http.kick_off("b")
        with pytest.raises(FhirHttpError, match="bad _type"):
            http.kick_off("c")


@respx.mock
def test_wait_honours_retry_after_capped_and_reports_progress():
    respx.get(STATUS).mock(
        side_effect=[
            httpx.Response(202, headers={"Retry-After": "2", "X-Progress": "10%"}),
            httpx.Response(202, headers={"Retry-After": "120", "X-Progress": "50%"}),
            httpx.Response(503, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": "4"}),
            httpx.Response(202),
            httpx.Response(200, json={"output": []}),
        ]
    )
    sleeps = Sleeps()
    seen: list[str] = []
    with _http(sleeps, max_wait=10, min_wait=0.5) as http:
        body = http.wait(STATUS, on_progress=lambda text, wait: seen.append(text))
    assert body == {"output": []}
    assert sleeps == [2.0, 10.0, 3.0, 4.0, 0.5]
    assert seen[:2] == ["10%", "50%"]


@respx.mock
def test_a_failed_job_raises_with_the_servers_message():
    respx.get(STATUS).mock(
        side_effect=[httpx.Response(202), httpx.Response(500, json=_outcome("Job FAILED: disk"))]
    )
    with (
        _http(Sleeps()) as http,
        pytest.raises(BulkJobError, match=r"failed.*Job FAILED: disk") as e,
    ):
        http.wait(STATUS)
    assert e.value.status_code == 500
    assert e.value.outcome is not None


@respx.mock
def test_a_forgotten_job_and_endless_transient_errors_end_the_wait():
    respx.get(STATUS).respond(404)
    with _http(Sleeps()) as http, pytest.raises(BulkJobError, match="no longer knows"):
        http.wait(STATUS)
    respx.get(STATUS).respond(503)
    with _http(Sleeps(), max_transient=3) as http, pytest.raises(BulkJobError, match="4 times"):
        http.wait(STATUS)
    respx.get(STATUS).mock(side_effect=httpx.ConnectError("refused"))
    with _http(Sleeps(), max_transient=2) as http, pytest.raises(TransportError):
        http.wait(STATUS)


@respx.mock
def test_a_timeout_names_the_status_url_to_resume_with():
    respx.get(STATUS).respond(202, headers={"Retry-After": "5"})
    clock = iter(range(0, 1000, 5))
    with _http(Sleeps(), max_wait=5) as http, pytest.raises(BulkJobError, match="resume"):
        http.wait(STATUS, timeout=12, clock=lambda: float(next(clock)))


@respx.mock
def test_a_truncated_download_is_fetched_again(tmp_path):
    url = f"{BASE}/Binary/1"
    good = b'{"resourceType":"Patient","id":"a"}\n{"resourceType":"Patient","id":"b"}\n'
    respx.get(url).mock(
        side_effect=[
            httpx.Response(
                200, content=good[:50], headers={"Content-Type": "application/fhir+ndjson"}
            ),
            httpx.Response(200, content=good),
        ]
    )
    sleeps = Sleeps()
    dest = tmp_path / "Patient.ndjson"
    with _http(sleeps) as http:
        assert http.download(url, dest) == len(good)
    assert dest.read_bytes() == good
    assert len(sleeps) == 1
    assert not list(tmp_path.glob(".*part"))


@respx.mock
def test_a_download_that_stays_truncated_fails(tmp_path):
    url = f"{BASE}/Binary/1"
    respx.get(url).mock(
        return_value=httpx.Response(
            200, content=b'{"a": 1}\n{"b"', headers={"Content-Length": "14"}
        )
    )
    with (
        _http(Sleeps(), download_attempts=2) as http,
        pytest.raises(TransportError, match="2 times"),
    ):
        http.download(url, tmp_path / "x.ndjson")
    assert not (tmp_path / "x.ndjson").exists()


@respx.mock
def test_credentials_go_to_the_server_only(tmp_path, monkeypatch):
    monkeypatch.setenv("BULK_TOKEN", "s3cret")
    auth = BearerTokenAuth.from_env("BULK_TOKEN")
    own = respx.get(f"{BASE}/Binary/1").respond(200, content=b"{}\n")
    other = respx.get("https://storage.example.net/f.ndjson").respond(200, content=b"{}\n")
    with BulkHttp(BASE, auth=auth, sleep=Sleeps()) as http:
        http.download(f"{BASE}/Binary/1", tmp_path / "a")
        http.download("https://storage.example.net/f.ndjson", tmp_path / "b", requires_token=False)
        with pytest.raises(ConfigError, match="another host"):
            http.download("https://storage.example.net/f.ndjson", tmp_path / "c")
    assert own.calls[0].request.headers["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in other.calls[0].request.headers


# --- bounds on what the server sends (a broken or hostile server; respx, as HAPI cannot be
# made to send these) ----------------------------------------------------------------------------

SMALL = ResponseLimits(max_body_bytes=1000)


def _drip(total: int, piece: bytes = b"x" * 100) -> Iterator[bytes]:
    """A body streamed without a Content-Length (chunked), ``total`` bytes."""
    for _ in range(total // len(piece)):
        yield piece


@respx.mock
def test_an_oversized_kick_off_answer_is_refused_with_the_url_and_the_limit():
    respx.get(f"{BASE}/Patient/$export").respond(
        400, content=b'{"resourceType":"OperationOutcome","x":"' + b"y" * 5000 + b'"}'
    )
    with (
        _http(Sleeps(), limits=SMALL) as http,
        pytest.raises(RequestError, match=r"Patient/\$export: the answer is larger than 1000"),
    ):
        http.kick_off("Patient/$export", params={"_since": "secret-instant"})


@respx.mock
def test_an_oversized_poll_answer_is_refused_and_the_query_string_not_shown():
    respx.get(STATUS).mock(
        side_effect=[httpx.Response(202), httpx.Response(200, content=b"[" + b" " * 5000 + b"]")]
    )
    with _http(Sleeps(), limits=SMALL) as http, pytest.raises(RequestError) as e:
        http.wait(STATUS)
    assert "larger than 1000 bytes" in str(e.value)
    assert "$export-poll-status" in str(e.value)
    assert "_jobId" not in str(e.value)


@respx.mock
def test_a_poll_content_length_over_the_limit_is_refused_before_reading():
    respx.get(STATUS).respond(200, content=b"{}", headers={"Content-Length": "999999999"})
    with _http(Sleeps(), limits=SMALL) as http, pytest.raises(RequestError, match="larger than"):
        http.poll(STATUS)


@respx.mock
def test_a_poll_body_streamed_past_the_limit_without_content_length_is_cut():
    respx.get(STATUS).mock(side_effect=lambda request: httpx.Response(200, content=_drip(10**6)))
    with _http(Sleeps(), limits=SMALL) as http, pytest.raises(RequestError, match="larger than"):
        http.poll(STATUS)


@respx.mock
def test_the_default_limits_are_the_clients():
    with _http(Sleeps()) as http:
        assert http.limits == DEFAULT_RESPONSE_LIMITS
        assert http.max_file_bytes == DEFAULT_MAX_FILE_BYTES
        assert http.job_deadline == DEFAULT_JOB_DEADLINE


def test_the_cli_gives_bulk_the_clients_limits():
    connection = Connection(max_response_bytes=1234, response_deadline=5.0)
    with connection.bulk_http(BASE, None, 2.0) as http:
        assert http.limits.max_body_bytes == 1234
        assert http.limits.deadline == 5.0


@respx.mock
def test_a_wait_without_timeout_ends_at_the_job_deadline():
    respx.get(STATUS).respond(202, headers={"Retry-After": "5"})
    clock = iter(range(0, 10**6, 5))
    sleeps = Sleeps()

    def sleep(seconds: float) -> None:  # the bound this test is about, not a hung test
        sleeps(seconds)
        assert len(sleeps) < 100, "the wait does not end"

    with (
        BulkHttp(BASE, sleep=sleep, max_wait=5, job_deadline=60) as http,
        pytest.raises(BulkJobError, match=r"within 60 s.*resume"),
    ):
        http.wait(STATUS, clock=lambda: float(next(clock)))
    assert len(sleeps) == 11


NDJSON = b'{"resourceType":"Patient","id":"a"}\n'


@respx.mock
def test_a_download_with_a_content_length_over_the_file_limit_is_not_read(tmp_path):
    url = f"{BASE}/Binary/1?_token=abc"
    route = respx.get(url).respond(200, content=NDJSON * 100)
    dest = tmp_path / "Patient.ndjson"
    with _http(Sleeps(), max_file_bytes=1000) as http, pytest.raises(RequestError) as e:
        http.download(url, dest)
    assert "larger than the limit of 1000 bytes per file" in str(e.value)
    assert "Binary/1" in str(e.value)
    assert "_token" not in str(e.value)
    assert route.call_count == 1  # not fetched again
    assert list(tmp_path.iterdir()) == []


@respx.mock
def test_a_download_streamed_past_the_file_limit_is_cut_and_removed(tmp_path):
    url = f"{BASE}/Binary/1"
    lines = [NDJSON] * 10_000  # 360 kB, chunked: no Content-Length
    respx.get(url).mock(side_effect=lambda request: httpx.Response(200, content=iter(lines)))
    dest = tmp_path / "Patient.ndjson"
    with (
        _http(Sleeps(), max_file_bytes=100_000) as http,
        pytest.raises(RequestError, match=r"100000 bytes per file.*cut off"),
    ):
        http.download(url, dest)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part
    assert http.downloaded == 0


@respx.mock
def test_downloads_together_stop_at_the_total_limit(tmp_path):
    respx.get(f"{BASE}/Binary/1").respond(200, content=NDJSON * 20)  # 720 bytes
    respx.get(f"{BASE}/Binary/2").respond(200, content=NDJSON * 20)
    with _http(Sleeps(), max_total_bytes=1000) as http:
        assert http.download(f"{BASE}/Binary/1", tmp_path / "1.ndjson") == 720
        with pytest.raises(RequestError, match=r"left \(280\) of the limit of 1000 bytes"):
            http.download(f"{BASE}/Binary/2", tmp_path / "2.ndjson")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.ndjson"]


@respx.mock
def test_a_download_line_longer_than_the_answer_limit_is_refused(tmp_path):
    url = f"{BASE}/Binary/1"
    line = b'{"resourceType":"Patient","id":"a","x":"' + b"y" * 300_000 + b'"}\n'
    respx.get(url).mock(side_effect=lambda request: httpx.Response(200, content=_drip(len(line))))
    with (
        _http(Sleeps(), limits=ResponseLimits(max_body_bytes=100_000)) as http,
        pytest.raises(RequestError, match="a line is longer than 100000 bytes"),
    ):
        http.download(url, tmp_path / "x.ndjson")
    assert list(tmp_path.iterdir()) == []
    # short lines in big chunks pass; one too long inside a chunk does not
    respx.get(url).respond(200, content=NDJSON * 100)
    with _http(Sleeps(), limits=ResponseLimits(max_body_bytes=50)) as http:
        assert http.download(url, tmp_path / "ok.ndjson") == len(NDJSON) * 100
    respx.get(url).respond(200, content=NDJSON + b'{"a":"' + b"z" * 60 + b'"}\n' + NDJSON)
    with (
        _http(Sleeps(), limits=ResponseLimits(max_body_bytes=50)) as http,
        pytest.raises(RequestError, match="longer than 50"),
    ):
        http.download(url, tmp_path / "bad.ndjson")


@respx.mock
def test_an_oversized_download_error_answer_is_cut(tmp_path):
    url = f"{BASE}/Binary/1"
    respx.get(url).mock(side_effect=lambda request: httpx.Response(500, content=_drip(10**6)))
    with _http(Sleeps(), limits=SMALL) as http, pytest.raises(RequestError, match="larger than"):
        http.download(url, tmp_path / "x.ndjson")


@respx.mock
def test_a_download_that_drips_past_the_download_deadline_is_cut(tmp_path):
    url = f"{BASE}/Binary/1"
    respx.get(url).mock(side_effect=lambda request: httpx.Response(200, content=_drip(10**6)))
    now = iter(range(0, 10**7, 1000))  # each look at the clock: 1000 s later
    limits = ResponseLimits(clock=lambda: float(next(now)))
    with (
        _http(Sleeps(), limits=limits, download_deadline=1800) as http,
        pytest.raises(RequestError, match=r"Binary/1: not downloaded within 1800 s"),
    ):
        http.download(url, tmp_path / "x.ndjson")
    assert list(tmp_path.iterdir()) == []
    with _http(Sleeps()) as http:
        assert http.download_deadline == DEFAULT_DOWNLOAD_DEADLINE
