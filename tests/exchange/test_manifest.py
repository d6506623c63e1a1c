"""The case manifest: its identifier, what it lists, what is stale, and the corrections."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhir_ivc.bundle import build_bundles
from fhir_ivc.bundle.assemble import conditional_url
from fhir_ivc.exchange.manifest import (
    Stale,
    case_resources,
    corrections,
    entered_in_error,
    is_manifest,
    manifest_entry,
    manifest_identifier,
    manifest_search,
    stale_items,
    with_manifest,
)
from fhir_ivc.exchange.push import plan_entries
from fhir_ivc.mappers._context import ELEMENT_ID_SYSTEM
from fhir_ivc.model import Case

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


@pytest.fixture(scope="module")
def case_2() -> dict[str, Any]:
    records = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    record: dict[str, Any] = next(r for r in records if r["case_id"] == "case-2")
    return record


def _bundle(record: dict[str, Any], ids: Any = "conditional") -> dict[str, Any]:
    return build_bundles(Case.model_validate(record), ids=ids).transaction


def _as_on_server(entry: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the server holds it: every urn:uuid reference resolved to Type/n."""
    server = copy.deepcopy(entry["resource"])
    for n, item in enumerate(server["entry"]):
        item["item"]["reference"] = f"{item['item']['type']}/{n}"
    return server


def test_the_manifest_lists_every_entry_by_reference_and_identifier(case_2):
    bundle = _bundle(case_2)
    entry = manifest_entry(bundle)
    assert entry is not None
    manifest = entry["resource"]
    assert is_manifest(manifest)
    assert (manifest["status"], manifest["mode"]) == ("current", "working")
    assert manifest["subject"] == {"reference": bundle["entry"][0]["fullUrl"]}
    assert len(manifest["entry"]) == len(bundle["entry"])
    first = manifest["entry"][0]["item"]
    assert first["reference"] == bundle["entry"][0]["fullUrl"]
    assert first["identifier"] == {"system": case_2["source_system"], "value": "case-2"}
    system, value = manifest_identifier(case_2["source_system"], "case-2")
    assert manifest["identifier"] == [{"system": system, "value": value}]
    assert system == ELEMENT_ID_SYSTEM
    assert value.endswith("/manifest")
    assert entry["request"]["method"] == "PUT"
    assert entry["request"]["url"].startswith("List?identifier=")
    assert manifest_search(bundle) == {"identifier": f"{system}|{value}"}


def test_the_manifest_identifier_is_stable_and_per_case(case_2):
    assert manifest_entry(_bundle(case_2)) == manifest_entry(_bundle(case_2))
    other = {**case_2, "case_id": "case-2b"}
    assert manifest_identifier(case_2["source_system"], "case-2") != manifest_identifier(
        case_2["source_system"], "case-2b"
    )
    assert manifest_entry(_bundle(other))["fullUrl"] != manifest_entry(_bundle(case_2))["fullUrl"]


def test_a_withdrawn_item_is_stale_and_nothing_else(case_2):
    old = _bundle(case_2)
    server = _as_on_server(manifest_entry(old))
    assert stale_items(server, old) == []
    edited = copy.deepcopy(case_2)
    edited["metastases"] = [m for m in edited["metastases"] if m["site"] != "liver"]
    (stale,) = stale_items(server, _bundle(edited))
    assert stale.resource_type == "Condition"
    assert stale.source == "metastasis.liver (removed)"
    assert stale.identifier[1].endswith("/metastasis.liver")


def test_logical_ids_list_type_and_id(case_2):
    bundle = _bundle(case_2, ids="logical")
    entry = manifest_entry(bundle)
    assert entry["request"]["url"] == f"List/{entry['resource']['id']}"
    first = entry["resource"]["entry"][0]["item"]
    assert first["reference"] == bundle["entry"][0]["request"]["url"]
    assert stale_items(entry["resource"], bundle) == []


