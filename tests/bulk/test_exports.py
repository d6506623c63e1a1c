"""``pull --bulk`` ($export) against a fake server (respx): kick-off parameters, a 429 and a
503 while polling, a truncated download, a job interrupted and taken up again from the saved
status URL, a failed job; and the regrouping of exported files by patient."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from typer.testing import CliRunner

from fhir_ivc.bulk.exports import (
    ExportRequest,
    ExportState,
    download_outputs,
    error_texts,
    parse_manifest,
)
from fhir_ivc.bulk.http import BulkHttp
from fhir_ivc.bulk.regroup import ExportIndex, owner_of, read_patients
from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._app import app
from fhir_ivc.exceptions import ConfigError
from fhir_ivc.exchange import PatientQuery
from fhir_ivc.testing.synth import DEFAULT_SOURCE_SYSTEM, synthetic_case

BASE = "https://fhir.example.org/fhir"
STATUS = f"{BASE}/$export-poll-status?_jobId=7"


def _capabilities() -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "resource": [{"type": "Patient", "operation": [{"name": "export"}]}],
                "operation": [{"name": "export"}],
            }
        ],
    }


def _exported(n: int = 3) -> dict[str, list[dict[str, Any]]]:
    """The resources of ``n`` synthetic cases, by type, as a server would export them."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for i in range(n):
        for entry in build_bundles(synthetic_case(i, seed=9), ids="logical").transaction["entry"]:
            resource = {**entry["resource"], "meta": {"versionId": "1"}}
            by_type.setdefault(resource["resourceType"], []).append(resource)
    return by_type


