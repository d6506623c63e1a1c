"""Bundle rules on the seed cases, and proof that each rule check catches a broken bundle."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ._fhir import all_references, seed_bundles, seed_case, seed_case_ids
from ._rules import (
    assert_bundle_rules,
    assert_collection_rules,
    assert_full_urls_unique,
    assert_references_resolve,
    assert_transaction_rules,
    assert_valid,
    search_token,
)


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_seed_bundles_follow_the_rules(case_id: str) -> None:
    assert_bundle_rules(seed_bundles(case_id), seed_case(case_id))


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_every_reference_is_internal(case_id: str) -> None:
    """All references are urn:uuid fullUrls: a transaction needs nothing outside itself."""
    bundle = seed_bundles(case_id).transaction
    refs = [r for e in bundle["entry"] for _, r in all_references(e["resource"])]
    assert refs
    assert all(r.startswith("urn:uuid:") for r in refs)


# --- each rule check fails on a bundle that breaks it ----------------------------------------
def _tx() -> dict[str, Any]:
    return copy.deepcopy(seed_bundles("case-2").transaction)


def _coll() -> dict[str, Any]:
    return copy.deepcopy(seed_bundles("case-2").collection)


def _dangling_in_extension(b: dict[str, Any]) -> None:
    """A reference nested in an extension of a primitive's ``_x`` sibling."""
    for e in b["entry"]:
        onset = e["resource"].get("_onsetDateTime")
        if onset:
            relative = onset["extension"][1]["extension"][0]
            relative["valueReference"]["reference"] = (
                "urn:uuid:" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
            )
            return
    raise AssertionError("no _onsetDateTime in case-2")


def _duplicate_full_url(b: dict[str, Any]) -> None:
    b["entry"][3]["fullUrl"] = b["entry"][4]["fullUrl"]


def _invalid_element(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["onsetAge"]["value"] = "sixty-five"


def _unknown_element(b: dict[str, Any]) -> None:
    b["entry"][0]["resource"]["ageAtDiagnosis"] = 65


def _post(b: dict[str, Any]) -> None:
    b["entry"][5]["request"]["method"] = "POST"


def _url_other_identifier(b: dict[str, Any]) -> None:
    b["entry"][5]["request"]["url"] = b["entry"][6]["request"]["url"]


def _resource_id(b: dict[str, Any]) -> None:
    b["entry"][2]["resource"]["id"] = "x"


def _two_patients(b: dict[str, Any]) -> None:
    b["entry"].append(copy.deepcopy(b["entry"][0]))
    b["entry"][-1]["fullUrl"] = "urn:uuid:" + "1" * 8 + "-1111-1111-1111-" + "1" * 12
    b["entry"][-1]["resource"]["id"] = "1" * 8 + "-1111-1111-1111-" + "1" * 12


def _id_not_uuid(b: dict[str, Any]) -> None:
    b["entry"][3]["resource"]["id"] = b["entry"][4]["resource"]["id"]


def _no_bundle_profile(b: dict[str, Any]) -> None:
    del b["meta"]


BREAKS: list[tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None], Any]] = [
    (_tx, _dangling_in_extension, assert_references_resolve),
    (_tx, _dangling_in_extension, assert_valid),  # validate_bundle reports it too
    (_tx, _duplicate_full_url, assert_full_urls_unique),
    (_tx, _invalid_element, assert_valid),
    (_coll, _unknown_element, assert_valid),
    (_tx, _post, lambda b: assert_transaction_rules(b, seed_case("case-2"))),
    (_tx, _url_other_identifier, lambda b: assert_transaction_rules(b, seed_case("case-2"))),
    (_tx, _resource_id, lambda b: assert_transaction_rules(b, seed_case("case-2"))),
    (_coll, _two_patients, assert_collection_rules),
    (_coll, _id_not_uuid, assert_collection_rules),
    (_coll, _no_bundle_profile, assert_collection_rules),
]


@pytest.mark.parametrize(
    ("make", "breaker", "check"), BREAKS, ids=[f"{b.__name__}" for _, b, _ in BREAKS]
)
def test_rule_check_catches(
    make: Callable[[], dict[str, Any]],
    breaker: Callable[[dict[str, Any]], None],
    check: Callable[[dict[str, Any]], None],
) -> None:
    bundle = make()
    check(bundle)  # intact: passes
    breaker(bundle)
    with pytest.raises(AssertionError):
        check(bundle)


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("https://x.org/sid|case-1", ("https://x.org/sid", "case-1")),
        ("urn:a\\,b|v", ("urn:a,b", "v")),
        ("urn:a\\|b|v\\\\", ("urn:a|b", "v\\")),
    ],
)
def test_search_token_reads_like_a_server(param: str, expected: tuple[str, str]) -> None:
    assert search_token(param) == expected


@pytest.mark.parametrize("param", ["urn:a,b|v", "urn:a|b|v", "no-system"])
def test_search_token_rejects_ambiguous_tokens(param: str) -> None:
    with pytest.raises(AssertionError):
        search_token(param)
