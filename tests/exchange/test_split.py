"""Reference-aware splitting (``--max-entries``): the parts, the rewritten references, the
per-case result, and a server that answers 413 (respx)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fhir_ivc.bundle import build_bundles
from fhir_ivc.exchange.split import (
    SplitError,
    _references,
    location_reference,
    plan_parts,
    rewrite_part,
)
from fhir_ivc.model import Case
from tests.client._support import make_response, outcome

from .conftest import BASE

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


@pytest.fixture(scope="module")
def case_2() -> dict[str, Any]:
    records = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    bundles = build_bundles(
        Case.model_validate(next(r for r in records if r["case_id"] == "case-2"))
    )
    return {"bundle": bundles.transaction, "sources": bundles.sources}


def _position(parts: list[list[int]]) -> dict[int, int]:
    return {i: k for k, part in enumerate(parts) for i in part}


@pytest.mark.parametrize("cap", [8, 10, 25, 44, 100])
def test_every_reference_points_to_an_earlier_part_or_the_same(case_2, cap):
    bundle = case_2["bundle"]
    parts = plan_parts(bundle, cap)
    assert sorted(i for part in parts for i in part) == list(range(len(bundle["entry"])))
    assert all(len(part) <= cap for part in parts)
    assert len(parts) == (1 if cap >= len(bundle["entry"]) else len(parts))
    where = _position(parts)
    by_url = {e["fullUrl"]: i for i, e in enumerate(bundle["entry"])}
    for i, entry in enumerate(bundle["entry"]):
        refs: set[str] = set()
        _references(entry["resource"], refs)
        for ref in refs & set(by_url):
            assert where[by_url[ref]] <= where[i], (i, ref)


def test_a_cycle_larger_than_the_cap_names_the_least_cap(case_2):
    with pytest.raises(
        SplitError, match=r"--max-entries 5 is too small for this case \(at least 8\)"
    ):
        plan_parts(case_2["bundle"], 5)


def test_last_entries_go_last_in_the_given_order(case_2):
    bundle = case_2["bundle"]
    n = len(bundle["entry"])
    parts = plan_parts(bundle, 10, last=[n - 1, 0])
    flat = [i for part in parts for i in part]
    assert flat[-2:] == [n - 1, 0]


def test_references_to_earlier_parts_become_type_and_id(case_2):
    bundle = case_2["bundle"]
    patient_url = bundle["entry"][0]["fullUrl"]
    part = rewrite_part(bundle, [1], {patient_url: "Patient/77"})
    text = json.dumps(part)
    assert patient_url not in text
    assert '"reference": "Patient/77"' in text
    assert bundle["entry"][1]["resource"]["subject"]["reference"] == patient_url  # not changed


def test_location_reference():
    assert location_reference("Condition/12/_history/3") == "Condition/12"
    assert location_reference("http://x/fhir/Condition/12/_history/3") == "Condition/12"
    assert location_reference(None) is None
    assert location_reference("garbage") is None


@pytest.mark.anyio
async def test_parts_are_sent_in_order_with_resolved_references(client, router, case_2):
    bundle = copy.deepcopy(case_2["bundle"])
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        base = sum(len(b["entry"]) for b in sent[:-1])
        entries = [
            {
                "response": {
                    "status": "201 Created",
                    "location": f"{e['resource']['resourceType']}/{base + n}/_history/1",
                }
            }
            for n, e in enumerate(body["entry"])
        ]
        return make_response(
            200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        )

    router.post(BASE).mock(side_effect=answer)
    result = await client.engine(
        "push_bundle", bundle, case_id="case-2", sources=case_2["sources"], max_entries=10
    )
    assert result.ok, result.error
    assert result.counts["created"] == len(bundle["entry"])
    assert result.requests == len(sent) >= 5
    assert all(len(b["entry"]) <= 10 for b in sent)
    # no part refers to a urn:uuid it does not carry itself
    for body in sent:
        own = {e.get("fullUrl") for e in body["entry"]}
        refs: set[str] = set()
        _references(body, refs)
        assert refs <= own
    # per-case result in the bundle's order
    assert [e.full_url for e in result.entries] == [e["fullUrl"] for e in bundle["entry"]]


@pytest.mark.anyio
async def test_a_failing_part_fails_the_case_and_the_rest_is_not_sent(client, router, case_2):
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body)
        if len(calls) == 2:
            return make_response(422, outcome("invalid", code="invalid"))
        entries = [
            {"response": {"status": "201 Created", "location": f"X/{len(calls)}{n}/_history/1"}}
            for n, _ in enumerate(body["entry"])
        ]
        return make_response(
            200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        )

    router.post(BASE).mock(side_effect=answer)
    result = await client.engine(
        "push_bundle", case_2["bundle"], case_id="case-2", sources=case_2["sources"], max_entries=10
    )
    assert not result.ok
    assert len(calls) == 2
    assert "(part 2 of" in result.error
    assert "parts 1-1 were written" in result.error
    outcomes = [e.outcome for e in result.entries]
    assert outcomes.count("created") == len(calls[0]["entry"])
    assert outcomes.count("failed") == len(case_2["bundle"]["entry"]) - len(calls[0]["entry"])
    assert any(e.message == "not sent: an earlier part of this case failed" for e in result.entries)


@pytest.mark.anyio
async def test_a_case_too_cyclic_for_the_cap_fails_without_a_request(client, router, case_2):
    result = await client.engine(
        "push_bundle", case_2["bundle"], case_id="case-2", sources=case_2["sources"], max_entries=5
    )
    assert not result.ok
    assert "case 'case-2'" in result.error
    assert "at least 8" in result.error


@pytest.mark.anyio
async def test_413_names_the_case_and_advises_max_entries(client, router, case_2):
    router.post(BASE).mock(return_value=make_response(413, outcome("Request Entity Too Large")))
    result = await client.engine(
        "push_bundle", case_2["bundle"], case_id="case-2", sources=case_2["sources"]
    )
    assert not result.ok
    assert result.status_code == 413
    assert result.error.startswith("case 'case-2': transaction rejected with HTTP 413")
    assert "--max-entries" in result.error