def _ndjson(resources: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


def _serve(mock: respx.MockRouter, by_type: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    output = []
    for index, (rtype, resources) in enumerate(by_type.items()):
        url = f"{BASE}/Binary/{index}"
        mock.get(url).respond(200, content=_ndjson(resources))
        output.append({"type": rtype, "url": url})
    return {
        "transactionTime": "2026-12-02T10:00:00Z",
        "requiresAccessToken": True,
        "output": output,
        "error": [],
    }


def _pull(tmp_path: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        app,
        ["pull", "--bulk", "--server", BASE, "--system", DEFAULT_SOURCE_SYSTEM,
         "--ndjson", str(tmp_path / "cases.ndjson"), "--max-poll-wait", "0.05", *extra],
    )  # fmt: skip


@respx.mock(assert_all_called=False)
def test_pull_bulk_reads_every_exported_patient(tmp_path, respx_mock):
    by_type = _exported(3)
    respx_mock.get(f"{BASE}/metadata").respond(json=_capabilities())
    kick = respx_mock.get(f"{BASE}/Patient/$export").respond(
        202, headers={"Content-Location": STATUS}
    )
    manifest = _serve(respx_mock, by_type)
    truncated = respx_mock.get(f"{BASE}/Binary/0").mock(
        side_effect=[
            httpx.Response(200, content=_ndjson(by_type["Patient"])[:40]),
            httpx.Response(200, content=_ndjson(by_type["Patient"])),
        ]
    )
    respx_mock.get(STATUS).mock(
        side_effect=[
            httpx.Response(202, headers={"Retry-After": "120", "X-Progress": "building"}),
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(503),
            httpx.Response(200, json=manifest),
        ]
    )
    result = _pull(
        tmp_path,
        "--type",
        "Patient,Condition",
        "--type",
        "Observation",
        "--since",
        "2026-01-01T00:00:00Z",
    )
    assert result.exit_code == 0, result.output
    params = kick.calls[0].request.url.params
    assert params["_type"] == "Patient,Condition,Observation"
    assert params["_since"].startswith("2026-01-01T00:00:00")
    assert kick.calls[0].request.headers["Prefer"] == "respond-async"
    assert truncated.call_count == 2
    assert "fhir-ivc: export: building" in result.output  # X-Progress
    cases = [json.loads(line) for line in (tmp_path / "cases.ndjson").read_text().splitlines()]
    assert [c["case_id"] for c in cases] == [synthetic_case(i, seed=9).case_id for i in range(3)]
    losses = [json.loads(x) for x in (tmp_path / "cases.losses.ndjson").read_text().splitlines()]
    assert {r["strategy"] for r in losses} == {"export"}
    assert not (tmp_path / "cases.ndjson.export-state.json").exists()


def _kick_off_params(tmp_path: Path, respx_mock: respx.MockRouter, *args: str) -> Any:
    respx_mock.get(f"{BASE}/metadata").respond(json=_capabilities())
    kick = respx_mock.get(f"{BASE}/Patient/$export").respond(
        202, headers={"Content-Location": STATUS}
    )
    respx_mock.get(STATUS).respond(200, json=_serve(respx_mock, _exported(1)))
    tmp_path.mkdir()
    result = _pull(tmp_path, *args)
    assert result.exit_code == 0, result.output
    return kick.calls.last.request.url.params


@respx.mock(assert_all_called=False)
def test_the_default_types_are_what_pull_reads_and_all_sends_no_type(tmp_path, respx_mock):
    # every type the mapper writes must be exported by default
    bundle = build_bundles(synthetic_case(0, seed=9), ids="logical").transaction
    written = {e["resource"]["resourceType"] for e in bundle["entry"]}
    default = _kick_off_params(tmp_path / "a", respx_mock)["_type"].split(",")
    assert written <= set(default)
    assert "Medication" not in default  # outside the compartment: every patient's, on HAPI
    assert "List" not in default  # HAPI refuses it in Patient/$export (HAPI-0512)
    assert len(default) == len(set(default))
    assert "_type" not in _kick_off_params(tmp_path / "b", respx_mock, "--type", "all")
    (tmp_path / "c").mkdir()
    mixed = _pull(tmp_path / "c", "--type", "all,Patient")
    assert mixed.exit_code == 2
    assert "--type all stands alone" in mixed.output


@respx.mock(assert_all_called=False)
def test_an_interrupted_export_is_taken_up_from_the_saved_status_url(tmp_path, respx_mock):
    by_type = _exported(2)
    respx_mock.get(f"{BASE}/metadata").respond(json=_capabilities())
    kick = respx_mock.get(f"{BASE}/Patient/$export").respond(
        202, headers={"Content-Location": STATUS}
    )
    respx_mock.get(STATUS).mock(side_effect=httpx.ConnectError("server gone"))
    first = _pull(tmp_path)
    assert first.exit_code == 2, first.output
    state = json.loads((tmp_path / "cases.ndjson.export-state.json").read_text())
    assert state["status_url"] == STATUS
    assert not (tmp_path / "cases.ndjson").exists()

    manifest = _serve(respx_mock, by_type)
    respx_mock.get(STATUS).mock(return_value=httpx.Response(200, json=manifest))
    second = _pull(tmp_path)
    assert second.exit_code == 0, second.output
    assert "taking up the export job" in second.output
    assert kick.call_count == 1  # no second kick-off
    assert len((tmp_path / "cases.ndjson").read_text().splitlines()) == 2
    assert not (tmp_path / "cases.ndjson.export-state.json").exists()


@respx.mock(assert_all_called=False)
def test_a_failed_export_job_ends_the_run_with_the_servers_reason(tmp_path, respx_mock):
    respx_mock.get(f"{BASE}/metadata").respond(json=_capabilities())
    respx_mock.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "Job failed: out of disk"}],
    }
    respx_mock.get(STATUS).respond(500, json=outcome)
    result = _pull(tmp_path)
    assert result.exit_code == 2
    assert "Job failed: out of disk" in result.output


@respx.mock(assert_all_called=False)
def test_a_server_without_export_is_refused(tmp_path, respx_mock):
    caps = _capabilities()
    caps["rest"][0]["resource"][0]["operation"] = []
    caps["rest"][0]["operation"] = []
    respx_mock.get(f"{BASE}/metadata").respond(json=caps)
    result = _pull(tmp_path)
    assert result.exit_code == 2
    assert "does not offer Patient/$export" in result.output


def test_export_requests_are_checked():
    assert ExportRequest(group="g1").path == "Group/g1/$export"
    assert ExportRequest(types=("Patient",)).params()["_type"] == "Patient"
    with pytest.raises(ConfigError, match="FHIR instant"):
        ExportRequest(since="yesterday")
    with pytest.raises(ConfigError, match="time zone"):
        ExportRequest(since="2026-01-01T00:00:00")
    with pytest.raises(ConfigError, match="resource type"):
        ExportRequest(types=("patient;drop",))
    # the whole text must be a type or id: `^…$` let a trailing newline through
    with pytest.raises(ConfigError, match="resource type"):
        ExportRequest(types=("Patient\n",))
    with pytest.raises(ConfigError, match="FHIR id"):
        ExportRequest(group="g1\n")
    assert (
        parse_manifest({"output": [{"type": "Patient", "url": "u", "count": 3}]}).files[0].count
        == 3
    )


