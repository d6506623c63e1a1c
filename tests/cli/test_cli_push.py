"""``fhir-ivc push`` without a real server: a fake FHIR server behind an injected transport.

The fake answers ``/metadata`` and transactions the way HAPI FHIR 8.8.0 does (201 on create,
200 + the no-change storage code on a no-op, 200 + a new version on a change) and can be told
to do what the real server cannot be made to do on demand: be unreachable, speak another FHIR
version, lack transactions, reject one case with a 422 OperationOutcome, answer 503 once,
refuse credentials. ``tests/integration/test_push.py`` runs the command against the real one.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest
import yaml
from tests.client._support import capability, hapi_outcome, outcome

from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli import _push
from fhir_ivc.cli._app import app
from fhir_ivc.client import AsyncFhirClient, RetryPolicy
from fhir_ivc.exchange.state import PushState
from fhir_ivc.testing.synth import synthetic_case

BASE = "http://fhir.test/fhir"
SECRET = "s3cr3t-T0KEN-value-that-must-never-show"


# --- the fake server --------------------------------------------------------------------------


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/fhir+json;charset=UTF-8", **(headers or {})},
    )


def _case_id(bundle: dict[str, Any]) -> str:
    patient = next(
        (e for e in bundle["entry"] if e.get("resource", {}).get("resourceType") == "Patient"),
        {"resource": {}},  # a later part of a split case (--max-entries)
    )
    identifiers = patient["resource"].get("identifier") or [{"value": "?"}]
    value: str = identifiers[0]["value"]
    return value


class FakeFhir:
    """Just enough of a FHIR server: conditional PUT transactions with HAPI's answers."""

    def __init__(self) -> None:
        self.metadata = capability()
        self.requests: list[httpx.Request] = []
        self.store: dict[str, tuple[int, int, str]] = {}  # conditional url -> id, version, json
        self.reject: dict[str, int] = {}  # case id -> entry index to blame with a 422
        self.answers: list[httpx.Response] = []  # canned answers for the next POSTs
        self.in_flight = 0
        self.next_id = 1
        self.max_in_flight = 0
        self.on_post: Callable[[], None] | None = None

    @property
    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path == "/fhir/metadata":
            return _json(200, self.metadata)
        if request.method == "GET" and request.url.path == "/fhir/List":
            return _json(200, self._lists(request.url.params.get("identifier", "")))
        assert (request.method, request.url.path) == ("POST", "/fhir"), request
        if self.on_post is not None:
            self.on_post()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await anyio.sleep(0.01)  # let other transactions overlap
            if self.answers:
                return self.answers.pop(0)
            return self._transaction(json.loads(request.content))
        finally:
            self.in_flight -= 1

    def _lists(self, token: str) -> dict[str, Any]:
        """``GET List?identifier=``: the stored manifest, as a searchset."""
        found = [
            {"resource": {**json.loads(content), "id": str(rid)}}
            for url, (rid, _, content) in self.store.items()
            if url.startswith("List?") and unquote(url.partition("identifier=")[2]) == token
        ]
        return {"resourceType": "Bundle", "type": "searchset", "entry": found}

    def _transaction(self, bundle: dict[str, Any]) -> httpx.Response:
        case_id = _case_id(bundle)
        if case_id in self.reject:
            index = self.reject[case_id]
            body = outcome(
                "Observation.value[x]: value must be a Quantity with a UCUM unit",
                code="invalid",
                expression=[f"Bundle.entry[{index}].resource.value.ofType(Quantity)"],
            )
            return _json(422, body)
        entries = []
        ids = {}  # fullUrl -> Type/id, as the server resolves references
        for entry in bundle["entry"]:
            url = entry["request"]["url"]
            if "resource" in entry and "fullUrl" in entry:
                rid = self.store[url][0] if url in self.store else self.next_id + len(ids)
                ids[entry["fullUrl"]] = f"{entry['resource']['resourceType']}/{rid}"
        for entry in bundle["entry"]:
            url = entry["request"]["url"]
            if entry["request"]["method"] == "DELETE":
                gone = [k for k, v in self.store.items() if f"/{v[0]}" == "/" + url.split("/")[1]]
                for key in gone:
                    del self.store[key]
                code = "SUCCESSFUL_DELETE" if gone else "SUCCESSFUL_DELETE_NOT_FOUND"
                response = {"status": "204 No Content", "outcome": hapi_outcome(code, code)}
                entries.append({"response": response})
                continue
            rtype = entry["resource"]["resourceType"]
            content = json.dumps(entry["resource"], sort_keys=True)
            for full_url, ref in ids.items():
                content = content.replace(f'"{full_url}"', f'"{ref}"')
            if url not in self.store:
                rid = int(ids[entry["fullUrl"]].split("/")[1])
                self.next_id = max(self.next_id, rid + 1)
                self.store[url] = (rid, 1, content)
                version, status = 1, "201 Created"
                code = "SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH"
            else:
                rid, version, old = self.store[url]
                status = "200 OK"
                if old == content:
                    code = "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE"
                else:
                    version += 1
                    self.store[url] = (rid, version, content)
                    code = "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH"
            response = {
                "status": status,
                "location": f"{rtype}/{rid}/_history/{version}",
                "etag": str(version),
                "outcome": hapi_outcome(code, f"{code} for {url}"),
            }
            entries.append({"response": response})
        return _json(
            200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        )


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
def server(runner, delays) -> FakeFhir:
    fake = FakeFhir()

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    runner.use(
        async_fhir_client=partial(
            AsyncFhirClient,
            transport=httpx.MockTransport(fake),
            sleep=sleep,
            retry=RetryPolicy(jitter=lambda: 1.0),
        )
    )
    return fake


