"""Properties over generated cases (tests/strategies.py) and realistic synthetic ones (synth).

For every case: every resource re-validates, every reference resolves, the bundle shapes hold,
every mCODE claim meets its StructureDefinition; identities are stable under edits of values
and never shared between cases. Example counts come from the Hypothesis profile
(tests/conftest.py: ``ci`` by default, ``HYPOTHESIS_PROFILE=dev`` for more).
"""

from __future__ import annotations

import copy
import operator
from collections import Counter
from functools import partial
from typing import Any

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st
from pydantic import ValidationError

from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.model import Case
from fhir_ivc.terminology.systems import CANONICAL
from fhir_ivc.testing.synth import synthetic_case
from fhir_ivc.validation import validate_resource
from tests.strategies import cases, free_texts, source_systems

from ._fhir import MCODE, profiles
from ._profiles import profile_problems
from ._rules import assert_bundle_rules, assert_transaction_rules

#: free-text fields: editing one never changes which resources exist (natural keys are codes)
TEXT_FIELDS = frozenset(
    {"findings", "conclusion", "detail", "text", "reason", "management", "note", "region", "name"}
)
#: numbers whose value, not presence, is edited
NUMBER_FIELDS = frozenset(
    {
        "age_at_diagnosis_years",
        "operative_time_min",
        "ivc_clamp_time_min",
        "blood_loss_ml",
        "postoperative_stay_days",
    }
)


def mcode_problems(bundles: CaseBundles) -> list[str]:
    collection = bundles.collection
    problems = [f"bundle: {p}" for p in profile_problems(collection, "mcode-patient-bundle")]
    for i, entry in enumerate(collection["entry"]):
        for profile in profiles(entry["resource"]):
            if profile.startswith(MCODE):
                problems += [
                    f"entry[{i}] {profile.removeprefix(MCODE)}: {p}"
                    for p in profile_problems(entry["resource"], profile.removeprefix(MCODE))
                ]
    return problems


def identities(bundles: CaseBundles) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    return [
        (
            e["fullUrl"],
            e["resource"]["resourceType"],
            tuple((i["system"], i["value"]) for i in e["resource"].get("identifier", [])),
        )
        for e in bundles.transaction["entry"]
    ]


#: identifier systems whose values the adapter derives (case element, tumor shared with specimen)
MINTED_SYSTEMS = frozenset({f"{CANONICAL}/sid/case-element", f"{CANONICAL}/sid/tumor"})


def all_ids(bundles: CaseBundles) -> set[tuple[str, str]]:
    """Every identity the adapter mints: fullUrls, the bundle id, each resource's first
    identifier (its conditional-update key) and every identifier in the project's namespace.
    The Patient's further identifiers are data from the case record (an MRN), not minted."""
    ids = {("fullUrl", url) for url, _, _ in identities(bundles)}
    for _, _, idents in identities(bundles):
        ids |= {pair for n, pair in enumerate(idents) if n == 0 or pair[0] in MINTED_SYSTEMS}
    ids.add(("Bundle.id", bundles.collection["id"]))
    return ids


