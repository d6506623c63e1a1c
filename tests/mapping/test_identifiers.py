"""The identifier contract: the identifiers and conditional URLs of the seed cases never move.

A push is a transaction of conditional ``PUT Type?identifier=system|value``: a resource whose
identifier changes is *created again* on every server that already holds the case, beside the
old one. So a refactor must not change them, and ``--update-golden`` does not rewrite this file.

``tests/data/seed/<case>/expected/identifiers.json`` lists, per entry of the transaction bundle
and in bundle order: the resource type, the fullUrl (a uuid derived like the identifier), every
identifier, the conditional URL, and the collection bundle's id; and the identifier, fullUrl and
conditional URL of the case's manifest ``List`` that ``push`` writes beside them
(:mod:`fhir_ivc.exchange.manifest`). A change that is intended needs
a migration note in docs/mapping.md ("Identifiers") saying how servers holding the old ids are
brought over; then regenerate the file with ``pytest tests/mapping/test_identifiers.py
--update-identifiers`` and let a reviewer read the diff.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhir_ivc.bundle import CaseBundles
from fhir_ivc.exchange.manifest import manifest_entry

from ._fhir import SEED, seed_bundles, seed_case_ids


def identifier_contract(bundles: CaseBundles) -> dict[str, Any]:
    manifest = manifest_entry(bundles.transaction)  # written by push beside the entries
    assert manifest is not None
    return {
        "collection_id": bundles.collection["id"],
        "manifest": {
            "fullUrl": manifest["fullUrl"],
            "identifier": manifest["resource"]["identifier"],
            "url": manifest["request"]["url"],
        },
        "entries": [
            {
                "resourceType": entry["resource"]["resourceType"],
                "fullUrl": entry["fullUrl"],
                "identifier": entry["resource"].get("identifier", []),
                "url": entry["request"]["url"],
            }
            for entry in bundles.transaction["entry"]
        ],
    }


@pytest.fixture
def update_identifiers(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-identifiers", default=False))


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_identifiers_and_conditional_urls_are_pinned(case_id: str, update_identifiers: bool):
    actual = json.loads(json.dumps(identifier_contract(seed_bundles(case_id))))
    path = SEED / case_id / "expected" / "identifiers.json"
    if update_identifiers:
        path.write_text(json.dumps(actual, indent=2) + "\n", encoding="utf-8")
        return
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual["collection_id"] == expected["collection_id"]
    assert actual["manifest"] == expected["manifest"], f"{case_id}: the manifest's id moved"
    lost = [e for e in expected["entries"] if e not in actual["entries"]]
    new = [e for e in actual["entries"] if e not in expected["entries"]]
    assert (lost, new) == ([], []), (
        f"{case_id}: identifiers changed (a push would duplicate data on every server): "
        f"{len(lost)} gone, {len(new)} new; first gone: {lost[:1]}, first new: {new[:1]}"
    )
    assert actual == expected, f"{case_id}: same identifiers, different bundle order"


def test_every_seed_entry_has_a_pinned_identifier():
    """The contract covers every resource: each conditional URL names its own identifier."""
    for case_id in seed_case_ids():
        contract = identifier_contract(seed_bundles(case_id))
        urls = [e["url"] for e in contract["entries"]]
        assert len(urls) == len(set(urls)) > 10
        for entry in contract["entries"]:
            system, value = entry["identifier"][0]["system"], entry["identifier"][0]["value"]
            assert entry["url"].startswith(f"{entry['resourceType']}?identifier=")
            assert value.split("/")[-1].replace("|", "") in entry["url"].replace("%7C", "|")
            assert system
