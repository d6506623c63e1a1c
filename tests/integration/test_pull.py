"""Pull against the real HAPI FHIR server: case → push → pull → case, and third-party data.

* Both seed cases and 30 synthetic cases are pushed under a source system of this test module
  (the server is shared, maybe long-running: nothing else carries that system), then pulled
  back with ``$everything`` and with the search fallback; every pulled record must EQUAL its
  original (a failure lists the differing fields, path by path).
* Paging: a small ``_count`` makes the patient search span several pages.
* The mCODE IG examples of the patient Jenny M are loaded as a transaction of ``PUT Type/id``
  (the example ids) and pulled: what maps, and that everything else is in the loss report.
* The data is loaded with the client directly (``push_many`` / ``transaction``), not with the
  push CLI.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from typer.testing import CliRunner

from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._app import app
from fhir_ivc.client import AsyncFhirClient, FhirClient
from fhir_ivc.exchange import PatientPull, PatientQuery, pull_many, push_many
from fhir_ivc.exchange._sync import find_patients
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case
from tests.bundle.test_third_party import (
    JENNY_MAPPED,
    JENNY_SYSTEM,
    jenny_m_resources,
    read,
)

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"
N_SYNTHETIC = 30
JENNY = "Patient/cancer-patient-jenny-m"


# --- helpers ----------------------------------------------------------------------------------


def _diff(sent: Any, read_back: Any, path: str = "") -> Iterator[str]:
    """Field-by-field differences of two JSON values, as ``path: sent … read …`` lines."""
    if isinstance(sent, dict) and isinstance(read_back, dict):
        for key in sorted(set(sent) | set(read_back)):
            yield from _diff(sent.get(key), read_back.get(key), f"{path}.{key}" if path else key)
    elif isinstance(sent, list) and isinstance(read_back, list) and len(sent) == len(read_back):
        for i, (a, b) in enumerate(zip(sent, read_back, strict=True)):
            yield from _diff(a, b, f"{path}[{i}]")
    elif sent != read_back:
        yield f"{path}: sent {json.dumps(sent)}  read {json.dumps(read_back)}"


def _ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_equal_cases(originals: list[Case], pulled: list[PatientPull]) -> None:
    by_id = {p.case_id: p for p in pulled}
    problems = []
    for case in originals:
        result = by_id.get(case.case_id)
        if result is None or result.case is None:
            problems.append(f"{case.case_id}: not read ({result.problem if result else 'missing'})")
            continue
        if result.losses:
            problems.append(f"{case.case_id}: losses {[x.as_dict() for x in result.losses]}")
        if result.case != case:
            lines = _diff(case.model_dump(mode="json"), result.case.model_dump(mode="json"))
            problems.append(f"{case.case_id}:\n  " + "\n  ".join(lines))
    assert not problems, "\n".join(problems)
    assert len(pulled) == len(originals)


@pytest.fixture(scope="module")
def pushed(fhir_base_url: str) -> tuple[str, list[Case]]:
    """The seed cases and 30 synthetic cases, pushed under a source system of this module."""
    source_system = f"https://fhir-ivc.example.org/fhir/sid/test-pull-{uuid.uuid4()}"
    records = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    cases = [Case.model_validate({**r, "source_system": source_system}) for r in records]
    cases += [synthetic_case(i, source_system=source_system) for i in range(N_SYNTHETIC)]
    bundles = [build_bundles(case) for case in cases]
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        results = push_many(
            fhir, [(b.case_id, b.transaction, b.sources) for b in bundles], concurrency=2
        )
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return source_system, cases


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["everything", "search"])
def test_pushed_cases_come_back_equal(fhir_base_url, pushed, strategy):
    source_system, cases = pushed
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        pulled = pull_many(
            fhir, PatientQuery.by_system(source_system), strategy=strategy, count=20, concurrency=2
        )
    assert {p.strategy for p in pulled} == {strategy}
    assert_equal_cases(cases, pulled)


def test_auto_uses_everything_on_hapi(fhir_base_url, pushed):
    source_system, cases = pushed
    wanted = cases[:2] + cases[-1:]
    query = PatientQuery.by_identifiers([(source_system, c.case_id) for c in wanted])
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        pulled = pull_many(fhir, query, count=200)
    assert [p.strategy for p in pulled] == ["everything"] * 3
    # one $everything page each: every reference resolves inside the result, nothing is read
    assert [p.requests for p in pulled] == [1, 1, 1]
    assert_equal_cases(wanted, pulled)


def test_async_client_pulls_identifiers_and_reports_unknown_ones(fhir_base_url, pushed):
    source_system, cases = pushed

    async def main() -> list[PatientPull]:
        async with AsyncFhirClient(fhir_base_url, timeout=120) as fhir:
            query = PatientQuery.by_identifiers(
                [(source_system, "no-such-case"), *((source_system, c.case_id) for c in cases)]
            )
            return await pull_many(fhir, query, count=7, concurrency=4)

    missing, *pulled = anyio.run(main)
    assert (missing.ok, missing.patient, missing.case_id) == (False, None, "no-such-case")
    assert_equal_cases(cases, pulled)


def test_more_patients_than_one_page_are_all_found(fhir_base_url, pushed):
    source_system, cases = pushed
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        pages = list(fhir.search("Patient", {"identifier": f"{source_system}|", "_count": 5}))
        found = find_patients(fhir, PatientQuery.by_system(source_system), count=5)
    assert len(pages) == -(-len(cases) // 5) == 7
    case_ids = sorted(
        i["value"] for p in found for i in p["identifier"] if i["system"] == source_system
    )
    assert case_ids == sorted(c.case_id for c in cases)


def test_the_system_token_search_matches_only_that_system(fhir_base_url, pushed):
    """``identifier=system|`` is answered by HAPI as "any value in that system" (R4 token)."""
    source_system, cases = pushed
    with FhirClient(fhir_base_url) as fhir:
        assert find_patients(fhir, PatientQuery.by_system(source_system + "-other")) == []
        assert len(find_patients(fhir, PatientQuery.by_system(source_system), count=100)) == len(
            cases
        )


def test_cli_pull_writes_the_cases(fhir_base_url, pushed, tmp_path):
    source_system, cases = pushed
    result = CliRunner().invoke(
        app,
        [
            "pull",
            "--server",
            fhir_base_url,
            "--system",
            source_system,
            "--out",
            str(tmp_path / "out"),
            "--raw",
            str(tmp_path / "raw.ndjson"),
            "--count",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    for case in cases:
        record = json.loads((tmp_path / "out" / f"{case.case_id}.json").read_text())
        assert Case.model_validate(record) == case
    report = _ndjson(tmp_path / "out" / "loss-report.ndjson")
    assert len(report) == len(cases)
    assert all(entry["ok"] and entry["losses"] == [] for entry in report)
    raw = _ndjson(tmp_path / "raw.ndjson")
    assert len(raw) == sum(len(build_bundles(c).transaction["entry"]) for c in cases)


# --- third-party data: the mCODE examples of Jenny M --------------------------------------------


def _drop_references(value: Any, keep: set[str]) -> tuple[Any, int]:
    """``value`` without references to resources outside ``keep``; empty parents go too."""
    dropped = 0
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and not ref.startswith("#") and ref not in keep:
            return None, 1
        out = {}
        for key, child in value.items():
            new, n = _drop_references(child, keep)
            dropped += n
            if new not in (None, {}, []):
                out[key] = new
        return out, dropped
    if isinstance(value, list):
        items = []
        for child in value:
            new, n = _drop_references(child, keep)
            dropped += n
            if new not in (None, {}, []):
                items.append(new)
        return items, dropped
    return value, 0


def jenny_m_as_loaded() -> tuple[list[dict[str, Any]], int]:
    """Jenny M's example resources without references to examples nobody provides.

    HAPI enforces referential integrity on write (tests/data/mcode-examples/README.md).
    """
    resources = jenny_m_resources()
    keep = {f"{r['resourceType']}/{r['id']}" for r in resources}
    cleaned, dropped = _drop_references(copy.deepcopy(resources), keep)
    return cleaned, dropped


@pytest.fixture(scope="module")
def jenny_loaded(fhir_base_url: str) -> list[dict[str, Any]]:
    resources, dropped = jenny_m_as_loaded()
    assert dropped == 17  # references to examples that do not exist (README lists them)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{fhir_base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        answer = fhir.transaction(bundle)
    statuses = [e["response"]["status"].split()[0] for e in answer["entry"]]
    assert set(statuses) <= {"200", "201"}, statuses
    return resources


@pytest.mark.parametrize("strategy", ["everything", "search"])
def test_mcode_examples_of_one_patient_are_pulled_with_a_loss_report(
    fhir_base_url, jenny_loaded, strategy
):
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        pulled = pull_many(
            fhir, PatientQuery.by_identifiers([f"{JENNY_SYSTEM}|MRN1234"]), strategy=strategy
        )
    (jenny,) = [p for p in pulled if p.patient == JENNY]
    assert jenny.read is not None
    keys = {f"{r['resourceType']}/{r['id']}" for r in jenny.resources}
    loaded = {f"{r['resourceType']}/{r['id']}" for r in jenny_loaded}
    # everything that is Jenny's came back; the bundle's Organization is nobody's (no resource
    # refers to it, and it is in no patient's compartment), so a patient pull cannot find it
    assert keys == loaded - {"Organization/us-core-organization-physician-services-inc"}
    assert jenny.gather_losses == []

    # not an IVC case; what maps is what the in-process reading of the same data maps
    assert not jenny.ok
    expected = read(jenny_loaded, JENNY_SYSTEM)
    assert jenny.read.fields == expected.fields
    assert jenny.read.error == expected.error
    fields = jenny.read.fields
    assert fields["follow_up"] == [{"when": {"date": "2018-11-01"}, "disease_status": "improving"}]
    assert fields["pathology"] == {"size_cm": [2.5]}
    assert fields["systemic_therapy"][0]["agents"] == ["doxorubicin"]
    assert fields["patient"]["birth_date"] == "1965-01-01"

    # the rest is in the loss report: each resource that does not map, and the lost elements
    report = jenny.loss_report()
    assert report["ok"] is False
    assert report["fields"] == fields
    whole = {x["resource"] for x in report["losses"] if x["element"] == ""}
    assert whole == keys - JENNY_MAPPED
    elements = {(x["resource"], x["element"]) for x in report["losses"]}
    assert (
        "Condition/primary-cancer-condition-jenny-m",
        "Condition.extension[histologyMorphologyBehavior]",
    ) in elements
    assert ("Condition/primary-cancer-condition-jenny-m", "Condition.code") in elements
    assert (JENNY, "Patient.name") in elements
    assert (
        "MedicationAdministration/cancer-related-medication-admin-doxorubicin-jenny-m",
        "MedicationAdministration.dosage",
    ) in elements
    assert {(x.resource, x.element, x.reason) for x in jenny.read.losses} == {
        (x.resource, x.element, x.reason) for x in expected.losses if x.resource in keys
    }
