"""``$import``: whole-case parts, HAPI's Parameters, its job report, per-case attribution, and
``push --bulk`` against a server whose job fails (respx)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import respx
from typer.testing import CliRunner

from fhir_ivc.bulk.imports import (
    ImportResult,
    case_results,
    import_parameters,
    outcome_of_code,
    parse_report,
    report_text,
    write_parts,
)
from fhir_ivc.bulk.ndjson import BulkDirWriter, iter_case_resources, read_manifest
from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._app import app
from fhir_ivc.testing.synth import synthetic_case

BASE = "https://fhir.example.org/fhir"

REPORT = """Bulk Import Report
------------------------------------------
Storage Actions : 9 (3/sec)
------------------------------------------
Source: http://127.0.0.1:1/t/part-00001.ndjson
  Outcomes:
    * SUCCESSFUL_UPDATE_AS_CREATE: 5
    * SUCCESSFUL_UPDATE_NO_CHANGE: 2
    * FAILURE: 2
  Errors:
    * HAPI-1094: Resource Condition/c1 not found, specified in path: Procedure.reasonReference
    * HAPI-0000: something else, specified in path: Observation.code
Source: http://127.0.0.1:1/t/part-00002.ndjson
  Outcomes:
    * SUCCESSFUL_UPDATE: 1
