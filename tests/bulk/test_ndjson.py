"""The Bulk Data folder of ``map --bulk``: type files, cases, manifest, read back case by case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from fhir_ivc.bulk.ndjson import (
    CASES_FILE,
    MANIFEST_FILE,
    BulkDirWriter,
    iter_case_resources,
    read_manifest,
    referenced_first,
    type_rank,
)
from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._app import app
from fhir_ivc.exchange.manifest import is_manifest, manifest_entry
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

from .test_ids import _references

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


def _cases(n: int = 10) -> list[Case]:
    seeds = [Case.model_validate(r) for r in yaml.safe_load(SEED.read_text(encoding="utf-8"))]
    return seeds + [synthetic_case(i, seed=3) for i in range(n)]


def _entries(case: Case) -> list[dict[str, Any]]:
    """What the folder holds for a case: its logical transaction's resources and its manifest."""
    transaction = build_bundles(case, ids="logical").transaction
    manifest = manifest_entry(transaction)
    assert manifest is not None
    return [*transaction["entry"], manifest]


def _write(folder: Path, cases: list[Case]) -> None:
    with BulkDirWriter(folder) as writer:
        for case in cases:
            writer.write(build_bundles(case, ids="logical"))


def test_one_file_per_type_with_logical_ids_and_resolvable_references(tmp_path):
    cases = _cases()
    _write(tmp_path, cases)
    manifest = read_manifest(tmp_path)
    assert manifest.cases == len(cases)
    keys: set[str] = set()
    for file in manifest.files:
        lines = manifest.path(file).read_bytes().splitlines()
        assert len(lines) == file.count
        assert manifest.path(file).stat().st_size == file.bytes
        for line in lines:
            resource = orjson.loads(line)
            assert resource["resourceType"] == file.type
            keys.add(f"{file.type}/{resource['id']}")
    expected = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for c in cases for e in _entries(c)
    }
    assert keys == expected
    for file in manifest.files:
        for line in manifest.path(file).read_bytes().splitlines():
            for ref in _references(orjson.loads(line)):
                assert ref in keys, f"{file.type}: unresolvable {ref}"
    assert [f.type for f in manifest.files] == sorted(
        (f.type for f in manifest.files), key=type_rank
    )
    assert next(f.type for f in manifest.files) == "Patient"


def test_read_back_case_by_case_gives_each_case_its_resources(tmp_path):
    cases = _cases()
    _write(tmp_path, cases)
    manifest = read_manifest(tmp_path)
    back = list(iter_case_resources(manifest))
    assert [c.case_id for c, _ in back] == [c.case_id for c in cases]
    for case, (bulk_case, resources) in zip(cases, back, strict=True):
        sent = _entries(case)
        assert sorted(json.dumps(r, sort_keys=True) for r in resources) == sorted(
            json.dumps(e["resource"], sort_keys=True) for e in sent
        )
        assert sum(bulk_case.counts().values()) == len(resources)
        assert resources[0]["resourceType"] == "Patient"
        # the case's manifest List (as push writes it) comes last and names every other one
        assert is_manifest(resources[-1])
        listed = {i["item"]["reference"] for i in resources[-1]["entry"]}
        assert listed == {f"{r['resourceType']}/{r['id']}" for r in resources[:-1]}


def test_within_a_type_a_referenced_resource_comes_first():
    def res(rid: str, *refs: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": rid,
            "hasMember": [{"reference": f"Observation/{r}"} for r in refs],
        }

    ordered = referenced_first([res("a", "b", "c"), res("b", "c"), res("c"), res("d")])
    assert [r["id"] for r in ordered] == ["c", "b", "a", "d"]
    # a cycle keeps going (and keeps every resource)
    cyclic = referenced_first([res("x", "y"), res("y", "x")])
    assert sorted(r["id"] for r in cyclic) == ["x", "y"]


def test_a_failed_run_leaves_the_earlier_folder_as_it_was(tmp_path):
    _write(tmp_path, _cases(2))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bundles = build_bundles(_cases(0)[0], ids="logical")

    def fails() -> None:
        with BulkDirWriter(tmp_path) as writer:
            writer.write(bundles)
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fails()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_rerun_removes_type_files_it_no_longer_writes(tmp_path):
    (tmp_path / "Encounter.ndjson").write_text("{}\n")
    manifest = json.loads(json.dumps({"format": "fhir-ivc-bulk/1", "output": []}))
    manifest["output"] = [{"type": "Encounter", "url": "Encounter.ndjson", "count": 1, "bytes": 3}]
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
    _write(tmp_path, _cases(1))
    assert not (tmp_path / "Encounter.ndjson").exists()


def test_bundles_without_logical_ids_are_refused(tmp_path):
    with pytest.raises(ValueError, match="logical id"), BulkDirWriter(tmp_path) as writer:
        writer.write(build_bundles(_cases(0)[0]))


def test_an_edited_type_file_is_detected(tmp_path):
    _write(tmp_path, _cases(1))
    patients = tmp_path / "Patient.ndjson"
    lines = patients.read_bytes().splitlines(keepends=True)
    patients.write_bytes(b"".join(reversed(lines)))
    with pytest.raises(ValueError, match="does not match"):
        list(iter_case_resources(read_manifest(tmp_path)))


def test_a_folder_without_a_manifest_is_not_a_bulk_folder(tmp_path):
    with pytest.raises(ValueError, match="map --bulk"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text(
        json.dumps({"format": "fhir-ivc-bulk/1", "output": [{"url": "../x", "bytes": 1}]})
    )
    with pytest.raises(ValueError, match="outside its folder"):
        read_manifest(tmp_path)


def test_map_bulk_on_the_command_line(tmp_path):
    records = tmp_path / "cases.ndjson"
    good = [c.model_dump(mode="json", exclude_none=True) for c in _cases(3)]
    bad = {**good[0], "case_id": "broken", "sex": "not a sex"}
    records.write_text("".join(json.dumps(r) + "\n" for r in [*good, bad]), encoding="utf-8")
    folder = tmp_path / "bulk"
    result = CliRunner().invoke(app, ["map", str(records), "--bulk", str(folder)])
    assert result.exit_code == 1, result.output  # one record rejected
    assert "REJECT broken" in result.output
    manifest = read_manifest(folder)
    assert manifest.cases == len(good)
    assert manifest.rejected == 1
    assert len((folder / CASES_FILE).read_text().splitlines()) == len(good)
    assert len((folder / "rejects.ndjson").read_text().splitlines()) >= 1
    refused = CliRunner().invoke(
        app, ["map", str(records), "--bulk", str(folder), "--out", str(tmp_path / "o")]
    )
    assert refused.exit_code == 2
    assert "--bulk" in refused.output
