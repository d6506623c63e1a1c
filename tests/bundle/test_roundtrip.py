"""case -> FHIR -> case is exact (in process; the HAPI round trip is in tests/integration)."""

import json

from hypothesis import given

from fhir_ivc.bundle import build_bundles, case_from_bundle
from fhir_ivc.model import Case
from tests.strategies import cases


def _diff(a: Case, b: Case) -> str:
    left, right = a.model_dump(mode="json"), b.model_dump(mode="json")
    lines = [
        f"{k}:\n  sent {json.dumps(left[k])}\n  read {json.dumps(right.get(k))}"
        for k in left
        if left[k] != right.get(k)
    ]
    return "\n".join(lines)


def _assert_roundtrip(case: Case, bundle: dict) -> None:
    result = case_from_bundle(bundle)
    assert result.error is None, result.error
    assert result.losses == [], [loss.as_dict() for loss in result.losses]
    assert result.case is not None
    assert result.case == case, _diff(case, result.case)


@given(cases())
def test_collection_bundle_round_trip(case: Case) -> None:
    _assert_roundtrip(case, build_bundles(case).collection)


@given(cases())
def test_transaction_bundle_round_trip(case: Case) -> None:
    _assert_roundtrip(case, build_bundles(case).transaction)


@given(cases())
def test_round_trip_survives_shuffled_entries(case: Case) -> None:
    # a server returns resources in any order: list order must come back from the data
    bundle = build_bundles(case).collection
    shuffled = {**bundle, "entry": list(reversed(bundle["entry"]))}
    _assert_roundtrip(case, shuffled)
