"""Push against the real HAPI FHIR server: exact resources, idempotent re-push, edits, volume.

The server is shared by the whole session (and may be a long-running one), so every test pushes
under its own ``source_system``: the case identifiers, and from them every resource identifier,
are then unique to the test and the counts below are exact. The adapter pushes; the checks
read the server with plain httpx (the ``fhir`` fixture), independently of the client code.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import yaml
from typer.testing import CliRunner

from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.cli._app import app
from fhir_ivc.client import AsyncFhirClient, FhirClient
from fhir_ivc.exchange import CasePushResult, push_many
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"
EVERYTHING_PAGE = 500


# --- helpers ----------------------------------------------------------------------------------


def _source_system() -> str:
    return f"https://fhir-ivc.example.org/fhir/sid/test-{uuid.uuid4()}"


def _seed_records(source_system: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    for record in records:
        record["source_system"] = source_system
    return records


def _bundles(records: list[dict[str, Any]]) -> list[CaseBundles]:
    return [build_bundles(Case.model_validate(record)) for record in records]


def _items(bundles: list[CaseBundles]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    return [(b.case_id, b.transaction, b.sources) for b in bundles]


def _types(bundle: Mapping[str, Any]) -> Counter[str]:
    return Counter(e["resource"]["resourceType"] for e in bundle["entry"])


def _get(fhir: httpx.Client, url: str, **params: Any) -> dict[str, Any]:
    # ``params=None``, not ``{}``, when there are none: httpx 0.28 replaces the URL's own query
    # with ``params`` even when it is empty, so a ``next`` link (``[base]?_getpages=…``) would be
    # sent as ``GET [base]`` and HAPI answers 400 HAPI-0287 (a request for the base URL).
    response = fhir.get(url, params=params or None)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _count(fhir: httpx.Client, resource_type: str, **params: Any) -> int:
    total: int = _get(fhir, resource_type, _summary="count", **params)["total"]
    return total


def _patient_id(fhir: httpx.Client, source_system: str, case_id: str) -> str:
    found = _get(fhir, "Patient", identifier=f"{source_system}|{case_id}")
    assert found["total"] == 1, f"{case_id}: {found['total']} patients"
    patient_id: str = found["entry"][0]["resource"]["id"]
    return patient_id


def _pages(fhir: httpx.Client, first: dict[str, Any]) -> Iterator[dict[str, Any]]:
    page: dict[str, Any] | None = first
    while page is not None:
        yield page
        next_url = next((x["url"] for x in page.get("link", []) if x["relation"] == "next"), None)
        page = _get(fhir, next_url) if next_url else None


def _everything(fhir: httpx.Client, patient_id: str) -> list[dict[str, Any]]:
    first = _get(fhir, f"Patient/{patient_id}/$everything", _count=EVERYTHING_PAGE)
    return [e["resource"] for page in _pages(fhir, first) for e in page.get("entry", [])]


def _references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(element path, reference)`` of every ``reference`` string in a resource."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield path, item
            else:
                yield from _references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(item, f"{path}[{i}]")


def _in_primitive_extension(path: str) -> bool:
    """``._effectiveDateTime.extension[1]…``: under the extensions of a primitive element."""
    return any(part.startswith("_") for part in path.split("."))


def _push(fhir_base_url: str, bundles: list[CaseBundles], concurrency: int = 2):
    with FhirClient(fhir_base_url, timeout=120) as client:
        results = push_many(client, _items(bundles), concurrency=concurrency)
    for result in results:
        assert result.ok, result.error
    return results


def _bare_copy(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A resource with the same type and identifier, and nothing that references others."""
    return {
        "resourceType": resource["resourceType"],
        "identifier": resource["identifier"],
        "status": "final",
        "code": {"text": "a second resource with the same identifier"},
    }


def _outcomes(result: CasePushResult) -> Counter[str]:
    return Counter(e.outcome for e in result.entries)


# --- the seed cases ---------------------------------------------------------------------------


