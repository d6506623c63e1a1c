"""``--max-entries`` on the real HAPI server: case-2 (44 resources and its manifest) in parts of
at most 10 entries. Every reference resolves on the server, the counts by type equal the
bundle's, a re-run (split or not) is all ``unchanged``, and a correction still removes exactly
the withdrawn metastasis."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import FhirClient
from fhir_ivc.exchange import push_many
from fhir_ivc.model import Case

from .test_corrections import _case_2, _server_types
from .test_push import _everything, _patient_id, _references, _source_system

CAP = 10


def _push(base: str, record: dict[str, Any], max_entries: int | None = CAP):
    bundles = build_bundles(Case.model_validate(record))
    with FhirClient(base, timeout=120) as client:
        (result,) = push_many(
            client,
            [(bundles.case_id, bundles.transaction, bundles.sources)],
            corrections="delete",
            max_entries=max_entries,
        )
    assert result.ok, result.error
    return bundles, result


def test_a_case_in_parts_lands_whole_and_re_runs_unchanged(fhir_base_url, fhir):
    source_system = _source_system()
    record, edited = _case_2(source_system)
    bundles, first = _push(fhir_base_url, record)
    entries = len(bundles.transaction["entry"]) + 1  # and the manifest
    assert first.counts["created"] == entries
    assert first.requests >= 1 + entries // CAP  # the manifest search and the parts
    types = Counter(e["resource"]["resourceType"] for e in bundles.transaction["entry"])
    assert _server_types(fhir, source_system) == types + Counter({"List": 1})
    # every reference resolves to a resource of this case
    patient_id = _patient_id(fhir, source_system, "case-2")
    held = _everything(fhir, patient_id)
    keys = {f"{r['resourceType']}/{r['id']}" for r in held}
    for resource in held:
        for path, ref in _references(resource):
            if "/" in ref and not ref.startswith(("http", "urn:", "#")):
                assert ref in keys, f"{resource['resourceType']}{path}: {ref} does not resolve"

    _, again = _push(fhir_base_url, record)
    assert again.counts["unchanged"] == entries
    _, whole = _push(fhir_base_url, record, max_entries=None)  # split or not: the same content
    assert whole.counts["unchanged"] == entries

    _, corrected = _push(fhir_base_url, edited)
    deleted = [e for e in corrected.entries if e.outcome == "deleted"]
    assert [(e.resource_type, e.source) for e in deleted] == [
        ("Condition", "metastasis.liver (removed)")
    ]
    assert _server_types(fhir, source_system) == types - Counter({"Condition": 1}) + Counter(
        {"List": 1}
    )