@pytest.fixture
def unreachable(runner, delays) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    runner.use(
        async_fhir_client=partial(
            AsyncFhirClient, transport=httpx.MockTransport(refuse), sleep=sleep
        )
    )
    return seen


def push(runner, *args: str, **kwargs: Any):
    return runner.invoke(app, ["push", *args], **kwargs)


def seed_lines(seed_file: Path) -> list[int]:
    """The line of each case in the seed YAML (a list: the lines that start with '- ')."""
    lines = seed_file.read_text().splitlines()
    return [n for n, line in enumerate(lines, start=1) if line.startswith("- ")]


def report_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def blood_loss_index(case_record: dict[str, Any]) -> int:
    from fhir_ivc.model import Case

    bundle = build_bundles(Case.model_validate(case_record)).transaction
    return next(
        i
        for i, e in enumerate(bundle["entry"])
        if e["request"]["url"].endswith("/surgery.blood-loss")
    )


# --- pushing ----------------------------------------------------------------------------------


def test_push_seed_cases_then_again(runner, server, seed_file):
    first = push(runner, str(seed_file), "--server", BASE)

    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    lines = first.stderr.splitlines()
    assert lines[0] == (
        f"fhir-ivc: pushing to {BASE} (FHIR 4.0.1, HAPI FHIR Server 8.8.0), 4 at a time"
    )
    header = ["case", "created", "updated", "unchanged", "deleted", "failed", "result"]
    assert lines[1].split() == header
    # each case's entries and its manifest List (--corrections delete, the default)
    assert lines[2].split() == ["case-1", "31", "0", "0", "0", "0", "ok"]
    assert lines[3].split() == ["case-2", "44", "0", "0", "0", "0", "ok"]
    assert last_line(first.stderr).startswith(f"pushed to {BASE} in ")
    assert last_line(first.stderr).endswith(
        "s: 2 ok, 0 failed, 0 rejected; entries: 75 created, 0 updated, 0 unchanged, 0 deleted, "
        "0 failed"
    )
    # metadata, then per case the manifest search and the transaction
    paths = sorted((r.method, r.url.path) for r in server.requests)
    assert (
        paths == [("GET", "/fhir/List")] * 2 + [("GET", "/fhir/metadata")] + [("POST", "/fhir")] * 2
    )
    post = server.posts[0]
    assert post.headers["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    assert "Authorization" not in post.headers

    again = push(runner, str(seed_file), "--server", BASE)
    assert again.exit_code == 0, again.output
    assert "entries: 0 created, 0 updated, 75 unchanged, 0 deleted, 0 failed" in last_line(
        again.stderr
    )


def test_edited_case_reports_the_update(runner, server, seed_records, tmp_path):
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump(seed_records))
    assert push(runner, str(cases), "--server", BASE, "-q").exit_code == 0
    seed_records[0]["surgery"]["blood_loss_ml"] = 450
    cases.write_text(yaml.safe_dump(seed_records))

    result = push(runner, str(cases), "--server", BASE)

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stderr.splitlines()[2:4]]
    assert rows == [
        ["case-1", "0", "1", "30", "0", "0", "ok"],
        ["case-2", "0", "0", "44", "0", "0", "ok"],
    ]


