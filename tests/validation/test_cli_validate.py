"""``fhir-ivc validate``: text and json output, NDJSON and stdin, exit codes, ``--server``.

``--server`` runs against a respx mock: only the CLI plumbing (request, OperationOutcome read
back, exit codes) is tested here; the real server's ``$validate`` is exercised elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from fhir_ivc.cli._app import app

from ._suite import BROKEN, VALID, load

MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
SEED = Path(__file__).resolve().parents[1] / "data" / "seed" / "case-1" / "expected"
BASE = "http://fhir.test/fhir"

UNIT = BROKEN / "tumor-size-unit-outside-binding.json"
UNIT_LINE = (
    f"{UNIT}: error: Observation.component[0].valueQuantity.code: the code is not in value set "
    "http://hl7.org/fhir/us/mcode/ValueSet/mcode-tumor-size-units-vs (required) "
    f"(from {MCODE}mcode-tumor-size)"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner, *args, **kwargs):
    return runner.invoke(app, ["validate", *map(str, args)], **kwargs)


def test_text_output_and_exit_1_on_errors(runner) -> None:
    result = run(runner, UNIT)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [UNIT_LINE]
    assert result.stderr.strip() == (
        "validated 1 resource(s) in 1 file(s) offline: 1 error(s), 0 warning(s), 0 information"
    )


def test_exit_0_when_only_warnings(runner) -> None:
    bundle = SEED / "collection.json"
    result = run(runner, bundle, VALID / "tumor-size.json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines
    assert all(line.startswith(f"{bundle}: entry ") and ": warning: " in line for line in lines)
    assert "0 error(s)" in result.stderr
    quiet = run(runner, bundle, "--severity", "error")
    assert (quiet.exit_code, quiet.stdout) == (0, "")


def test_information_on_request(runner) -> None:
    result = run(runner, VALID / "tumor-size.json", "--severity", "information")
    assert result.exit_code == 0
    assert ": information: Observation.code.coding[0]: codes of LOINC" in result.stdout


def test_json_output_is_one_operation_outcome_per_file(runner) -> None:
    result = run(runner, UNIT, VALID / "tumor-size.json", "--format", "json", "--severity", "error")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["resourceType"] == "Bundle"
    assert [e["fullUrl"] for e in report["entry"]] == [
        UNIT.resolve().as_uri(),
        (VALID / "tumor-size.json").resolve().as_uri(),
    ]
    broken, valid = (e["resource"] for e in report["entry"])
    assert broken["resourceType"] == valid["resourceType"] == "OperationOutcome"
    assert [(i["severity"], i["expression"]) for i in broken["issue"]] == [
        ("error", ["Observation.component[0].valueQuantity.code"])
    ]
    assert valid["issue"] == [
        {
            "severity": "information",
            "code": "informational",
            "diagnostics": "No issues detected during validation",
        }
    ]


def test_ndjson_lines_and_stdin(runner, tmp_path) -> None:
    lines = [
        json.dumps(load(VALID / "tumor-size.json")),
        "",
        json.dumps(load(UNIT)),
        "{not json",
        json.dumps({"hello": "world"}),
    ]
    source = tmp_path / "resources.ndjson"
    source.write_text("\n".join(lines) + "\n")
    result = run(runner, source, "--severity", "error")
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[0].startswith(f"{source}:3: error: Observation.component[0].valueQuantity.code: ")
    assert out[1].startswith(f"{source}:4: error: cannot be read: broken JSON: ")
    assert out[2] == f"{source}:5: error: not a FHIR resource (no resourceType)"
    assert "validated 4 resource(s) in 1 file(s)" in result.stderr

    as_json = run(runner, source, "--format", "json", "--severity", "error")
    issues = json.loads(as_json.stdout)["entry"][0]["resource"]["issue"]
    assert [i["extension"][0]["valueInteger"] for i in issues] == [3, 4, 5]

    piped = run(runner, "-", input="\n".join(lines))  # sniffed: not one JSON document
    assert piped.exit_code == 1
    assert piped.stdout.splitlines()[0].startswith("<stdin>:3: error: ")
    single = run(runner, "-", input=UNIT.read_text())
    assert single.stdout.splitlines()[0].startswith("<stdin>: error: Observation.component[0]")


def test_a_json_file_that_is_not_json(runner, tmp_path) -> None:
    source = tmp_path / "broken.json"
    source.write_text('{"resourceType": "Observation",\n')
    result = run(runner, source)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{source}: error: cannot be read: broken JSON: ")


def test_exit_2_when_a_file_is_missing(runner, tmp_path) -> None:
    result = run(runner, UNIT, tmp_path / "nope.json")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert result.stdout == ""


def test_exit_2_on_a_bad_option(runner) -> None:
    assert run(runner, UNIT, "--format", "xml").exit_code == 2


# --- --server -----------------------------------------------------------------------------------


def outcome(*issues):
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


ERROR = {
    "severity": "error",
    "code": "processing",
    "diagnostics": "Observation.component[0].valueQuantity.code: not in the value set",
    "location": ["Observation.component[0].valueQuantity.code", "Line[1] Col[2]"],
}


def test_server_validate_posts_each_resource_and_reports_its_outcome(runner) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/Observation/$validate").mock(
            return_value=httpx.Response(200, json=outcome(ERROR))
        )
        result = run(runner, UNIT, "--server", BASE)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{UNIT}: error: Observation.component[0].valueQuantity.code: not in the value set"
    ]
    assert "offline" not in result.stderr
    assert f"by {BASE}" in result.stderr
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": load(UNIT)}],
    }
    assert route.calls.last.request.headers["content-type"].startswith("application/fhir+json")


def test_insecure_prints_the_same_warning_as_push_and_pull(runner) -> None:
    https = "https://fhir.test/fhir"
    info = {"severity": "information", "code": "informational", "diagnostics": "All OK"}
    with respx.mock(base_url=https) as router:
        router.post("/Observation/$validate").mock(
            return_value=httpx.Response(200, json=outcome(info))
        )
        insecure = run(runner, UNIT, "--server", https, "--insecure")
        verified = run(runner, UNIT, "--server", https)
    assert insecure.exit_code == verified.exit_code == 0, insecure.output
    assert insecure.stderr.splitlines()[0] == (
        "fhir-ivc: warning: --insecure: TLS certificates are NOT verified; anyone on the "
        "network path can read and change what is sent, credentials included"
    )
    assert "NOT verified" not in verified.stderr


def test_server_412_with_outcome_is_a_validation_result(runner) -> None:
    with respx.mock(base_url=BASE) as router:
        router.post("/Observation/$validate").mock(
            return_value=httpx.Response(412, json=outcome({**ERROR, "severity": "fatal"}))
        )
        result = run(runner, UNIT, "--server", BASE, "--format", "json")
    assert result.exit_code == 1
    [issue] = json.loads(result.stdout)["entry"][0]["resource"]["issue"]
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Observation.component[0].valueQuantity.code"]


def test_server_without_errors_exits_0(runner) -> None:
    info = {"severity": "information", "code": "informational", "diagnostics": "All OK"}
    with respx.mock(base_url=BASE) as router:
        router.post("/Bundle/$validate").mock(return_value=httpx.Response(200, json=outcome(info)))
        result = run(runner, SEED / "collection.json", "--server", BASE)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # information is below the default --severity warning


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, json=outcome({**ERROR, "diagnostics": "Unknown resource type"})),
        httpx.Response(200, text="<html>not FHIR</html>"),
        httpx.ConnectError("refused"),
    ],
    ids=["unknown-type", "not-an-outcome", "unreachable"],
)
def test_server_problems_are_exit_2(runner, response, monkeypatch) -> None:
    monkeypatch.setattr("fhir_ivc.client._sync.default_sleep", lambda seconds: None)  # retries
    with respx.mock(base_url=BASE) as router:
        route = router.post("/Observation/$validate")
        if isinstance(response, Exception):
            route.mock(side_effect=response)
        else:
            route.mock(return_value=response)
        result = run(runner, UNIT, "--server", BASE)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("fhir-ivc: error: ")


def test_server_url_must_be_http(runner) -> None:
    result = run(runner, UNIT, "--server", "ftp://fhir.test")
    assert result.exit_code == 2
    assert "fhir-ivc: error: FHIR base URL must be an absolute http(s) URL" in result.stderr
