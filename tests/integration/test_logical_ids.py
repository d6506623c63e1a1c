"""``--ids logical`` on the real HAPI server: the same content as conditional updates.

Both modes push the same cases (seeds + synthetic, one ``source_system`` unique to the test)
into one server. Every element identifier then names two resources, one per mode; stripped of
what the modes are allowed to differ in (``id``, ``meta``, and literal references, compared by
the identifier of their target), the two must be equal. A re-push by logical id changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import yaml

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import FhirClient
from fhir_ivc.exchange import push_many
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

from .test_push import SEED


def _cases(source_system: str) -> list[Case]:
    records = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    seeds = [Case.model_validate({**r, "source_system": source_system}) for r in records]
    return seeds + [synthetic_case(i, seed=13, source_system=source_system) for i in range(4)]


def _key(resource: dict[str, Any]) -> str:
    ident = resource["identifier"][0]
    return f"{ident['system']}|{ident['value']}"


def _normal(value: Any, keys: dict[str, str]) -> Any:
    """``value`` without id/meta, each literal reference replaced by its target's identifier."""
    if isinstance(value, dict):
        out = {k: _normal(v, keys) for k, v in value.items() if k not in ("id", "meta")}
        if isinstance(value.get("reference"), str):
            out["reference"] = keys[value["reference"]]
        return out
    if isinstance(value, list):
        return [_normal(v, keys) for v in value]
    return value


def test_logical_and_conditional_pushes_store_the_same_content(fhir_base_url, fhir):
    cases = _cases(f"https://fhir-ivc.example.org/fhir/sid/test-{uuid.uuid4()}")
    by_mode = {
        mode: [build_bundles(c, ids=mode) for c in cases] for mode in ("conditional", "logical")
    }
    with FhirClient(fhir_base_url, timeout=120) as client:
        for mode, bundles in by_mode.items():
            results = push_many(client, [(b.case_id, b.transaction, b.sources) for b in bundles])
            assert all(r.ok for r in results), [r.error for r in results if not r.ok]
            assert all(r.counts["created"] == len(r.entries) for r in results), mode
        again = push_many(
            client, [(b.case_id, b.transaction, b.sources) for b in by_mode["logical"]]
        )
    assert all(r.ok and r.counts["unchanged"] == len(r.entries) for r in again)

    stored: dict[str, list[dict[str, Any]]] = {}
    for bundle in by_mode["conditional"]:
        for entry in bundle.transaction["entry"]:
            url = entry["request"]["url"]  # Type?identifier=system|value
            page = fhir.get(url).raise_for_status().json()
            stored[url] = [e["resource"] for e in page.get("entry", [])]
    assert all(len(found) == 2 for found in stored.values()), "one resource per mode"

    keys = {f"{r['resourceType']}/{r['id']}": _key(r) for rs in stored.values() for r in rs}
    logical_ids = {e["resource"]["id"] for b in by_mode["logical"] for e in b.transaction["entry"]}
    compared = 0
    for found in stored.values():
        logical = [r for r in found if r["id"] in logical_ids]
        conditional = [r for r in found if r["id"] not in logical_ids]
        assert len(logical) == len(conditional) == 1
        assert _normal(logical[0], keys) == _normal(conditional[0], keys)
        compared += 1
    assert compared == sum(len(b.transaction["entry"]) for b in by_mode["logical"])


def test_logical_ids_are_the_resource_ids_on_the_server(fhir_base_url, fhir: httpx.Client):
    case = synthetic_case(7, seed=13, source_system=f"urn:uuid:{uuid.uuid4()}")
    bundles = build_bundles(case, ids="logical")
    with FhirClient(fhir_base_url, timeout=120) as client:
        (result,) = push_many(client, [(bundles.case_id, bundles.transaction, bundles.sources)])
    assert result.ok, result.error
    for entry in bundles.transaction["entry"]:
        stored = fhir.get(entry["request"]["url"]).raise_for_status().json()
        assert stored["id"] == entry["resource"]["id"]
        assert stored["identifier"] == entry["resource"]["identifier"]