def test_seed_cases_land_exactly_once_with_resolving_references(fhir_base_url, fhir):
    source_system = _source_system()
    bundles = _bundles(_seed_records(source_system))

    # hard numbers, read off the bundles once (examples/bundles/case-*.transaction.json)
    expected = {b.case_id: _types(b.transaction) for b in bundles}
    assert expected["case-1"] == {
        "Observation": 13,
        "Procedure": 9,
        "Condition": 3,
        "Patient": 1,
        "BodyStructure": 1,
        "Specimen": 1,
        "DiagnosticReport": 1,
        "MedicationAdministration": 1,
    }
    assert expected["case-2"]["Observation"] == 17
    assert expected["case-2"]["Procedure"] == 14
    assert expected["case-2"]["Condition"] == 6
    assert expected["case-2"]["BodyStructure"] == 2
    assert sum(expected["case-2"].values()) == 43

    results = _push(fhir_base_url, bundles)

    for bundle, result in zip(bundles, results, strict=True):
        entries = len(bundle.transaction["entry"])
        assert result.case_id == bundle.case_id
        assert result.counts == {
            "created": entries,
            "updated": 0,
            "unchanged": 0,
            "deleted": 0,
            "failed": 0,
        }
        assert all(e.status == 201 and e.version_id == "1" for e in result.entries)

    assert _count(fhir, "Patient", identifier=f"{source_system}|") == 2
    for bundle in bundles:
        patient_id = _patient_id(fhir, source_system, bundle.case_id)
        wanted = expected[bundle.case_id]
        # one search per type: exactly the resources of this patient, no more, no less
        for resource_type, count in wanted.items():
            if resource_type == "Patient":
                continue
            found = _count(fhir, resource_type, patient=f"Patient/{patient_id}")
            assert found == count, f"{bundle.case_id} {resource_type}: {found} != {count}"
        # and the whole patient compartment holds nothing else
        resources = _everything(fhir, patient_id)
        assert Counter(r["resourceType"] for r in resources) == wanted

        # every reference on the server resolves: the server rewrote the urn:uuid references
        # to the ids it assigned (relative-time anchors are logical references: test below)
        known = {f"{r['resourceType']}/{r['id']}" for r in resources}
        all_refs = [(path, ref) for r in resources for path, ref in _references(r)]
        references = {ref for path, ref in all_refs if not _in_primitive_extension(path)}
        assert len(references) > 10, "the resources reference each other"
        assert f"Patient/{patient_id}" in references
        assert not [ref for ref in references if ref.startswith("urn:")]
        for reference in sorted(references - known):
            assert fhir.get(reference).status_code == 200, f"dangling reference {reference}"


def _logical_references(value: Any) -> Iterator[dict[str, Any]]:
    """Every Reference given by identifier (``{"identifier": {...}}``) in a resource."""
    if isinstance(value, dict):
        if isinstance(value.get("identifier"), dict) and "type" in value:
            yield value
        for item in value.values():
            yield from _logical_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _logical_references(item)


def test_relative_time_anchors_resolve_on_the_server(fhir_base_url, fhir):
    # HAPI FHIR 8.8.0 does not rewrite urn:uuid references inside extensions on primitive
    # elements (_effectiveDateTime, _onsetDateTime, effectivePeriod._start), so the anchor of a
    # relative time (cqf-relativeDateTime target) is a logical reference by identifier: on the
    # server it must find exactly the index surgery of the same patient.
    source_system = _source_system()
    bundles = _bundles(_seed_records(source_system))
    _push(fhir_base_url, bundles)
    for bundle in bundles:
        patient_id = _patient_id(fhir, source_system, bundle.case_id)
        resources = _everything(fhir, patient_id)
        in_primitive_extensions = [
            ref for r in resources for path, ref in _references(r) if _in_primitive_extension(path)
        ]
        assert in_primitive_extensions == [], "no urn:uuid left inside primitive extensions"
        anchors = [ref for r in resources for ref in _logical_references(r)]
        assert anchors, "the seed cases carry relative-time anchors"
        for anchor in anchors:
            ident = anchor["identifier"]
            found = fhir.get(
                f"{anchor['type']}?identifier={ident['system']}|{ident['value']}"
            ).json()
            (match,) = [e["resource"] for e in found.get("entry", [])]
            assert match["subject"]["reference"] == f"Patient/{patient_id}"
            assert "partOf" not in match, "the anchor is the index surgery itself"


def test_second_push_creates_nothing_and_changes_nothing(fhir_base_url, fhir):
    source_system = _source_system()
    bundles = _bundles(_seed_records(source_system))
    first = _push(fhir_base_url, bundles)
    assert sum(r.counts["created"] for r in first) == 73

    again = _push(fhir_base_url, bundles)

    for bundle, result in zip(bundles, again, strict=True):
        entries = len(bundle.transaction["entry"])
        assert result.counts == {
            "created": 0,
            "updated": 0,
            "unchanged": entries,
            "deleted": 0,
            "failed": 0,
        }
        assert all(e.status == 200 and e.version_id == "1" for e in result.entries)
    # same resources as after the first push, same ids
    assert [[e.location for e in r.entries] for r in again] == [
        [e.location for e in r.entries] for r in first
    ]
    assert _count(fhir, "Patient", identifier=f"{source_system}|") == 2
    assert _count(fhir, "Observation", **{"patient.identifier": f"{source_system}|"}) == 13 + 17


