"""The case model: round trips, item keys, the seed cases, and what bad input is told."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, reject
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from fhir_ivc.model import Case, CaseModel, ListItem, Metastasis, item_keys
from tests.strategies import LIST_ITEM_STRATEGIES, NATURAL_KEY_FIELDS, cases, keyed_lists

SEED_CASES = Path(__file__).parents[2] / "examples" / "cases" / "seed-cases.yaml"


def seed_records() -> list[dict[str, Any]]:
    records = yaml.safe_load(SEED_CASES.read_text(encoding="utf-8"))
    assert isinstance(records, list)
    return records


def keyed_lists_of(case: Case) -> dict[str, list[ListItem]]:
    """Every list of keyed items in a case, by its path."""
    lists: dict[str, list[ListItem]] = {
        name: getattr(case, name)
        for name in (
            "imaging",
            "tumor_markers",
            "metastases",
            "systemic_therapy",
            "therapy_not_given",
            "follow_up",
        )
    }
    lists["diagnosis.organ_contact"] = list(case.diagnosis.organ_contact)
    if case.presentation:
        lists["presentation.symptoms"] = list(case.presentation.symptoms)
    if case.surgery:
        for name in ("approach", "associated_resections", "ivc_management", "complications"):
            lists[f"surgery.{name}"] = getattr(case.surgery, name)
    if case.pathology:
        lists["pathology.organ_infiltration"] = list(case.pathology.organ_infiltration)
    return lists


def objects_of(value: object) -> Iterator[CaseModel]:
    """Every case-model object in ``value``, depth first."""
    if isinstance(value, CaseModel):
        yield value
        for name in type(value).model_fields:
            yield from objects_of(getattr(value, name))
    elif isinstance(value, list):
        for item in value:
            yield from objects_of(item)


# -------------------------------------------------------------------------------- round trips


@given(cases())
def test_json_mode_dump_validates_to_an_equal_case(case: Case) -> None:
    dumped = case.model_dump(mode="json")
    assert Case.model_validate(dumped) == case
    # and the dump is plain JSON that survives the json module unchanged
    assert json.loads(json.dumps(dumped)) == dumped
    assert Case.model_validate(case.model_dump()) == case  # python mode too


@given(cases())
def test_json_string_round_trip(case: Case) -> None:
    text = case.model_dump_json()
    again = Case.model_validate_json(text)
    assert again == case
    assert again.model_dump_json() == text


@given(cases())
def test_generated_cases_respect_the_model_rules(case: Case) -> None:
    # The strategy's own promises, checked on the output rather than trusted.
    for path, items in keyed_lists_of(case).items():
        keys = item_keys(items)
        assert len(set(keys)) == len(keys), path
    if case.surgery is None:
        assert all(tp.date is not None for tp in case.time_points())
    for obj in objects_of(case):
        for name in obj.inferred:
            assert getattr(obj, name) not in (None, [], "")


# ---------------------------------------------------------------------------------- item keys


@given(st.data())
def test_item_keys_are_unique_in_generated_lists(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(sorted(LIST_ITEM_STRATEGIES, key=lambda c: c.__name__)))
    items = data.draw(keyed_lists(LIST_ITEM_STRATEGIES[cls], max_size=6))
    keys = item_keys(items)
    assert len(set(keys)) == len(keys)
    assert all(item.key == key for item, key in zip(items, keys, strict=True) if item.key)


@given(st.data())
def test_item_key_is_stable_when_an_unrelated_field_is_edited(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(sorted(LIST_ITEM_STRATEGIES, key=lambda c: c.__name__)))
    strategy = LIST_ITEM_STRATEGIES[cls]
    items = data.draw(keyed_lists(strategy, min_size=1, max_size=5))
    index = data.draw(st.integers(0, len(items) - 1))
    # Replace every field except the natural key and the key with those of another item.
    kept = {name: getattr(items[index], name) for name in (*NATURAL_KEY_FIELDS[cls], "key")}
    try:
        edited = cls.model_validate({**data.draw(strategy).model_dump(), **kept})
    except ValidationError:  # e.g. 'other' kept without a text, inferred naming a kept None
        reject()
    new_items = [*items[:index], edited, *items[index + 1 :]]
    assert item_keys(new_items) == item_keys(items)


def test_derived_keys_rank_items_with_the_same_natural_key() -> None:
    items = [Metastasis(site="lung"), Metastasis(site="liver"), Metastasis(site="lung")]
    assert item_keys(items) == ["lung", "liver", "lung-2"]
    items.insert(0, Metastasis(site="bone", key="lung-2"))  # explicit keys do not take a rank
    assert item_keys(items) == ["lung-2", "lung", "liver", "lung-2"]


def test_derived_key_follows_the_natural_key_and_an_explicit_key_does_not() -> None:
    derived = Metastasis(site="lung", detected={"relative": {"offset": 9, "unit": "mo"}})
    assert item_keys([derived.model_copy(update={"detected": None})]) == ["lung"]
    assert item_keys([Metastasis(site="liver")]) == ["liver"]
    explicit = Metastasis(site="lung", key="first-met")
    assert item_keys([Metastasis(site="liver", key="first-met")]) == item_keys([explicit])


# ---------------------------------------------------------------------------------- seed cases


def test_seed_cases_load() -> None:
    loaded = [Case.model_validate(record) for record in seed_records()]
    assert [c.case_id for c in loaded] == ["case-1", "case-2"]
    case1, case2 = loaded
    assert case1.surgery is not None
    assert case1.surgery.ivc_management[1].inferred == ["method"]
    assert case1.imaging[1].dimensions_cm == [10.0, 8.0]
    assert case1.metastases[0].detected is not None
    assert case1.metastases[0].detected.describe() == "9 months after surgery"
    assert case2.imaging[1].target == "intraluminal-extension"
    assert item_keys(case2.metastases) == ["lung", "liver"]
    assert case2.surgery is not None
    assert item_keys(case2.surgery.approach)[:2] == ["laparotomy", "median-sternotomy"]
    for case in loaded:
        assert Case.model_validate_json(case.model_dump_json()) == case


def test_cases_are_frozen() -> None:
    case = Case.model_validate(seed_records()[0])
    with pytest.raises(ValidationError) as info:
        case.case_id = "other"  # type: ignore[misc]
    assert info.value.errors()[0]["type"] == "frozen_instance"


def test_inferred_may_name_a_nested_object_that_has_a_value() -> None:
    record = seed_records()[0]
    record["inferred"] = ["patient"]
    record["follow_up"][0]["inferred"] = ["when", "vital_status"]
    case = Case.model_validate(record)
    assert case.is_inferred("patient")
    assert case.follow_up[0].is_inferred("when")


# ----------------------------------------------------------------------------------- bad input

Edit = Callable[[dict[str, Any]], None]


def _parent(record: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container holding ``path`` (``a.b.0.c``, list indexes as numbers) and its last key."""
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
    target: Any = record
    for part in parents:
        target = target[part]
    return target, last


