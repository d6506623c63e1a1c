"""``--ids logical``: ids from the identifier's uuid5, ``PUT Type/id``, references ``Type/id``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fhir_ivc.bulk.ids import logical_resource, refuses_client_ids, rewrite_references
from fhir_ivc.bundle import build_bundles, case_from_bundle
from fhir_ivc.client import CapabilityInfo
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


def _cases() -> list[Case]:
    seeds = [Case.model_validate(r) for r in yaml.safe_load(SEED.read_text())]
    return seeds + [synthetic_case(i) for i in range(20)]


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.case_id)
def test_logical_transaction_puts_by_id_and_references_by_id(case):
    conditional = build_bundles(case).transaction
    logical = build_bundles(case, ids="logical").transaction

    ids = set()
    for cond, entry in zip(conditional["entry"], logical["entry"], strict=True):
        resource = entry["resource"]
        rtype, rid = resource["resourceType"], resource["id"]
        assert entry["request"] == {"method": "PUT", "url": f"{rtype}/{rid}"}
        # the id is the uuid of the entry's urn:uuid fullUrl, the identifiers are untouched
        assert entry["fullUrl"] == cond["fullUrl"] == f"urn:uuid:{rid}"
        assert resource.get("identifier") == cond["resource"].get("identifier")
        assert "id" not in cond["resource"]
        ids.add(f"{rtype}/{rid}")
    refs = _references([e["resource"] for e in logical["entry"]])
    assert refs, "a case bundle has internal references"
    assert not [r for r in refs if r.startswith("urn:uuid:")]
    assert set(refs) <= ids  # every reference resolves inside the bundle
    # the default mode is unchanged by the option's existence (golden files check its content)
    assert not [e for e in conditional["entry"] if "?identifier=" not in e["request"]["url"]]


@pytest.mark.parametrize("case", _cases()[:4], ids=lambda c: c.case_id)
def test_logical_transaction_reads_back_to_the_same_case(case):
    assert case_from_bundle(build_bundles(case, ids="logical").transaction).case == case


def test_logical_ids_are_stable_across_runs_and_distinct_across_cases():
    one, other = (synthetic_case(i) for i in (1, 2))
    first = [e["resource"]["id"] for e in build_bundles(one, ids="logical").transaction["entry"]]
    again = [e["resource"]["id"] for e in build_bundles(one, ids="logical").transaction["entry"]]
    elsewhere = {
        e["resource"]["id"] for e in build_bundles(other, ids="logical").transaction["entry"]
    }
    assert first == again
    assert not set(first) & elsewhere


def test_rewrite_references_keeps_unknown_and_logical_references():
    value = {
        "subject": {"reference": "urn:uuid:a"},
        "focus": [{"reference": "urn:uuid:b"}, {"reference": "http://elsewhere/Patient/1"}],
        "anchor": {"type": "Procedure", "identifier": {"system": "s", "value": "v"}},
    }
    out = rewrite_references(value, {"urn:uuid:a": "Patient/a"})
    assert out["subject"] == {"reference": "Patient/a"}
    assert out["focus"] == value["focus"]
    assert out["anchor"] == value["anchor"]
    assert value["subject"] == {"reference": "urn:uuid:a"}  # the input is not changed


def test_logical_resource_puts_the_id_second():
    out = logical_resource({"resourceType": "Patient", "id": "old", "active": True}, "new", {})
    assert list(out) == ["resourceType", "id", "active"]
    assert out["id"] == "new"


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        (
            "HAPI-0959: No resource exists on this server resource with ID[abc], and "
            "client-assigned IDs are not enabled.",
            True,
        ),
        ("HAPI-0960: Can not create resource with ID[123] ... at least one non-numeric", True),
        ("Client-defined ids are not allowed on this server", True),
        ("update as create is not supported", True),
        ("Observation.value[x]: value must be a Quantity", False),
        (None, False),
    ],
)
def test_refuses_client_ids_reads_server_messages(message, refused):
    assert refuses_client_ids(message) is refused


def test_capabilities_name_types_without_update_create():
    statement = {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {"type": "Patient", "updateCreate": False},
                    {"type": "Observation", "updateCreate": True},
                    {"type": "Procedure"},
                ],
            }
        ],
    }
    assert CapabilityInfo.from_statement(statement).no_update_create == {"Patient"}