def test_edited_case_updates_exactly_the_changed_resource(fhir_base_url, fhir):
    source_system = _source_system()
    records = _seed_records(source_system)
    _push(fhir_base_url, _bundles(records))

    edited = copy.deepcopy(records)
    assert edited[0]["surgery"]["blood_loss_ml"] == 300
    edited[0]["surgery"]["blood_loss_ml"] = 450
    results = _push(fhir_base_url, _bundles(edited))

    case_1, case_2 = results
    updated = [e for e in case_1.entries if e.outcome == "updated"]
    assert len(updated) == 1
    (entry,) = updated
    assert (entry.resource_type, entry.source, entry.version_id) == (
        "Observation",
        "surgery.blood_loss_ml",
        "2",
    )
    assert _outcomes(case_1) == {"unchanged": 29, "updated": 1}
    assert _outcomes(case_2) == {"unchanged": 43}

    observation = _get(fhir, entry.location.split("/_history/")[0])
    assert observation["meta"]["versionId"] == "2"
    assert observation["valueQuantity"]["value"] == 450
    assert observation["identifier"][0]["value"].endswith("/surgery.blood-loss")
    history = _get(fhir, entry.location.split("/_history/")[0] + "/_history")
    assert history["total"] == 2


def test_a_conditional_url_matching_two_resources_fails_that_case_only(fhir_base_url, fhir):
    """HAPI answers 412 when a conditional PUT matches two resources: a real-server failure."""
    source_system = _source_system()
    bundles = _bundles(_seed_records(source_system))
    case_1 = bundles[0].transaction
    index, entry = next(
        (i, e)
        for i, e in enumerate(case_1["entry"])
        if e["request"]["url"].endswith("/surgery.blood-loss")
    )
    duplicate = _bare_copy(entry["resource"])
    for _ in range(2):  # two resources with the identifier the conditional PUT searches for
        assert fhir.post("Observation", content=json.dumps(duplicate)).status_code == 201

    with FhirClient(fhir_base_url, timeout=120) as client:
        failed, ok = push_many(client, _items(bundles), concurrency=2)

    assert ok.ok, ok.error
    assert ok.counts["created"] == 43
    assert not failed.ok
    assert failed.status_code == 412
    assert failed.error is not None
    assert failed.error.startswith("case 'case-1': transaction rejected with HTTP 412")
    assert "surgery.blood_loss_ml (Observation)" in failed.error  # the case element of the entry
    assert "Multiple resources match" in failed.error
    message = failed.entries[index].message
    assert message is not None
    assert "Multiple resources match" in message
    assert failed.counts == {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 30}
    # rolled back: nothing of case-1 was written
    assert _count(fhir, "Patient", identifier=f"{source_system}|case-1") == 0
    assert _count(fhir, "Patient", identifier=f"{source_system}|case-2") == 1


# --- volume -----------------------------------------------------------------------------------


def test_fifty_generated_cases_pushed_concurrently(fhir_base_url, fhir):
    source_system = _source_system()
    cases = [synthetic_case(i, seed=7, source_system=source_system) for i in range(50)]
    bundles = [build_bundles(case) for case in cases]

    async def push() -> list[CasePushResult]:
        async with AsyncFhirClient(fhir_base_url, timeout=300) as client:
            return await push_many(client, _items(bundles), concurrency=8)

    results = anyio.run(push)

    assert [r.case_id for r in results] == [b.case_id for b in bundles]  # input order
    for bundle, result in zip(bundles, results, strict=True):
        assert result.ok, result.error
        assert result.counts["created"] == len(bundle.transaction["entry"])

    # exactly 50 patients, one per case id
    assert _count(fhir, "Patient", identifier=f"{source_system}|", _total="accurate") == 50
    page = _get(fhir, "Patient", identifier=f"{source_system}|", _count=100, _elements="identifier")
    values = [
        i["value"]
        for e in page["entry"]
        for i in e["resource"]["identifier"]
        if i["system"] == source_system
    ]
    assert sorted(values) == sorted(b.case_id for b in bundles)
    # and per type exactly what the 50 bundles hold: no duplicates anywhere
    expected: Counter[str] = Counter()
    for bundle in bundles:
        expected += _types(bundle.transaction)
    chained = {"patient.identifier": f"{source_system}|"}
    for resource_type, count in expected.items():
        if resource_type != "Patient":
            assert _count(fhir, resource_type, **chained) == count, resource_type