def test_report_file(runner, server, seed_file, tmp_path):
    report = tmp_path / "r.json"

    result = push(runner, str(seed_file), "--server", BASE, "--report", str(report), "-j", "1")

    assert result.exit_code == 0, result.output
    assert last_line(result.stderr).endswith(f"; report in {report}")
    data = report_of(report)
    assert list(data) == [
        "report_version",
        "tool",
        "server",
        "dry_run",
        "prebuilt",
        "concurrency",
        "ids",
        "corrections",
        "started",
        "fhir_version",
        "software",
        "cases",
        "summary",
    ]
    assert data["report_version"] == 1
    assert data["server"] == BASE
    assert (data["dry_run"], data["prebuilt"], data["concurrency"]) == (False, False, 1)
    assert (data["fhir_version"], data["software"]) == ("4.0.1", "HAPI FHIR Server 8.8.0")
    case_1, case_2 = data["cases"]  # one at a time: completion order is input order
    assert list(case_1) == [
        "index",
        "case_id",
        "source",
        "status",
        "counts",
        "error",
        "status_code",
        "entries",
    ]
    assert (case_1["index"], case_1["case_id"], case_1["status"]) == (0, "case-1", "ok")
    assert case_1["source"] == f"{seed_file}:{seed_lines(seed_file)[0]}"
    assert case_1["counts"] == {
        "created": 31,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "failed": 0,
    }
    assert (case_1["error"], case_1["status_code"]) == (None, None)
    entry = case_1["entries"][0]
    assert list(entry) == [
        "full_url",
        "resource_type",
        "source",
        "outcome",
        "status",
        "location",
        "version_id",
        "message",
    ]
    assert entry["full_url"].startswith("urn:uuid:")
    assert (entry["resource_type"], entry["source"], entry["outcome"]) == (
        "Patient",
        "patient",
        "created",
    )
    assert (entry["status"], entry["location"], entry["version_id"]) == (
        201,
        "Patient/1/_history/1",
        "1",
    )
    assert len(case_2["entries"]) == 44
    assert case_2["entries"][-1]["resource_type"] == "List"  # the manifest
    assert case_2["entries"][-1]["source"] == "manifest"
    summary = data["summary"]
    assert summary["finished"] >= data["started"]
    del summary["finished"]
    assert summary == {
        "cases": 2,
        "ok": 2,
        "failed": 0,
        "rejected": 0,
        "skipped": 0,
        "entries": {"created": 75, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0},
        "requests": 5,  # GET /metadata, and per case the manifest search and the transaction
        "exit_code": 0,
    }
    # the rejects file goes next to the report, empty when nothing was rejected
    assert (tmp_path / "r.rejects.ndjson").read_text() == ""


def test_failing_case_exits_1_and_the_other_case_is_pushed(
    runner, server, seed_file, seed_records, tmp_path
):
    index = blood_loss_index(seed_records[1])
    server.reject["case-2"] = index
    report = tmp_path / "r.json"

    result = push(runner, str(seed_file), "--server", BASE, "--report", str(report))

    assert result.exit_code == 1, result.output
    rows = [line.split() for line in result.stderr.splitlines()[2:4]]
    assert rows[0] == ["case-1", "31", "0", "0", "0", "0", "ok"]
    assert rows[1] == ["case-2", "0", "0", "0", "0", "44", "failed", "(HTTP", "422)"]
    fail = next(line for line in result.stderr.splitlines() if line.startswith("FAIL "))
    assert fail == (
        "FAIL case 'case-2': transaction rejected with HTTP 422 (validation failed): "
        "surgery.blood_loss_ml (Observation.valueQuantity): Observation.value[x]: value must be "
        f"a Quantity with a UCUM unit ({seed_file}:{seed_lines(seed_file)[1]})"
    )
    assert "1 ok, 1 failed, 0 rejected" in last_line(result.stderr)
    data = report_of(report)
    by_case = {c["case_id"]: c for c in data["cases"]}
    assert by_case["case-1"]["status"] == "ok"
    failed = by_case["case-2"]
    assert (failed["status"], failed["status_code"]) == ("failed", 422)
    assert failed["error"].startswith("case 'case-2': transaction rejected with HTTP 422")
    blamed = failed["entries"][index]
    assert (blamed["outcome"], blamed["source"], blamed["status"]) == (
        "failed",
        "surgery.blood_loss_ml",
        422,
    )
    assert blamed["message"].startswith("Observation.valueQuantity: ")
    other = failed["entries"][0]
    assert other["message"] == "not written: the transaction was rolled back (HTTP 422)"
    assert data["summary"]["exit_code"] == 1
    assert len(server.posts) == 2


def test_retry_after_503_is_logged_and_the_case_succeeds(runner, server, seed_file, delays):
    server.answers.append(
        _json(503, outcome("busy", code="transient"), headers={"Retry-After": "7"})
    )

    result = push(runner, str(seed_file), "--server", BASE, "-j", "1")

    assert result.exit_code == 0, result.output
    assert delays == [7.0]
    assert f"fhir-ivc: warning: POST {BASE}: HTTP 503, retrying in 7.00s (attempt 2 of 4)" in (
        result.stderr
    )
    assert len(server.posts) == 3
    # the handler is gone after the run
    for name in ("fhir_ivc.client", "fhir_ivc.exchange"):
        handlers = logging.getLogger(name).handlers
        assert not [h for h in handlers if isinstance(h, _push._LogHandler)]


def test_verbose_logs_one_line_per_case(runner, server, seed_file):
    result = push(runner, str(seed_file), "--server", BASE, "-v", "-j", "1")
    assert result.exit_code == 0, result.output
    assert "fhir-ivc: info: case case-1 pushed: 31 created, 0 updated, 0 unchanged" in result.stderr
    assert logging.getLogger("fhir_ivc.client").level == logging.NOTSET
    assert logging.getLogger("fhir_ivc.exchange").level == logging.NOTSET