def test_delete_and_entered_in_error_corrections():
    stale = [
        Stale("Condition/7", "Condition", ("s", "u/metastasis.liver")),
        Stale("Observation/8", "Observation", ("s", "u/x")),
        Stale("Patient/9", "Patient", ("s", "u/y")),
    ]
    deletes = corrections(stale, "delete")
    assert [e["request"] for e, _ in deletes] == [
        {"method": "DELETE", "url": "Condition/7"},
        {"method": "DELETE", "url": "Observation/8"},
        {"method": "DELETE", "url": "Patient/9"},
    ]
    current = {
        "Condition/7": {
            "resourceType": "Condition",
            "id": "7",
            "meta": {"versionId": "3"},
            "clinicalStatus": {"text": "active"},
        },
        "Observation/8": {"resourceType": "Observation", "id": "8", "status": "final"},
        "Patient/9": {"resourceType": "Patient", "id": "9"},
    }
    marks = corrections(stale, "entered-in-error", current)
    condition, observation, patient = (e for e, _ in marks)
    assert condition["request"] == {"method": "PUT", "url": "Condition/7", "ifMatch": 'W/"3"'}
    assert condition["resource"]["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in condition["resource"]
    assert "meta" not in condition["resource"]
    assert observation["resource"]["status"] == "entered-in-error"
    assert patient["request"]["method"] == "DELETE"  # no entered-in-error status: deleted
    assert entered_in_error({"resourceType": "BodyStructure"}) == {
        "resourceType": "BodyStructure",
        "active": False,
    }


def test_with_manifest_appends_manifest_and_corrections_planned_as_such(case_2):
    bundle = _bundle(case_2)
    stale = [Stale("Condition/7", "Condition", ("s", "u/metastasis.liver"))]
    new, sources, fixes = with_manifest(bundle, {}, stale, "delete")
    assert len(new["entry"]) == len(bundle["entry"]) + 2
    assert fixes == {len(bundle["entry"]) + 1: "metastasis.liver (removed)"}
    planned = plan_entries(new, sources, fixes)
    assert planned[-2].source == "manifest"
    assert not planned[-2].correction
    assert planned[-1].correction
    assert planned[-1].source == "metastasis.liver (removed)"
    # a bundle that carries a manifest already gets it replaced, not doubled
    again, _, _ = with_manifest(new, sources)
    assert sum(is_manifest(e.get("resource") or {}) for e in again["entry"]) == 1


def test_a_bundle_without_patient_gets_no_manifest():
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert manifest_entry(bundle) is None
    assert manifest_search(bundle) is None
    assert with_manifest(bundle, None) == (bundle, {}, {})


def test_escaped_identifiers_compare_equal():
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": {"resourceType": "Patient"},
                "request": {"method": "PUT", "url": conditional_url("Patient", "s|a", "v,1$")},
            }
        ],
    }
    item = manifest_entry(bundle)["resource"]["entry"][0]["item"]
    assert item["identifier"] == {"system": "s|a", "value": "v,1$"}


def test_case_resources_drop_the_manifest_and_with_the_flag_what_it_does_not_list():
    manifest = {
        "resourceType": "List",
        "identifier": [{"system": ELEMENT_ID_SYSTEM, "value": "u/manifest"}],
        "entry": [{"item": {"reference": "Condition/1"}}],
    }
    items = [
        ("Patient/p", {"resourceType": "Patient"}),
        ("Condition/1", {"resourceType": "Condition"}),
        ("Observation/2", {"resourceType": "Observation"}),
        ("List/m", manifest),
    ]
    assert [k for k, _ in case_resources(items)] == ["Patient/p", "Condition/1", "Observation/2"]
    listed = case_resources(items, manifest_only=True)
    assert [k for k, _ in listed] == ["Patient/p", "Condition/1"]
    no_manifest = items[:3]
    assert case_resources(no_manifest, manifest_only=True) == no_manifest
