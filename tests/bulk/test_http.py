"""The Bulk Data request pattern against faults HAPI does not produce on demand (respx).

Kick-off refused with 429 + Retry-After, polls that say 202 with Retry-After and X-Progress, a
503 in between, a job that fails, a job the server forgot, downloads cut short, credentials
and other hosts.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from fhir_ivc.bulk.http import BulkHttp, BulkJobError
from fhir_ivc.client import BearerTokenAuth
from fhir_ivc.exceptions import ConfigError, FhirHttpError, TransportError

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