def test_rejected_records_are_listed_and_the_rest_is_pushed(
    runner, server, seed_records, write_ndjson, tmp_path
):
    broken = dict(seed_records[1], case_id="case-bad")
    broken["surgery"] = dict(broken["surgery"], blood_loss_ml=-5)
    path = write_ndjson([seed_records[0], broken, "{not json", seed_records[0]])
    report = tmp_path / "out.json"

    result = push(runner, str(path), "--server", BASE, "--report", str(report))

    assert result.exit_code == 1, result.output
    rejects = [line for line in result.stderr.splitlines() if line.startswith("REJECT")]
    assert rejects == [
        f"REJECT case-bad surgery.blood_loss_ml: Input should be greater than or equal to 0 "
        f"({path}:2)",
        "REJECT <no case_id>: broken JSON: Expecting property name enclosed in double quotes "
        f"({path}:3:2)",
        f"REJECT case-1 case_id: duplicate case_id: an earlier record has the same id ({path}:4)",
    ]
    assert "1 ok, 0 failed, 3 rejected" in last_line(result.stderr)
    assert last_line(result.stderr).endswith(
        f"; report in {report}; rejects in {tmp_path / 'out.rejects.ndjson'}"
    )
    lines = (tmp_path / "out.rejects.ndjson").read_text().splitlines()
    assert [json.loads(line)["case_id"] for line in lines] == ["case-bad", None, "case-1"]
    statuses = {(c["index"], c["status"]) for c in report_of(report)["cases"]}
    assert statuses == {(0, "ok"), (1, "rejected"), (2, "rejected"), (3, "rejected")}
    rejected = next(c for c in report_of(report)["cases"] if c["index"] == 1)
    assert rejected["problems"] == [
        {"path": "surgery.blood_loss_ml", "reason": "Input should be greater than or equal to 0"}
    ]
    assert len(server.posts) == 1


def test_invalid_bundle_is_rejected_before_sending(
    runner, server, fake_builder, write_ndjson, seed_records
):
    path = write_ndjson([dict(seed_records[0], case_id="invalid-1")])

    result = push(runner, str(path), "--server", BASE, "-q")

    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("REJECT invalid-1 patient: transaction bundle is invalid: ")
    assert "favouriteColour" in line
    assert server.posts == []
    # --no-validate sends it anyway (the fake server accepts it)
    assert push(runner, str(path), "--server", BASE, "-q", "--no-validate").exit_code == 0
    assert len(server.posts) == 1


def test_quiet_prints_only_problems(runner, server, seed_file, seed_records):
    server.reject["case-2"] = blood_loss_index(seed_records[1])
    result = push(runner, str(seed_file), "--server", BASE, "--quiet")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("FAIL case 'case-2': transaction rejected with HTTP 422")


# --- could not run: exit 2 --------------------------------------------------------------------


def test_unreachable_server_exits_2(runner, unreachable, delays, seed_file, tmp_path):
    report = tmp_path / "r.json"
    result = push(runner, str(seed_file), "--server", BASE, "--report", str(report))

    assert result.exit_code == 2, result.output
    assert last_line(result.stderr) == (
        f"fhir-ivc: error: cannot use the FHIR server at {BASE}: GET {BASE}/metadata: "
        "connection failed after 4 attempts ([Errno 111] Connection refused)"
    )
    assert len(unreachable) == 4  # connect errors are retried: nothing left the machine
    assert len(delays) == 3
    assert not report.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", ["5.0.0", "4.3.0", "3.0.2"])
def test_server_that_is_not_fhir_r4_exits_2(runner, server, seed_file, version):
    server.metadata = capability(version)
    result = push(runner, str(seed_file), "--server", BASE)
    assert result.exit_code == 2, result.output
    assert last_line(result.stderr) == (
        f"fhir-ivc: error: cannot use the FHIR server at {BASE}: the server speaks FHIR "
        f"'{version}'; fhir_ivc needs FHIR R4 (4.0.x)"
    )
    assert server.posts == []