def _set(path: str, value: Any) -> Edit:
    def edit(record: dict[str, Any]) -> None:
        target, last = _parent(record, path)
        target[last] = value

    return edit


def _delete(path: str) -> Edit:
    def edit(record: dict[str, Any]) -> None:
        target, last = _parent(record, path)
        del target[last]

    return edit


BAD_INPUT = [
    pytest.param(
        _set("patient.age_at_diagnosis_years", "sixty"),
        ("patient", "age_at_diagnosis_years"),
        "int_parsing",
        "Input should be a valid integer",
        id="wrong-type",
    ),
    pytest.param(
        _set("patient.sex", "f"),
        ("patient", "sex"),
        "literal_error",
        "Input should be 'female', 'male', 'other' or 'unknown'",
        id="unknown-enum-value",
    ),
    pytest.param(
        _set("metastases.0.detected", {"relative": {"offset": 1, "unit": "month"}}),
        ("metastases", 0, "detected", "relative", "unit"),
        "literal_error",
        "Input should be 'd', 'wk', 'mo' or 'a'",
        id="unknown-time-unit",
    ),
    pytest.param(
        _delete("diagnosis.ivc_segments"),
        ("diagnosis", "ivc_segments"),
        "missing",
        "Field required",
        id="missing-required-field",
    ),
    pytest.param(
        _delete("case_id"), ("case_id",), "missing", "Field required", id="missing-case-id"
    ),
    pytest.param(
        _set("patient.name", "Jane"),
        ("patient", "name"),
        "extra_forbidden",
        "Extra inputs are not permitted",
        id="unknown-extra-field",
    ),
    pytest.param(
        _set("surgery.ivc_management.0.grafts", 1),
        ("surgery", "ivc_management", 0, "grafts"),
        "extra_forbidden",
        "Extra inputs are not permitted",
        id="unknown-extra-field-in-list-item",
    ),
    pytest.param(
        _set("schema_version", "2.0"),
        ("schema_version",),
        "literal_error",
        "Input should be '1.0'",
        id="unknown-schema-version",
    ),
    pytest.param(
        _set("diagnosis.when", {"date": "2019-02-30"}),
        ("diagnosis", "when", "date"),
        "value_error",
        "not a calendar date: day is out of range for month",
        id="date-not-in-calendar",
    ),
    pytest.param(
        _set("diagnosis.when", {"date": "2019-02-03T10:00:00"}),
        ("diagnosis", "when", "date"),
        "value_error",
        "(a time needs a time zone)",
        id="time-without-zone",
    ),
    pytest.param(
        _set("patient.birth_date", "19.03.1958"),
        ("patient", "birth_date"),
        "value_error",
        "not a FHIR date",
        id="date-not-fhir",
    ),
    pytest.param(
        _set("metastases.0.detected", {"date": "2020", "relative": {"offset": 1, "unit": "mo"}}),
        ("metastases", 0, "detected"),
        "value_error",
        "give exactly one of 'date' or 'relative'",
        id="date-and-relative",
    ),
    pytest.param(
        _delete("surgery"),
        (),
        "value_error",
        "relative times need the index surgery they count from ('surgery')",
        id="relative-time-without-surgery",
    ),
    pytest.param(
        _set("surgery.inferred", ["colour"]),
        ("surgery",),
        "value_error",
        "inferred names unknown field(s) ['colour']",
        id="inferred-unknown-field",
    ),
    pytest.param(
        _set("pathology.inferred", ["fnclcc_grade"]),
        ("pathology",),
        "value_error",
        "inferred names 'fnclcc_grade', which has no value",
        id="inferred-field-without-value",
    ),
    pytest.param(
        _set("patient.inferred", ["identifiers"]),  # the seed patients have no identifiers: []
        ("patient",),
        "value_error",
        "inferred names 'identifiers', which has no value",
        id="inferred-empty-list",
    ),
    pytest.param(
        _set("metastases.0.inferred", ["key"]),
        ("metastases", 0),
        "value_error",
        "inferred names unknown field(s) ['key']",
        id="inferred-bookkeeping-field",
    ),
    pytest.param(
        _set("follow_up.0.inferred", ["vital_status", "vital_status"]),
        ("follow_up", 0),
        "value_error",
        "inferred lists a field twice",
        id="inferred-twice",
    ),
    pytest.param(
        _set("metastases", [{"site": "lung", "key": "m1"}, {"site": "liver", "key": "m1"}]),
        (),
        "value_error",
        "metastases: item keys ['m1'] are used twice; give the items distinct 'key's",
        id="duplicate-explicit-keys",
    ),
    pytest.param(
        _set("metastases", [{"site": "lung"}, {"site": "liver", "key": "lung"}]),
        (),
        "value_error",
        "metastases: item keys ['lung'] are used twice",
        id="explicit-key-equals-derived-key",
    ),
    pytest.param(
        _set("surgery.approach.1.key", "laparotomy"),
        (),
        "value_error",
        "surgery.approach: item keys ['laparotomy'] are used twice",
        id="duplicate-keys-in-nested-list",
    ),
    pytest.param(
        _set("metastases.0.key", "Lung"),
        ("metastases", 0, "key"),
        "string_pattern_mismatch",
        "String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'",
        id="bad-key",
    ),
    pytest.param(
        _set("case_id", "case 1"),
        ("case_id",),
        "string_pattern_mismatch",
        "String should match pattern",
        id="bad-case-id",
    ),
    pytest.param(
        _delete("diagnosis.intraluminal_extension"),
        (),
        "value_error",
        "an imaging study targets the intraluminal extension, "
        "but diagnosis.intraluminal_extension is empty",
        id="intraluminal-target-without-extension",
    ),
    pytest.param(
        _set("surgery.ivc_management.0.method", "ligation"),
        ("surgery", "ivc_management", 0),
        "value_error",
        "graft_material is only meaningful for graft-replacement or patch-cavoplasty, "
        "not 'ligation'",
        id="graft-material-without-graft",
    ),
    pytest.param(
        _set("presentation.symptoms.0.kind", "other"),
        ("presentation", "symptoms", 0),
        "value_error",
        "a symptom of kind 'other' needs a text",
        id="other-symptom-without-text",
    ),
    pytest.param(
        _set("surgery.complications.0", {"kind": "other", "text": "   "}),
        ("surgery", "complications", 0, "text"),
        "string_too_short",
        "String should have at least 1 character",
        id="blank-text",
    ),
    pytest.param(
        _set("follow_up.0", {"when": {"relative": {"offset": 24, "unit": "mo"}}}),
        ("follow_up", 0),
        "value_error",
        "a follow-up needs disease_status, local_recurrence or vital_status",
        id="follow-up-without-finding",
    ),
    pytest.param(
        _set("diagnosis.ivc_segments", ["middle", "middle"]),
        ("diagnosis",),
        "value_error",
        "ivc_segments lists a segment twice",
        id="duplicate-segment",
    ),
    pytest.param(
        _set("systemic_therapy.0.agents", ["ifosfamide", "ifosfamide"]),
        ("systemic_therapy", 0),
        "value_error",
        "agents lists an agent twice",
        id="duplicate-agent",
    ),
    pytest.param(
        _set("systemic_therapy.0.agents", []),
        ("systemic_therapy", 0, "agents"),
        "too_short",
        "List should have at least 1 item after validation, not 0",
        id="no-agent",
    ),
    pytest.param(
        _set("imaging.0.dimensions_cm", [7.0, 6.5, 9.4, 1.0]),
        ("imaging", 0, "dimensions_cm"),
        "too_long",
        "List should have at most 3 items after validation, not 4",
        id="four-dimensions",
    ),
    pytest.param(
        _set("imaging.0.dimensions_cm", [0]),
        ("imaging", 0, "dimensions_cm", 0),
        "greater_than",
        "Input should be greater than 0",
        id="zero-dimension",
    ),
]