"""


def _folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "bulk"
    with BulkDirWriter(folder) as writer:
        for i in range(n):
            writer.write(build_bundles(synthetic_case(i, seed=5), ids="logical"))
    return folder


def test_parts_hold_whole_cases_within_one_batch(tmp_path):
    manifest = read_manifest(_folder(tmp_path, 12))
    parts = write_parts(manifest, tmp_path, max_resources=100)
    per_case = [len(resources) for _, resources in iter_case_resources(manifest)]
    assert sum(p.cases for p in parts) == 12
    assert sum(p.resources for p in parts) == manifest.resources == sum(per_case)
    start = 0
    for part in parts:
        lines = part.path.read_bytes().splitlines()
        assert len(lines) == part.resources == sum(per_case[start : start + part.cases])
        assert part.resources <= 100 or part.cases == 1
        assert orjson.loads(lines[0])["resourceType"] == "Patient"
        start += part.cases
    assert len(parts) > 1


def test_import_parameters_in_hapis_form(tmp_path):
    manifest = read_manifest(_folder(tmp_path, 2))
    parts = write_parts(manifest, tmp_path)
    body = import_parameters(
        parts, {p.name: f"http://x/{p.name}" for p in parts}, "http://x/", batch=800
    )
    assert body["resourceType"] == "Parameters"
    by_name = {p["name"]: p for p in body["parameter"]}
    assert by_name["inputFormat"]["valueCode"] == "application/fhir+ndjson"
    inputs = [p for p in body["parameter"] if p["name"] == "input"]
    assert [i["part"][1]["valueUri"] for i in inputs] == [f"http://x/{p.name}" for p in parts]
    detail = {p["name"]: p for p in by_name["storageDetail"]["part"]}
    assert detail["maxBatchResourceCount"]["valueString"] == "800"


def test_the_job_report_is_read_per_source():
    assert outcome_of_code("SUCCESSFUL_UPDATE_AS_CREATE") == "created"
    assert outcome_of_code("SUCCESSFUL_CREATE") == "created"
    assert outcome_of_code("SUCCESSFUL_UPDATE") == "updated"
    assert outcome_of_code("SUCCESSFUL_UPDATE_NO_CHANGE") == "unchanged"
    assert outcome_of_code("FAILURE") == "failed"
    wrapped = {"issue": [{"diagnostics": json.dumps({"reportMsg": REPORT})}]}
    assert report_text(wrapped) == REPORT
    sources = parse_report(REPORT)
    first, second = sources.values()
    assert first.counts == {"created": 5, "updated": 0, "unchanged": 2, "deleted": 0, "failed": 2}
    assert len(first.errors) == 2
    assert second.counts["updated"] == 1
    assert not second.errors


def test_errors_are_attributed_to_the_cases_whose_resources_they_name(tmp_path):
    manifest = read_manifest(_folder(tmp_path, 3))
    (case, resources), *_ = iter_case_resources(manifest)
    condition = next(r for r in resources if r["resourceType"] == "Condition")
    text = REPORT.replace("Condition/c1", f"Condition/{condition['id']}")
    result = ImportResult("s", True, "failed", text, parse_report(text), {"Procedure": 3})
    statuses = {c.case.case_id: c.status for c in case_results(manifest, result)}
    assert statuses[case.case_id] == "failed"
    assert list(statuses.values()).count("ok") == 2
    assert result.by_type()["Procedure"] == {"sent": 3, "failed": 1}
    # a job that failed without a word about resources: nobody can say
    silent = ImportResult("s", True, "failed", "", {}, {})
    assert {c.status for c in case_results(manifest, silent)} == {"unknown"}


def _capabilities(*operations: str) -> dict[str, object]:
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}],
                "operation": [{"name": o} for o in operations],
            }
        ],
    }


@respx.mock(assert_all_called=False)
def test_push_bulk_reports_a_failed_job_per_case(tmp_path, respx_mock):
    folder = _folder(tmp_path, 3)
    manifest = read_manifest(folder)
    (case, resources), *_ = iter_case_resources(manifest)
    respx_mock.route(host="127.0.0.1").pass_through()  # the loopback file endpoint
    respx_mock.get(f"{BASE}/metadata").respond(json=_capabilities("import"))
    status = f"{BASE}/$import-poll-status?_jobId=9"
    kick = respx_mock.post(f"{BASE}/$import").respond(202, headers={"Content-Location": status})
    failed_report = REPORT.replace("Condition/c1", f"Patient/{resources[0]['id']}")
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "diagnostics": "Job is in FAILED state"},
            {"severity": "error", "diagnostics": json.dumps({"reportMsg": failed_report})},
        ],
    }
    respx_mock.get(status).mock(
        side_effect=[
            httpx.Response(202, headers={"Retry-After": "120", "X-Progress": "QUEUED"}),
            httpx.Response(500, json=outcome),
        ]
    )
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["push", "--bulk", str(folder), "--server", BASE, "--max-poll-wait", "0.05",
         "--report", str(report), "--verbose"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"FAIL {case.case_id}: HAPI-1094" in result.output
    assert "QUEUED" in result.output  # --verbose shows X-Progress
    body = json.loads(kick.calls[0].request.content)
    assert body["resourceType"] == "Parameters"
    cases = json.loads(report.read_text())["cases"]
    assert [c["status"] for c in cases] == ["failed", "ok", "ok"]


@respx.mock(assert_all_called=False)
def test_push_bulk_falls_back_to_transactions_without_import(tmp_path, respx_mock):
    folder = _folder(tmp_path, 2)
    respx_mock.get(f"{BASE}/metadata").respond(json=_capabilities())
    sent: list[dict[str, object]] = []

    def transaction(request: httpx.Request) -> httpx.Response:
        bundle = json.loads(request.content)
        sent.append(bundle)
        return httpx.Response(
            200,
            json={
                "resourceType": "Bundle",
                "type": "transaction-response",
                "entry": [
                    {
                        "response": {
                            "status": "201 Created",
                            "location": f"{e['request']['url']}/_history/1",
                        }
                    }
                    for e in bundle["entry"]
                ],
            },
        )

    respx_mock.post(BASE).mock(side_effect=transaction)
    result = CliRunner().invoke(app, ["push", "--bulk", str(folder), "--server", BASE])
    assert result.exit_code == 0, result.output
    assert "does not offer $import" in result.output
    assert len(sent) == 2
    assert all(e["request"]["method"] == "PUT" for b in sent for e in b["entry"])  # type: ignore[index, union-attr]