def test_server_without_transactions_exits_2(runner, server, seed_file):
    server.metadata["rest"][0]["interaction"] = [{"code": "batch"}]
    result = push(runner, str(seed_file), "--server", BASE)
    assert result.exit_code == 2, result.output
    assert "does not declare the 'transaction' interaction" in last_line(result.stderr)
    assert server.posts == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the FHIR server's base URL is required"),
        (["--server", BASE, "--concurrency", "0"], "should be greater than or equal to 1"),
        (["--server", "ftp://fhir.test/fhir"], "must be an absolute http(s) URL"),
        (
            ["--server", BASE, "--auth-token-env", "X", "--basic-auth-file", "f"],
            "give at most one of them (got --auth-token-env and --basic-auth-file)",
        ),
        (["--server", BASE, "--report", "r.json", "--rejects", "r.json"], "must differ"),
    ],
)
def test_bad_options_exit_2(runner, server, seed_file, args, message):
    result = push(runner, str(seed_file), *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert server.requests == []


def test_missing_input_exits_2(runner, server, tmp_path):
    result = push(runner, str(tmp_path / "nope.yaml"), "--server", BASE)
    assert result.exit_code == 2
    assert server.requests == []


def test_unwritable_report_exits_2_before_any_case_is_sent(runner, server, seed_file, tmp_path):
    result = push(
        runner, str(seed_file), "--server", BASE, "--report", str(tmp_path / "no" / "r.json")
    )
    assert result.exit_code == 2, result.output
    assert "No such file or directory" in last_line(result.stderr)
    assert server.posts == []


def test_interrupted_run_leaves_no_report(runner, server, seed_file, tmp_path, monkeypatch):
    real = build_bundles
    calls = []

    def build(case):
        calls.append(case.case_id)
        if len(calls) == 2:
            raise RuntimeError("builder crashed")
        return real(case)

    runner.use(build_bundles=build)
    report = tmp_path / "r.json"
    result = push(runner, str(seed_file), "--server", BASE, "--report", str(report))
    assert isinstance(result.exception, RuntimeError)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no report, no temporary files


# --- secrets ----------------------------------------------------------------------------------


def _refuse_credentials(server: FakeFhir) -> None:
    server.answers.extend(
        [_json(401, outcome("HTTP 401 Unauthorized: bad token", code="login"))] * 2
    )


@pytest.mark.parametrize("kind", ["env", "token-file", "basic-file"])
def test_secrets_are_sent_but_never_shown(runner, server, seed_file, tmp_path, monkeypatch, kind):
    if kind == "env":
        monkeypatch.setenv("MY_FHIR_TOKEN", SECRET)
        args, source = ["--auth-token-env", "MY_FHIR_TOKEN"], "env:MY_FHIR_TOKEN"
    elif kind == "token-file":
        (tmp_path / "token").write_text(SECRET + "\n")
        args, source = ["--auth-token-file", str(tmp_path / "token")], f"file:{tmp_path / 'token'}"
    else:
        (tmp_path / "basic").write_text(f"pusher:{SECRET}\n")
        args, source = ["--basic-auth-file", str(tmp_path / "basic")], f"file:{tmp_path / 'basic'}"
    _refuse_credentials(server)  # the first case: refused (twice, if the file is re-read)
    report = tmp_path / "r.json"

    result = push(
        runner, str(seed_file), "--server", BASE, *args, "-v", "-j", "1", "--report", str(report)
    )

    assert result.exit_code == 1, result.output
    assert f"fhir-ivc: credentials from {source}" in result.stderr
    assert "AuthFailedError" in result.stderr  # the refused case, by exception type
    sent = server.requests[0].headers["Authorization"]
    assert SECRET in sent or SECRET in __import__("base64").b64decode(sent.split()[1]).decode()
    for text in (result.stdout, result.stderr, report.read_text()):
        assert SECRET not in text
        assert sent.split()[1] not in text  # nor its base64 form


def test_a_missing_token_variable_names_the_variable(runner, server, seed_file, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    result = push(runner, str(seed_file), "--server", BASE, "--auth-token-env", "NO_SUCH_TOKEN")
    assert result.exit_code == 2
    assert last_line(result.stderr) == (
        "fhir-ivc: error: environment variable NO_SUCH_TOKEN is not set or empty"
    )
    assert server.requests == []


def test_server_url_user_info_is_never_shown(runner, server, seed_file, tmp_path):
    report = tmp_path / "r.json"
    url = f"http://pusher:{SECRET}@fhir.test/fhir"
    result = push(runner, str(seed_file), "--server", url, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stderr
    assert SECRET not in report.read_text()
    assert report_of(report)["server"] == BASE


def test_insecure_prints_a_warning(runner, server, seed_file):
    result = push(runner, str(seed_file), "--server", "https://fhir.test/fhir", "--insecure")
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("fhir-ivc: warning: --insecure: TLS certificates are NOT verified")
    # the client's own warning, through the log handler
    assert "fhir-ivc: warning: TLS certificate verification is OFF for https://fhir.test/fhir" in (
        result.stderr
    )
    assert (
        "warning" not in push(runner, str(seed_file), "--server", "https://fhir.test/fhir").stderr
    )


# --- dry run ----------------------------------------------------------------------------------


def test_dry_run_lists_what_would_be_sent_without_network(runner, unreachable, seed_file, tmp_path):
    report = tmp_path / "plan.json"
    result = push(runner, str(seed_file), "--dry-run", "--report", str(report))

    assert result.exit_code == 0, result.output
    assert unreachable == []
    assert result.stdout.splitlines() == [
        "case-1: 30 entries: Observation 13, Procedure 9, Condition 3, BodyStructure 1, "
        "DiagnosticReport 1, MedicationAdministration 1, Patient 1, Specimen 1 "
        f"({seed_file}:{seed_lines(seed_file)[0]})",
        "case-2: 43 entries: Observation 17, Procedure 14, Condition 6, BodyStructure 2, "
        "DiagnosticReport 1, MedicationAdministration 1, Patient 1, Specimen 1 "
        f"({seed_file}:{seed_lines(seed_file)[1]})",
    ]
    assert last_line(result.stderr) == (
        f"dry run: 2 cases would be pushed (73 entries), rejected 0; nothing was sent; "
        f"report in {report}"
    )
    data = report_of(report)
    assert (data["dry_run"], data["server"]) == (True, None)
    case_1 = data["cases"][0]
    assert case_1["status"] == "planned"
    assert case_1["resource_counts"]["Observation"] == 13
    assert case_1["entries"][0] == {
        "full_url": case_1["entries"][0]["full_url"],
        "resource_type": "Patient",
        "source": "patient",
        "method": "PUT",
        "url": "Patient?identifier=https://fhir-ivc.example.org/fhir/sid/seed-report|case-1",
    }
    assert data["summary"]["exit_code"] == 0


def test_dry_run_verbose_lists_conditional_urls(runner, unreachable, seed_file):
    result = push(runner, str(seed_file), "--dry-run", "-v", "--server", BASE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + 73
    assert lines[1] == (
        "    PUT Patient?identifier=https://fhir-ivc.example.org/fhir/sid/seed-report|case-1"
        "  <- patient"
    )
    assert all(line.startswith("    PUT ") for line in lines[1:31])
    assert unreachable == []


def test_dry_run_reports_rejects_with_exit_1(runner, unreachable, seed_records, write_ndjson):
    path = write_ndjson([seed_records[0], {"case_id": "x"}])
    result = push(runner, str(path), "--dry-run")
    assert result.exit_code == 1
    assert result.stdout.startswith("case-1: 30 entries")
    assert "REJECT x " in result.stderr
    assert unreachable == []


# --- prebuilt bundles -------------------------------------------------------------------------


def test_prebuilt_ndjson_from_map(runner, server, seed_file, seed_records, tmp_path):
    bundles = tmp_path / "bundles.ndjson"
    assert (
        runner.invoke(app, ["map", str(seed_file), "--ndjson", str(bundles), "-q"]).exit_code == 0
    )
    server.reject["case-2"] = blood_loss_index(seed_records[1])
    report = tmp_path / "r.json"

    result = push(runner, str(bundles), "--prebuilt", "--server", BASE, "--report", str(report))

    assert result.exit_code == 1, result.output
    assert "1 ok, 1 failed, 0 rejected, skipped 2 collection bundles" in last_line(result.stderr)
    data = report_of(report)
    assert data["prebuilt"] is True
    by_case = {c["case_id"]: c for c in data["cases"]}
    assert by_case["case-1"]["source"] == f"{bundles}:1"
    assert by_case["case-1"]["counts"]["created"] == 31  # and the manifest
    # the case element is read back from the case-element extension of each resource
    assert "surgery.blood_loss_ml (Observation.valueQuantity)" in by_case["case-2"]["error"]
    assert data["summary"]["skipped"] == 2


def test_prebuilt_json_files_and_folder_output_of_map(runner, server, seed_file, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(app, ["map", str(seed_file), "--out", str(out), "-q"]).exit_code == 0
    files = sorted(str(p) for p in out.glob("*.transaction.json"))
    array = tmp_path / "both.json"
    array.write_text(json.dumps([json.loads(Path(f).read_text()) for f in files]))

    result = push(runner, *files, "--prebuilt", "--server", BASE)
    assert result.exit_code == 0, result.output
    assert "entries: 75 created" in last_line(result.stderr)

    again = push(runner, str(array), "--prebuilt", "--server", BASE, "--dry-run")
    assert again.exit_code == 0, again.output
    assert [line.split(":")[0] for line in again.stdout.splitlines()] == ["case-1", "case-2"]
    assert f"({array}[1])" in again.stdout


def test_prebuilt_rejects_what_is_not_a_transaction(runner, server, tmp_path):
    path = tmp_path / "mixed.ndjson"
    path.write_text(
        "\n".join(
            [
                json.dumps({"resourceType": "Bundle", "type": "searchset"}),
                json.dumps({"resourceType": "Patient"}),
                "[1, 2",
                json.dumps([1]),
            ]
        )
        + "\n"
    )
    result = push(runner, str(path), "--prebuilt", "--server", BASE, "-q")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"REJECT <no case_id>: expected a transaction Bundle, got a searchset Bundle ({path}:1)",
        f"REJECT <no case_id>: expected a transaction Bundle, got not a Bundle ({path}:2)",
        f"REJECT <no case_id>: broken JSON: Expecting ',' delimiter ({path}:3:1)",
        f"REJECT <no case_id>: expected a transaction Bundle, got not a Bundle ({path}:4)",
    ]
    assert server.posts == []


def test_prebuilt_from_stdin(runner, server, seed_file, tmp_path):
    bundles = tmp_path / "b.ndjson"
    runner.invoke(app, ["map", str(seed_file), "--ndjson", str(bundles), "--kind", "transaction"])
    result = push(runner, "-", "--prebuilt", "--server", BASE, input=bundles.read_bytes())
    assert result.exit_code == 0, result.output
    assert "2 ok" in last_line(result.stderr)


# --- streaming and bounded concurrency --------------------------------------------------------


def test_concurrency_is_bounded_and_input_is_read_as_it_is_pushed(
    runner, server, write_ndjson, monkeypatch
):
    records = [
        synthetic_case(i, seed=3).model_dump(mode="json", exclude_none=True) for i in range(24)
    ]
    path = write_ndjson(records)
    real = build_bundles
    built: list[str] = []
    built_at_post: list[int] = []

    def build(case):
        built.append(case.case_id)
        return real(case)

    runner.use(build_bundles=build)
    server.on_post = lambda: built_at_post.append(len(built))

    result = push(runner, str(path), "--server", BASE, "--concurrency", "3", "-q")

    assert result.exit_code == 0, result.output
    assert len(server.posts) == 24
    assert server.max_in_flight == 3
    # never more than the workers' cases plus the channel's slots plus the one being mapped
    # ahead of the n-th POST: the input is streamed, not read whole
    assert all(b <= n + 3 + 3 + 1 for n, b in enumerate(built_at_post, start=1)), built_at_post


def test_large_runs_list_only_the_cases_that_were_not_ok(runner, server, write_ndjson, tmp_path):
    records = [
        synthetic_case(i, seed=5).model_dump(mode="json", exclude_none=True) for i in range(60)
    ]
    path = write_ndjson(records)
    server.reject["synth-000042"] = 0
    server.reject["synth-000007"] = 0
    report = tmp_path / "r.json"

    result = push(runner, str(path), "--server", BASE, "-j", "8", "--report", str(report))

    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[1].split()[0] == "case"
    assert [line.split()[0] for line in lines[2:4]] == ["synth-000007", "synth-000042"]
    assert lines[4] == f"(58 more cases that were ok are not listed; every case is in {report})"
    assert [line.split()[2] for line in lines[5:7]] == ["'synth-000007':", "'synth-000042':"]
    assert "58 ok, 2 failed, 0 rejected" in lines[7]
    assert len(report_of(report)["cases"]) == 60


# --- corrections ------------------------------------------------------------------------------


def test_a_withdrawn_item_is_deleted_in_the_same_transaction(
    runner, server, seed_records, tmp_path
):
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump(seed_records))
    assert push(runner, str(cases), "--server", BASE, "-q").exit_code == 0
    seed_records[1]["metastases"] = [
        m for m in seed_records[1]["metastases"] if m["site"] != "liver"
    ]
    cases.write_text(yaml.safe_dump(seed_records))
    before = len(server.posts)

    result = push(runner, str(cases), "--server", BASE, "--report", str(tmp_path / "r.json"))

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stderr.splitlines()[2:4]}
    assert rows["case-1"] == ["case-1", "0", "0", "31", "0", "0", "ok"]
    # the resources that referred to the metastasis and the manifest change, the Condition goes
    assert rows["case-2"][4:] == ["1", "0", "ok"]
    sent = [json.loads(post.content) for post in server.posts[before:]]
    deletes = [e["request"] for b in sent for e in b["entry"] if e["request"]["method"] == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0]["url"].startswith("Condition/")
    (entry,) = [
        e
        for c in report_of(tmp_path / "r.json")["cases"]
        for e in c["entries"]
        if e["outcome"] == "deleted"
    ]
    assert (entry["resource_type"], entry["source"]) == ("Condition", "metastasis.liver (removed)")


def test_corrections_off_sends_no_manifest_and_no_search(runner, server, seed_file):
    result = push(runner, str(seed_file), "--server", BASE, "--corrections", "off")
    assert result.exit_code == 0, result.output
    assert "entries: 73 created" in last_line(result.stderr)
    assert [r.method for r in server.requests] == ["GET", "POST", "POST"]


# --- state, dead letters, replay --------------------------------------------------------------


def test_state_skips_confirmed_unchanged_cases_without_a_request(
    runner, server, seed_records, tmp_path
):
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump(seed_records))
    state = tmp_path / "state.sqlite"
    report = tmp_path / "r.json"
    args = ["--server", BASE, "--state", str(state), "--report", str(report)]
    assert push(runner, str(cases), *args).exit_code == 0
    assert report_of(report)["summary"]["requests"] == 5  # metadata, 2 x (manifest, transaction)
    sent = len(server.requests)

    again = push(runner, str(cases), *args)

    assert again.exit_code == 0, again.output
    assert len(server.requests) == sent + 1  # GET /metadata only
    assert "2 already confirmed (--state, not sent)" in last_line(again.stderr)
    data = report_of(report)
    assert [c["status"] for c in data["cases"]] == ["confirmed", "confirmed"]
    assert (data["summary"]["confirmed"], data["summary"]["requests"]) == (2, 1)

    # an edited case is pushed again, the other one is not
    records = copy.deepcopy(seed_records)
    records[0]["surgery"]["blood_loss_ml"] += 1
    cases.write_text(yaml.safe_dump(records))
    edited = push(runner, str(cases), *args)
    assert edited.exit_code == 0, edited.output
    statuses = {c["case_id"]: c["status"] for c in report_of(report)["cases"]}
    assert statuses == {"case-1": "ok", "case-2": "confirmed"}
    # another server: nothing is confirmed there
    with PushState(state, BASE) as here, PushState(state, BASE + "2") as there:
        assert (here.count(), there.count()) == (2, 0)


def test_a_failed_case_becomes_a_dead_letter_and_replay_sends_it_again(
    runner, server, seed_file, seed_records, tmp_path
):
    server.reject["case-2"] = blood_loss_index(seed_records[1])
    letters = tmp_path / "dead.ndjson"

    first = push(runner, str(seed_file), "--server", BASE, "--dead-letters", str(letters))

    assert first.exit_code == 1, first.output
    assert f"1 dead letters in {letters}" in first.stderr
    (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
    assert letter["case_id"] == "case-2"
    assert letter["element"] == "surgery.blood_loss_ml"
    assert (letter["status_code"], letter["attempts"]) == (422, 1)
    assert letter["record"]["case_id"] == "case-2"
    assert letter["source"] == f"{seed_file}:{seed_lines(seed_file)[1]}"
    assert "HTTP 422" in letter["error"]

    still = push(runner, "--replay", str(letters), "--server", BASE)
    assert still.exit_code == 1, still.output
    (again,) = [json.loads(line) for line in letters.read_text().splitlines()]
    assert again["attempts"] == 2

    del server.reject["case-2"]
    fixed = push(runner, "--replay", str(letters), "--server", BASE)
    assert fixed.exit_code == 0, fixed.output
    assert letters.read_text() == ""
    assert "1 ok, 0 failed" in last_line(fixed.stderr) or "1 ok, 0 failed" in fixed.stderr


def test_replay_of_prebuilt_bundles_and_unreadable_lines_kept(runner, server, seed_file, tmp_path):
    bundles = tmp_path / "bundles.ndjson"
    assert (
        runner.invoke(app, ["map", str(seed_file), "--ndjson", str(bundles), "-q"]).exit_code == 0
    )
    server.answers = [_json(409, outcome("conflict"))] * 2  # the first two transactions
    letters = tmp_path / "dead.ndjson"
    first = push(
        runner, str(bundles), "--prebuilt", "--server", BASE, "--dead-letters", str(letters)
    )
    assert first.exit_code == 1, first.output
    written = [json.loads(line) for line in letters.read_text().splitlines()]
    assert {w["case_id"] for w in written} == {"case-1", "case-2"}
    assert all("bundle" in w and "record" not in w for w in written)
    with letters.open("a") as file:
        file.write("not json\n")

    replayed = push(runner, "--replay", str(letters), "--server", BASE)

    assert replayed.exit_code == 1, replayed.output  # the unreadable line is a reject
    assert letters.read_text() == "not json\n"


def test_feed_options_that_cannot_be_meant(runner, server, seed_file, tmp_path):
    letters = tmp_path / "d.ndjson"
    letters.write_text("")
    both = push(runner, str(seed_file), "--replay", str(letters), "--server", BASE)
    assert both.exit_code == 2
    assert "not both" in both.stderr
    assert push(runner, "--server", BASE).exit_code == 2
    dry = push(runner, str(seed_file), "--dry-run", "--state", str(tmp_path / "s"))
    assert dry.exit_code == 2


def test_max_entries_sends_a_case_in_parts(runner, server, seed_file, tmp_path):
    report = tmp_path / "r.json"
    result = push(
        runner, str(seed_file), "--server", BASE, "--max-entries", "10", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert all(len(json.loads(p.content)["entry"]) <= 10 for p in server.posts)
    assert len(server.posts) == 4 + 5  # 31 and 44 entries (each with its manifest)
    data = report_of(report)
    assert [len(c["entries"]) for c in data["cases"]] in ([31, 44], [44, 31])
    assert data["summary"]["requests"] == 1 + 2 + 9
    again = push(runner, str(seed_file), "--server", BASE)  # not split: the same content
    assert "entries: 0 created, 0 updated, 75 unchanged" in last_line(again.stderr)


def test_a_413_advises_max_entries(runner, server, seed_file):
    server.answers = [_json(413, outcome("Request Entity Too Large"))] * 2
    result = push(runner, str(seed_file), "--server", BASE)
    assert result.exit_code == 1
    assert "HTTP 413 (payload too large" in result.stderr
    assert "--max-entries N" in result.stderr
