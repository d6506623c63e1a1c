"""Determinism and identity: same case -> same bytes; edits keep identities; cases never collide.

Identifiers and fullUrls are uuid5 values of (source system, case id, element key). A re-run of
the same case must produce the same bundles (a conditional-update load is then a no-op), an
edit of a value must keep every identity (the server updates the resource instead of creating
a second one), and two cases must never share an identity, even when only their source system
tells them apart.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.model import Case

from ._fhir import SEED, seed_case_ids


def raw(case_id: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((SEED / case_id / "input" / "case.json").read_text("utf-8"))
    return record


def mapped(record: dict[str, Any]) -> CaseBundles:
    return build_bundles(Case.model_validate(record))


def identities(bundles: CaseBundles) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(fullUrl, resourceType, identifiers) of every entry, in bundle order."""
    return [
        (
            e["fullUrl"],
            e["resource"]["resourceType"],
            tuple((i["system"], i["value"]) for i in e["resource"].get("identifier", [])),
        )
        for e in bundles.transaction["entry"]
    ]


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_same_case_same_bytes(case_id: str) -> None:
    first = mapped(raw(case_id))
    again = mapped(raw(case_id))  # a new Case object from the same record
    for kind in ("transaction", "collection"):
        assert orjson.dumps(getattr(first, kind)) == orjson.dumps(getattr(again, kind))
    assert first.sources == again.sources


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_mapping_does_not_mutate_the_case(case_id: str) -> None:
    case = Case.model_validate(raw(case_id))
    before = case.model_dump()
    build_bundles(case)
    assert case.model_dump() == before


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(record: dict[str, Any]) -> None:
        node: Any = record
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value

    return edit


EDITS: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("case-1", "imaging finding text", _set("imaging.1.findings", "a different finding")),
    ("case-1", "pathology conclusion", _set("pathology.conclusion", "Revised conclusion.")),
    ("case-1", "blood loss value", _set("surgery.blood_loss_ml", 350)),
    ("case-1", "surgery notes", _set("surgery.notes", ["one note only"])),
    ("case-1", "metastasis timing", _set("metastases.0.detected.relative.offset", 10)),
    ("case-1", "follow-up status", _set("follow_up.0.disease_status", "worsening")),
    ("case-1", "grade", _set("pathology.grade", "intermediate")),
    ("case-2", "symptom text", _set("presentation.symptoms.1.text", "diffuse abdominal pain")),
    ("case-2", "graft material", _set("surgery.ivc_management.0.graft_material", "ptfe")),
    ("case-2", "complication note", _set("surgery.complications.0.management", "drained")),
    ("case-2", "imaging size", _set("imaging.0.dimensions_cm", [7.1, 6.5, 9.4])),
    ("case-2", "age", _set("patient.age_at_diagnosis_years", 66)),
]


@pytest.mark.parametrize(("case_id", "what", "edit"), EDITS, ids=[e[1] for e in EDITS])
def test_editing_a_value_keeps_every_identity(
    case_id: str, what: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    record = raw(case_id)
    edited = copy.deepcopy(record)
    edit(edited)
    before, after = mapped(record), mapped(edited)
    assert before.transaction != after.transaction, f"the edit ({what}) changed nothing"
    assert identities(after) == identities(before)
    assert after.collection["id"] == before.collection["id"]


def test_adding_an_item_keeps_the_other_identities() -> None:
    """A new imaging study (another modality) or metastasis adds entries, renames none."""
    record = raw("case-2")
    edited = copy.deepcopy(record)
    edited["imaging"].insert(0, {"modality": "mri", "region": "abdomen"})
    edited["metastases"].insert(
        0, {"site": "bone", "detected": {"relative": {"offset": 3, "unit": "mo"}}}
    )
    before = set(identities(mapped(record)))
    after = set(identities(mapped(edited)))
    assert before < after
    assert len(after - before) >= 2


def test_removing_an_item_keeps_the_other_identities() -> None:
    record = raw("case-2")
    edited = copy.deepcopy(record)
    del edited["metastases"][0]  # lung; liver keeps its identity
    edited["systemic_therapy"][0]["start"] = edited["metastases"][0]["detected"]
    after = set(identities(mapped(edited)))
    assert after < set(identities(mapped(record)))


def _all_ids(bundles: CaseBundles) -> set[tuple[str, str]]:
    ids = {("fullUrl", e["fullUrl"]) for e in bundles.transaction["entry"]}
    ids |= {
        (i["system"], i["value"])
        for e in bundles.transaction["entry"]
        for i in e["resource"].get("identifier", [])
    }
    ids.add(("bundle", bundles.collection["id"]))
    return ids


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_same_case_id_other_source_system_shares_nothing(case_id: str) -> None:
    record = raw(case_id)
    other = {**record, "source_system": "https://another-hospital.example.org/fhir/sid/cases"}
    a, b = mapped(record), mapped(other)
    assert _all_ids(a).isdisjoint(_all_ids(b))
    # the Patient's own identifier is (source system, case id): same value, other system
    assert b.transaction["entry"][0]["resource"]["identifier"][0] == {
        "system": other["source_system"],
        "value": record["case_id"],
    }


def test_other_case_id_same_source_system_shares_nothing() -> None:
    a = mapped(raw("case-1"))
    b = mapped({**raw("case-1"), "case_id": "case-1b"})
    assert _all_ids(a).isdisjoint(_all_ids(b))


def test_the_two_seed_cases_share_nothing() -> None:
    assert _all_ids(mapped(raw("case-1"))).isdisjoint(_all_ids(mapped(raw("case-2"))))
