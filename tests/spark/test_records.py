"""The executor side without Spark: records in, rows and rejects out, as ``fhir-ivc map``."""

from __future__ import annotations

import datetime
import decimal

import pytest

from fhir_ivc.bundle import build_bundles
from fhir_ivc.exchange.manifest import manifest_entry
from fhir_ivc.io import BundleKind, InputLimits, dump_json
from fhir_ivc.spark._records import DUPLICATE, RecordMapper, drop_nulls
from fhir_ivc.testing import synthetic_case

from .conftest import case_line


def test_nested_rows_and_json_text_read_to_the_same_case() -> None:
    case = synthetic_case(3, seed=30)
    mapper = RecordMapper()
    from_json = mapper.read_json(case_line(case))
    # what Spark hands over for nested columns: every field present, absent ones null
    row = case.model_dump(mode="json")
    from_row = mapper.read_columns(row)
    assert from_json is not None
    assert from_json.case == from_row.case == case


def test_drop_nulls_at_every_depth_but_not_inside_lists() -> None:
    value = {"a": None, "b": {"c": None, "d": [None, {"e": None, "f": 1}]}}
    assert drop_nulls(value) == {"b": {"d": [None, {"f": 1}]}}


def test_a_row_value_json_cannot_hold_is_a_reject_not_a_crash() -> None:
    result = RecordMapper().read_columns({"case_id": "c-1", "when": object()})
    assert result.case is None
    assert result.errors[0].case_id == "c-1"
    assert "a value JSON cannot hold" in result.errors[0].reason


def _swap(value, changed):
    """Full dates -> ``datetime.date``, numbers -> ``Decimal``: what Spark's Date and Decimal
    columns hand over."""
    if isinstance(value, dict):
        return {k: _swap(v, changed) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, changed) for v in value]
    if isinstance(value, float):
        changed.append("decimal")
        return decimal.Decimal(str(value))
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        changed.append("date")
        return datetime.date.fromisoformat(value)
    return value


def test_date_and_decimal_cells_read_as_the_json_they_stand_for() -> None:
    cases = [synthetic_case(i, seed=31) for i in range(40)]
    changed: list[str] = []
    for case in cases:
        row = _swap(case.model_dump(mode="json"), changed)
        assert RecordMapper().read_columns(row).case == case
    assert {"date", "decimal"} <= set(changed)


def test_an_all_null_row_is_an_empty_record_and_a_blank_cell_a_reject() -> None:
    mapper = RecordMapper()
    empty = mapper.read_columns({"case_id": None, "patient": None})  # the record {}
    assert {(e.path, e.reason) for e in empty.errors} >= {("case_id", "Field required")}
    mapped = mapper.map(mapper.read_json("  "), "row 7")
    assert mapped.rows == ()
    assert [(r.case_id, r.path, r.source) for r in mapped.rejects] == [(None, "", "row 7")]


def test_rows_are_the_clis_lines_and_a_repeated_case_is_a_duplicate() -> None:
    case = synthetic_case(4, seed=30)
    mapper = RecordMapper(check=None)
    first = mapper.map(mapper.read_json(case_line(case)), "r0")
    bundles = build_bundles(case)
    assert [(r.kind, r.json) for r in first.rows] == [
        ("transaction", dump_json(bundles.transaction).decode().rstrip("\n")),
        ("collection", dump_json(bundles.collection).decode().rstrip("\n")),
    ]
    again = mapper.map(mapper.read_json(case_line(case)), "r1")
    assert [(r.path, r.reason) for r in again.rejects] == [("case_id", DUPLICATE)]


def test_the_record_limits_apply_to_cells_too() -> None:
    mapper = RecordMapper(limits=InputLimits(max_depth=3))
    result = mapper.read_json(case_line(synthetic_case(5, seed=30)))
    assert result is not None
    assert result.case is None
    assert "nested deeper than 3" in result.errors[0].reason


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"output": "bulk"}, "logical ids"),
        ({"output": "csv"}, "output must be one of"),
        ({"kinds": ()}, "kinds is empty"),
    ],
)
def test_bad_settings(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        RecordMapper(**settings)


def test_bulk_rows_are_the_resources_of_the_logical_transaction_one_line_each() -> None:
    """... and the case's manifest List, as ``map --bulk`` writes it."""
    case = synthetic_case(6, seed=30)
    mapper = RecordMapper(ids="logical", output="bulk")
    mapped = mapper.map(mapper.read_json(case_line(case)), "r0")
    transaction = build_bundles(case, ids="logical").transaction
    entries = [*transaction["entry"], manifest_entry(transaction)]
    assert mapper.kinds == (BundleKind.TRANSACTION,)
    got = sorted((r.kind, r.json) for r in mapped.rows)  # the order: map --bulk's (test_map)
    assert got == sorted(
        (e["resource"]["resourceType"], dump_json(e["resource"]).decode().rstrip("\n"))
        for e in entries
    )


def test_a_bug_while_mapping_one_case_is_a_reject_not_a_lost_partition() -> None:
    def broken_check(bundle):
        raise ZeroDivisionError("a message that could quote a value")

    mapper = RecordMapper(check=broken_check)
    case = synthetic_case(7, seed=30)
    mapped = mapper.map(mapper.read_json(case_line(case)), "r0")
    assert mapped.rows == ()
    (reject,) = mapped.rejects
    assert (reject.case_id, reject.path) == (case.case_id, "")
    assert reject.reason == "internal error while mapping (ZeroDivisionError): please report it"