# --- the command line, end to end -------------------------------------------------------------


def _report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def test_cli_push_seed_file_as_shipped(fhir_base_url, tmp_path):
    """The README's command: the seed file with its own source system (shared across runs)."""
    report_path = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["push", str(SEED), "--server", fhir_base_url, "--report", str(report_path)]
    )
    assert result.exit_code == 0, result.output
    report = _report(report_path)
    assert report["summary"]["cases"] == report["summary"]["ok"] == 2
    assert report["summary"]["entries"]["failed"] == 0
    sizes = {
        b.case_id: len(b.transaction["entry"]) for b in _bundles(_seed_records(_source_system()))
    }
    for case in report["cases"]:  # each case's resources and its manifest List
        assert case["status"] == "ok"
        assert len(case["entries"]) == sizes[case["case_id"]] + 1
        assert sum(case["counts"].values()) == sizes[case["case_id"]] + 1


def test_cli_push_twice_then_prebuilt(fhir_base_url, fhir, tmp_path):
    source_system = _source_system()
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump(_seed_records(source_system)))
    report_path = tmp_path / "r.json"
    args = ["push", str(cases), "--server", fhir_base_url, "--report", str(report_path)]
    runner = CliRunner()

    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = _report(report_path)
    assert report["server"] == fhir_base_url
    assert report["fhir_version"] == "4.0.1"
    assert report["summary"]["entries"] == {  # the resources and one manifest per case
        "created": 75,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "failed": 0,
    }
    by_case = {c["case_id"]: c for c in report["cases"]}
    assert by_case["case-1"]["counts"]["created"] == 31
    assert by_case["case-2"]["counts"]["created"] == 44
    assert {e["outcome"] for c in report["cases"] for e in c["entries"]} == {"created"}
    assert "entries: 75 created, 0 updated, 0 unchanged, 0 deleted, 0 failed" in first.stderr

    second = runner.invoke(app, [*args, "--concurrency", "1"])
    assert second.exit_code == 0, second.output
    assert _report(report_path)["summary"]["entries"]["unchanged"] == 75

    # map to NDJSON (transaction + collection) and push the prebuilt bundles: still unchanged
    ndjson = tmp_path / "bundles.ndjson"
    mapped = runner.invoke(app, ["map", str(cases), "--ndjson", str(ndjson), "-q"])
    assert mapped.exit_code == 0, mapped.output
    prebuilt = runner.invoke(
        app,
        [
            "push",
            str(ndjson),
            "--prebuilt",
            "--server",
            fhir_base_url,
            "--report",
            str(report_path),
        ],
    )
    assert prebuilt.exit_code == 0, prebuilt.output
    report = _report(report_path)
    assert report["summary"]["skipped"] == 2  # the collection bundles
    assert report["summary"]["entries"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 75,
        "deleted": 0,
        "failed": 0,
    }
    assert sorted(c["case_id"] for c in report["cases"]) == ["case-1", "case-2"]
    assert _count(fhir, "Patient", identifier=f"{source_system}|") == 2


def test_cli_push_reports_a_failed_case_by_element_and_exits_1(fhir_base_url, fhir, tmp_path):
    source_system = _source_system()
    records = _seed_records(source_system)
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump(records))
    entry = next(
        e
        for e in _bundles(records)[1].transaction["entry"]
        if e["request"]["url"].endswith("/surgery.blood-loss")
    )
    duplicate = _bare_copy(entry["resource"])
    for _ in range(2):
        assert fhir.post("Observation", content=json.dumps(duplicate)).status_code == 201
    report_path = tmp_path / "r.json"

    result = CliRunner().invoke(
        app, ["push", str(cases), "--server", fhir_base_url, "--report", str(report_path)]
    )

    assert result.exit_code == 1, result.output
    assert "FAIL case 'case-2': transaction rejected with HTTP 412" in result.stderr
    assert "surgery.blood_loss_ml (Observation)" in result.stderr
    report = _report(report_path)
    by_case = {c["case_id"]: c for c in report["cases"]}
    assert by_case["case-1"]["status"] == "ok"
    assert by_case["case-1"]["counts"]["created"] == 31  # and its manifest
    assert by_case["case-2"]["status"] == "failed"
    assert by_case["case-2"]["status_code"] == 412
    assert report["summary"]["exit_code"] == 1
    assert _count(fhir, "Patient", identifier=f"{source_system}|case-1") == 1
    assert _count(fhir, "Patient", identifier=f"{source_system}|case-2") == 0