def test_exported_resources_are_regrouped_by_patient(tmp_path):
    by_type = _exported(3)
    files = []
    for rtype, resources in by_type.items():
        path = tmp_path / f"{rtype}.ndjson"
        path.write_bytes(_ndjson(resources) + b"not json\n")
        files.append(path)
    other = {
        "resourceType": "Observation",
        "id": "x",
        "subject": {"reference": "Patient/elsewhere"},
    }
    (tmp_path / "other.ndjson").write_bytes(_ndjson([other]))
    with ExportIndex(tmp_path / "index.sqlite") as index:
        for path in [*files, tmp_path / "other.ndjson", files[0]]:  # the first file twice
            index.add_file(path)
        assert index.duplicates == len(by_type[files[0].stem])
        assert (
            index.unreadable == 2 * len(files) - len(files) + 1
        )  # one bad line per add, twice for the first
        assert index.orphans() == 1
        pulls = list(read_patients(index, BASE, PatientQuery.by_system(DEFAULT_SOURCE_SYSTEM)))
    assert [p.case_id for p in pulls] == [synthetic_case(i, seed=9).case_id for i in range(3)]
    assert all(p.ok for p in pulls), [p.problem for p in pulls]
    for i, pulled in enumerate(pulls):
        assert pulled.case == synthetic_case(i, seed=9)


def test_the_owner_of_a_resource():
    assert owner_of({"resourceType": "Patient", "id": "p"}) == "p"
    assert owner_of({"resourceType": "Condition", "subject": {"reference": "Patient/p"}}) == "p"
    assert (
        owner_of({"resourceType": "BodyStructure", "patient": {"reference": f"{BASE}/Patient/q"}})
        == "q"
    )
    nested = {"resourceType": "Observation", "focus": [{"reference": "Patient/r"}]}
    assert owner_of(nested) == "r"
    assert owner_of({"resourceType": "Medication", "id": "m"}) is None
    group = {"resourceType": "Group", "member": [{"entity": {"reference": "Patient/p"}}]}
    assert owner_of(group) is None
    two = {
        "resourceType": "Basic",
        "extension": [
            {"valueReference": {"reference": "Patient/a"}},
            {"valueReference": {"reference": "Patient/b"}},
        ],
    }
    assert owner_of(two) is None


@respx.mock(assert_all_called=False)
def test_downloaded_export_files_are_private(tmp_path, respx_mock):
    """The downloads kept for a resume hold patients' data: 0600 files in a 0700 folder."""
    manifest = parse_manifest(_serve(respx_mock, _exported(1)))
    state = ExportState(tmp_path / "s.export.json")
    old = os.umask(0o022)  # the usual umask, under which open() makes 0644 files
    try:
        with BulkHttp(BASE) as http:
            paths = [path for _, path in download_outputs(http, manifest, state)]
    finally:
        os.umask(old)
    assert paths
    assert stat.S_IMODE(state.downloads.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in paths} == {0o600}


@respx.mock(assert_all_called=False)
def test_an_error_file_over_a_bound_is_a_warning_not_the_end_of_the_run(tmp_path, respx_mock):
    big = f"{BASE}/Binary/err0"
    small = f"{BASE}/Binary/err1"
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Patient/x: gone"}]}
    respx_mock.get(big).respond(200, content=orjson.dumps(outcome) * 100 + b"\n")
    respx_mock.get(small).respond(200, content=orjson.dumps(outcome) + b"\n")
    manifest = parse_manifest(
        {
            "transactionTime": "2026-12-02T10:00:00Z",
            "output": [],
            "error": [{"type": "OperationOutcome", "url": u} for u in (big, small)],
        }
    )
    state = ExportState(tmp_path / "s.export.json")
    with BulkHttp(BASE, max_file_bytes=1000) as http:
        texts = error_texts(http, manifest, state)
    assert len(texts) == 2
    assert "Binary/err0" in texts[0]
    assert "larger than the limit of 1000 bytes per file" in texts[0]
    assert texts[1] == "Patient/x: gone"
