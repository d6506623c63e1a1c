"""``fhir-ivc pull`` without a real server: the fake of tests/exchange/test_pull.py as transport.

Outputs (``--out`` files, ``--ndjson``, the loss report as NDJSON or JSON, ``--raw``), exit codes
(0 all read, 1 some not, 2 could not run), messages (case ids and counts only, never resource
content or credentials). ``tests/integration/test_pull.py`` runs the command against HAPI FHIR.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.exchange.test_pull import SYSTEM, FakeServer, server_resources

from fhir_ivc.cli._app import app
from fhir_ivc.client import FhirClient, RetryPolicy
from fhir_ivc.exchange.report import public_url
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

BASE = "http://fhir.test/fhir"
SECRET = "t0ken-that-must-never-be-printed"


@pytest.fixture
def originals() -> list[Case]:
    return [synthetic_case(i, source_system=SYSTEM) for i in range(3)]


def serve(runner, handler: Callable[[httpx.Request], httpx.Response]) -> None:
    """Make ``handler`` the server of the next pulls (as the client's transport)."""
    runner.use(
        fhir_client=partial(
            FhirClient,
            transport=httpx.MockTransport(handler),
            sleep=lambda _: None,
            retry=RetryPolicy(max_attempts=2, jitter=lambda: 0.0),
        )
    )


@pytest.fixture
def server(originals, runner) -> FakeServer:
    fake = FakeServer([r for c in originals for r in server_resources(c)])
    serve(runner, fake.handler)
    return fake


def run(runner, *args: str):
    return runner.invoke(app, ["pull", "--server", BASE, *args])


def ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def plain(stderr: str) -> str:
    """stderr as one line of words (typer's error box wraps and frames messages)."""
    return " ".join(stderr.replace("│", " ").split())


def summary(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


# --- outputs ----------------------------------------------------------------------------------


def test_out_dir_holds_one_case_file_each_and_the_loss_report(runner, server, originals, tmp_path):
    out = tmp_path / "cases"
    result = run(runner, "--system", SYSTEM, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    for case in originals:
        record = json.loads((out / f"{case.case_id}.json").read_text())
        assert Case.model_validate(record) == case
    report = ndjson(out / "loss-report.ndjson")
    assert sorted(e["case_id"] for e in report) == sorted(c.case_id for c in originals)
    assert all(e["ok"] and e["losses"] == [] and e["strategy"] == "everything" for e in report)
    assert "fields" not in report[0]
    line = summary(result.stderr)
    assert line.startswith("pulled 3 patients: 3 read into cases, 0 not read; 0 losses in 0 ")
    assert f"cases in {out}; loss report in {out / 'loss-report.ndjson'}" in line


def test_ndjson_to_stdout_and_a_json_loss_report(runner, server, originals, tmp_path):
    losses = tmp_path / "losses.json"
    result = run(runner, "--system", SYSTEM, "--ndjson", "-", "--loss-report", str(losses))
    assert result.exit_code == 0, result.output
    pulled = [Case.model_validate(json.loads(line)) for line in result.stdout.splitlines()]
    assert sorted(pulled, key=lambda c: c.case_id) == originals
    document = json.loads(losses.read_text())
    assert document["server"] == BASE
    assert (document["patients"], document["cases"], document["not_read"]) == (3, 3, 0)
    assert len(document["results"]) == 3


def test_ndjson_file_gets_its_loss_report_next_to_it(runner, server, tmp_path):
    target = tmp_path / "pulled.ndjson"
    result = run(runner, "--system", SYSTEM, "--ndjson", str(target))
    assert result.exit_code == 0, result.output
    assert len(ndjson(target)) == 3
    assert len(ndjson(tmp_path / "pulled.losses.ndjson")) == 3


def test_raw_writes_every_pulled_resource_once(runner, server, originals, tmp_path):
    raw = tmp_path / "raw.ndjson"
    result = run(runner, "--system", SYSTEM, "--raw", str(raw), "--strategy", "search")
    assert result.exit_code == 0, result.output
    resources = ndjson(raw)
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(keys) == len(set(keys)) == len(server.resources)
    assert not any(path.endswith("$everything") for path, _ in server.requests)
    assert "(search)" in summary(result.stderr)


def test_identifiers_from_options_and_a_file(runner, server, originals, tmp_path):
    listed = tmp_path / "ids.txt"
    listed.write_text(f"# wanted\n\n{SYSTEM}|{originals[1].case_id}\n")
    out = tmp_path / "out"
    result = run(
        runner,
        "-i",
        f"{SYSTEM}|{originals[0].case_id}",
        "--identifiers-file",
        str(listed),
        "--out",
        str(out),
        "--count",
        "5",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{originals[0].case_id}.json", f"{originals[1].case_id}.json", "loss-report.ndjson"]
    )
    (patient_search,) = [q for p, q in server.requests if p == "Patient"]
    assert patient_search["_count"] == ["5"]


# --- exit code 1: some patients not read ------------------------------------------------------


def test_not_found_and_not_a_case_are_exit_1_with_the_reason(runner, server, originals, tmp_path):
    server.resources.append(
        {
            "resourceType": "Patient",
            "id": "bare",
            "identifier": [{"system": SYSTEM, "value": "bare-1"}],
            "gender": "female",
            "birthDate": "1950-02-03",
        }
    )
    out = tmp_path / "out"
    result = run(
        runner,
        "-i",
        f"{SYSTEM}|nobody",
        "-i",
        f"{SYSTEM}|bare-1",
        "-i",
        f"{SYSTEM}|{originals[0].case_id}",
        "--out",
        str(out),
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert "NOT FOUND nobody: no patient on the server carries this identifier" in lines
    assert "NOT READ bare-1 (Patient/bare): no primary cancer condition" in lines
    assert "1 read into cases, 2 not read (1 not found)" in summary(result.stderr)
    assert sorted(p.name for p in out.iterdir()) == [
        "loss-report.ndjson",
        f"{originals[0].case_id}.json",
    ]
    report = {e["case_id"]: e for e in ndjson(out / "loss-report.ndjson")}
    assert report["bare-1"]["fields"]["patient"]["birth_date"] == "1950-02-03"  # in the file only
    assert "1950-02-03" not in result.stderr  # never on the terminal
    assert report["nobody"]["patient"] is None


def test_a_patient_whose_data_cannot_be_fetched_is_exit_1(runner, server, originals, tmp_path):
    broken = next(r["id"] for r in server.resources if r["resourceType"] == "Patient")
    handler = server.handler

    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"{broken}/$everything"):
            return httpx.Response(503)
        return handler(request)

    serve(runner, failing)
    result = run(runner, "--system", SYSTEM, "--loss-report", str(tmp_path / "l.ndjson"))
    assert result.exit_code == 1, result.output
    assert f"(Patient/{broken}): could not pull Patient/{broken}: GET" in result.stderr
    assert "HTTP 503" in result.stderr


# --- exit code 2: the run could not be done ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say which patients to pull"),
        (["--system", SYSTEM, "-i", f"{SYSTEM}|1"], "not both"),
        (["-i", "no-bar"], "SYSTEM|VALUE"),
        (["--system", "a|b"], "identifier system URI"),
        (["--system", SYSTEM, "--out", "x", "--ndjson", "y"], "at most one"),
        (["--system", SYSTEM], "nothing would be written"),
        (["--system", SYSTEM, "--raw", "a.ndjson", "--loss-report", "a.ndjson"], "must differ"),
        (["--system", SYSTEM, "--out", "x", "--count", "0"], "--count"),
    ],
)
def test_bad_options_are_exit_2(runner, server, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = run(runner, *args)
    assert result.exit_code == 2, result.output
    assert message in plain(result.stderr)
    assert server.requests == []  # nothing was asked of the server
    assert list(tmp_path.iterdir()) == []


def test_a_bad_identifiers_file_line_is_exit_2(runner, server, tmp_path):
    listed = tmp_path / "ids.txt"
    listed.write_text(f"{SYSTEM}|a\njust-a-value\n")
    result = run(runner, "--identifiers-file", str(listed), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    message = plain(result.stderr).replace(" ", "")
    assert f"{listed}:2:expectedSYSTEM|VALUE:thereisno'|'" in message
    assert "just-a-value" not in message  # identifiers are not echoed


def test_a_server_that_refuses_is_exit_2_and_nothing_is_written(runner, server, tmp_path):
    def refusing(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fhir/Patient":
            return httpx.Response(403)
        return server.handler(request)

    serve(runner, refusing)
    result = run(runner, "--system", SYSTEM, "--ndjson", str(tmp_path / "c.ndjson"))
    assert result.exit_code == 2
    assert "fhir-ivc: error: GET http://fhir.test/fhir/Patient: HTTP 403" in result.stderr
    assert list(tmp_path.iterdir()) == []  # the NDJSON files appear only after a finished run


def test_a_server_that_is_not_r4_is_exit_2(runner, server, tmp_path):
    server.statement["fhirVersion"] = "5.0.0"
    result = run(runner, "--system", SYSTEM, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "fhir_ivc needs FHIR R4" in result.stderr


def test_missing_credentials_are_exit_2(runner, server, tmp_path, monkeypatch):
    monkeypatch.delenv("FHIR_IVC_TEST_TOKEN", raising=False)
    result = run(
        runner,
        "--system",
        SYSTEM,
        "--out",
        str(tmp_path / "o"),
        "--auth-token-env",
        "FHIR_IVC_TEST_TOKEN",
    )
    assert result.exit_code == 2
    assert "FHIR_IVC_TEST_TOKEN" in result.stderr


# --- credentials and messages -----------------------------------------------------------------


def test_the_token_is_sent_and_never_printed(runner, server, tmp_path, monkeypatch):
    monkeypatch.setenv("FHIR_IVC_TEST_TOKEN", SECRET)
    seen: list[str | None] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return server.handler(request)

    serve(runner, recording)
    result = run(
        runner,
        "--system",
        SYSTEM,
        "--out",
        str(tmp_path / "o"),
        "--auth-token-env",
        "FHIR_IVC_TEST_TOKEN",
    )
    assert result.exit_code == 0, result.output
    assert set(seen) == {f"Bearer {SECRET}"}
    assert "credentials from env:FHIR_IVC_TEST_TOKEN" in result.stderr
    assert SECRET not in result.output
    for path in (tmp_path / "o").iterdir():
        assert SECRET not in path.read_text()


def test_two_auth_options_are_refused(runner, server, tmp_path):
    token = tmp_path / "token"
    token.write_text("x")
    result = run(
        runner,
        "--system",
        SYSTEM,
        "--out",
        str(tmp_path / "o"),
        "--auth-token-env",
        "X",
        "--auth-token-file",
        str(token),
    )
    assert result.exit_code == 2
    assert "at most one of them" in result.stderr


def test_quiet_prints_no_summary(runner, server, tmp_path):
    result = run(runner, "--system", SYSTEM, "--out", str(tmp_path / "o"), "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_public_url_hides_credentials_and_queries():
    assert public_url("https://u:p@fhir.test:8443/fhir?x=1#f") == "https://fhir.test:8443/fhir"