def editable_leaves(record: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of free-text and number leaves of a case record (JSON form)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(record, dict):
        for key, value in record.items():
            here = (*path, key)
            if key in TEXT_FIELDS and isinstance(value, str):
                found.append(here)
            elif key == "notes" and isinstance(value, list):
                found += [(*here, i) for i in range(len(value))]
            elif key in NUMBER_FIELDS and isinstance(value, int | float) and value is not True:
                found.append(here)
            else:
                found += editable_leaves(value, here)
    elif isinstance(record, list):
        for i, item in enumerate(record):
            found += editable_leaves(item, (*path, i))
    return found


# --- defects the properties found (fixed in 4cf3d77), kept as regression tests ---------------
def _seed_like(**changes: Any) -> Case:
    record = synthetic_case(1).model_dump(mode="json")
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            record[section] = {**record[section], field: value}
        else:
            record[section] = value
    return Case.model_validate(record)


@pytest.mark.parametrize(
    "system", ["urn:example:a,b", "urn:example:a|b", "urn:example:a\\b", "urn:example:$a"]
)
def test_conditional_url_escapes_search_separators(system: str) -> None:
    """',' '|' '$' '\\' in an identifier token are FHIR-escaped (R4 search, "Escaping Search
    Parameters"): a source system with a comma must not read as two alternatives."""
    case = _seed_like(source_system=system)
    assert_transaction_rules(build_bundles(case).transaction, case)


def test_birth_date_is_a_date() -> None:
    """Patient.birthDate is a FHIR date: the case model refuses a time, keeps partial dates."""
    with pytest.raises(ValidationError):
        _seed_like(patient__birth_date="1960-05-01T10:00:00Z")
    for birth in ("1960", "1960-05", "1960-05-01"):
        patient = build_bundles(_seed_like(patient__birth_date=birth)).transaction["entry"][0]
        assert patient["resource"]["birthDate"] == birth
        assert validate_resource(patient["resource"]) == []


# --- generated cases --------------------------------------------------------------------------
@given(cases())
def test_every_generated_case_maps_to_valid_conformant_bundles(case: Case) -> None:
    bundles = build_bundles(case)
    assert_bundle_rules(bundles, case)
    assert mcode_problems(bundles) == []


@given(cases(), st.data())
def test_editing_values_keeps_every_identity(case: Case, data: st.DataObject) -> None:
    record = case.model_dump(mode="json", exclude_none=True)
    leaves = editable_leaves(record)
    assume(leaves)
    edited = copy.deepcopy(record)
    for path in data.draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3, unique=True)):
        node = edited
        for part in path[:-1]:
            node = node[part]
        old = node[path[-1]]
        if isinstance(old, str):
            new: Any = data.draw(free_texts().filter(partial(operator.ne, old)))
        else:
            new = old + 1
        node[path[-1]] = new
        note(f"{'.'.join(map(str, path))}: {old!r} -> {new!r}")
    try:
        changed = Case.model_validate(edited)
    except ValidationError:
        assume(False)
        raise
    assert identities(build_bundles(changed)) == identities(build_bundles(case))


@given(cases())
def test_mapping_is_deterministic(case: Case) -> None:
    again = Case.model_validate(case.model_dump(mode="json"))
    a, b = build_bundles(case), build_bundles(again)
    assert a.transaction == b.transaction
    assert a.collection == b.collection


@given(cases(), source_systems())
def test_another_source_system_shares_no_identity(case: Case, other_system: str) -> None:
    assume(other_system != case.source_system)
    other = Case.model_validate({**case.model_dump(mode="json"), "source_system": other_system})
    assert all_ids(build_bundles(case)).isdisjoint(all_ids(build_bundles(other)))


@given(
    st.lists(
        cases(),
        min_size=2,
        max_size=5,
        unique_by=lambda c: (c.source_system, c.case_id),
    )
)
def test_identities_are_unique_across_cases(many: list[Case]) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for case in many:
        bundles = build_bundles(case)
        ids = all_ids(bundles)
        seen.update(ids)
        # conditional-update keys: one resource per (type, first identifier) within a bundle
        keys = [(rtype, idents[0]) for _, rtype, idents in identities(bundles)]
        assert len(keys) == len(set(keys))
    assert [k for k, n in seen.items() if n > 1] == []


# --- realistic synthetic cases ------------------------------------------------------------------
@pytest.mark.parametrize("index", range(0, 60, 3))
def test_synthetic_cases_map_to_valid_conformant_bundles(index: int) -> None:
    case = synthetic_case(index)
    bundles = build_bundles(case)
    assert_bundle_rules(bundles, case)
    assert mcode_problems(bundles) == []


def test_synthetic_series_shares_no_identity() -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for index in range(40):
        seen.update(all_ids(build_bundles(synthetic_case(index))))
    assert [k for k, n in seen.items() if n > 1] == []