@pytest.mark.parametrize(("edit", "loc", "error_type", "message"), BAD_INPUT)
def test_bad_input_is_rejected_with_location_and_message(
    edit: Edit, loc: tuple[str | int, ...], error_type: str, message: str
) -> None:
    record = copy.deepcopy(seed_records()[1])  # case 2: every section is present
    Case.model_validate(record)  # the unedited record is valid
    edit(record)
    with pytest.raises(ValidationError) as info:
        Case.model_validate(record)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == loc
    assert errors[0]["type"] == error_type
    assert message in errors[0]["msg"]


def test_bad_json_names_the_json_location() -> None:
    record = seed_records()[1]
    record["pathology"]["size_cm"] = [16, "eight"]
    with pytest.raises(ValidationError) as info:
        Case.model_validate_json(json.dumps(record))
    (error,) = info.value.errors()
    assert error["loc"] == ("pathology", "size_cm", 1)
    assert error["type"] == "float_parsing"


def test_models_compare_by_value() -> None:
    # Equality is what the round-trip properties rely on: same class, same field values.
    assert Metastasis(site="lung") == Metastasis(site="lung")
    assert Metastasis(site="lung") != Metastasis(site="lung", key="lung")
    assert isinstance(Metastasis(site="lung"), BaseModel)
