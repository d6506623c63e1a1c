"""Bundle rules every mapped case must satisfy, as assertion helpers.

Used on the seed cases (test_bundle_rules.py) and on generated cases (test_properties.py).
Each helper raises AssertionError naming the entry and element that break the rule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir_ivc.bundle import CaseBundles
from fhir_ivc.model import Case
from fhir_ivc.validation import validate_bundle, validate_resource

from ._fhir import MCODE, all_references, profiles

PATIENT_BUNDLE = MCODE + "mcode-patient-bundle"
CANCER_PATIENT = MCODE + "mcode-cancer-patient"


def assert_valid(bundle: dict[str, Any]) -> None:
    """Every entry resource validates on its own (structure, profiles); the bundle too."""
    for i, entry in enumerate(bundle["entry"]):
        issues = validate_resource(entry["resource"])
        assert issues == [], f"entry[{i}] {entry['resource']['resourceType']}: {issues}"
    assert validate_bundle(bundle) == []


def assert_references_resolve(bundle: dict[str, Any]) -> None:
    """Every ``reference`` anywhere (extensions, primitive ``_x`` siblings) is an entry fullUrl."""
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    for i, entry in enumerate(bundle["entry"]):
        for path, reference in all_references(entry["resource"]):
            assert reference in full_urls, f"entry[{i}].resource{path} -> {reference} dangles"


def assert_full_urls_unique(bundle: dict[str, Any]) -> None:
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert all(u.startswith("urn:uuid:") and len(u) == len("urn:uuid:") + 36 for u in full_urls)
    duplicates = {u for u in full_urls if full_urls.count(u) > 1}
    assert not duplicates, f"fullUrls used twice: {sorted(duplicates)}"


def assert_collection_rules(collection: dict[str, Any]) -> None:
    """mCODE patient bundle: type collection, one CancerPatient, ids equal the fullUrl uuids."""
    assert collection["resourceType"] == "Bundle"
    assert collection["type"] == "collection"
    assert PATIENT_BUNDLE in profiles(collection)
    patients = [
        e["resource"] for e in collection["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert len(patients) == 1, f"{len(patients)} Patients in the collection"
    assert CANCER_PATIENT in profiles(patients[0])
    for i, entry in enumerate(collection["entry"]):
        assert "request" not in entry, f"entry[{i}] has a request in a collection"
        assert entry["resource"].get("id") == entry["fullUrl"].removeprefix("urn:uuid:"), (
            f"entry[{i}].resource.id does not match its fullUrl"
        )


def search_token(param: str) -> tuple[str, str]:
    """A token search value as a FHIR server reads it (R4 search, "Escaping Search Parameters"):
    an unescaped ``,`` separates alternatives (there must be one), an unescaped ``|`` separates
    system from code, and ``\\,`` ``\\|`` ``\\$`` ``\\\\`` stand for the characters."""
    parts: list[list[str]] = [[""]]
    chars = iter(param)
    for c in chars:
        if c == "\\":
            parts[-1][-1] += next(chars, "")
        elif c == ",":
            parts.append([""])
        elif c == "|":
            parts[-1].append("")
        else:
            parts[-1][-1] += c
    assert len(parts) == 1, f"{param!r} is {len(parts)} alternatives, not one identifier"
    assert len(parts[0]) == 2, f"{param!r} is not one system|value pair"
    return parts[0][0], parts[0][1]


def assert_transaction_rules(transaction: dict[str, Any], case: Case) -> None:
    """PUT with a conditional url on the resource's first identifier; no resource ids."""
    assert transaction["resourceType"] == "Bundle"
    assert transaction["type"] == "transaction"
    for i, entry in enumerate(transaction["entry"]):
        resource = entry["resource"]
        rtype = resource["resourceType"]
        assert "id" not in resource, f"entry[{i}] {rtype} has an id in a transaction"
        request = entry["request"]
        assert request["method"] == "PUT", f"entry[{i}] {rtype}: {request['method']}"
        parts = urlsplit(request["url"])
        assert parts.path == rtype, f"entry[{i}]: url {request['url']!r} is not on {rtype}"
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        assert [k for k, _ in query] == ["identifier"], f"entry[{i}]: query {parts.query!r}"
        first = resource["identifier"][0]
        assert search_token(query[0][1]) == (first["system"], first["value"]), (
            f"entry[{i}] {rtype}: conditional url {request['url']!r} does not select "
            "identifier[0] (as a FHIR server parses the token)"
        )
    patient = transaction["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    assert patient["identifier"][0] == {"system": case.source_system, "value": case.case_id}


def assert_same_resources(bundles: CaseBundles) -> None:
    """Both bundles carry the same resources, in the same order, under the same fullUrls."""
    tx, coll = bundles.transaction["entry"], bundles.collection["entry"]
    assert [e["fullUrl"] for e in tx] == [e["fullUrl"] for e in coll]
    for a, b in zip(tx, coll, strict=True):
        assert {k: v for k, v in b["resource"].items() if k != "id"} == a["resource"]
    assert set(bundles.sources) == {e["fullUrl"] for e in tx}


def assert_bundle_rules(bundles: CaseBundles, case: Case) -> None:
    for bundle in (bundles.transaction, bundles.collection):
        assert_full_urls_unique(bundle)
        assert_references_resolve(bundle)
        assert_valid(bundle)
    assert_collection_rules(bundles.collection)
    assert_transaction_rules(bundles.transaction, case)
    assert_same_resources(bundles)
