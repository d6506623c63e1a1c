"""Bad tables: every problem names the table, the row, the column and the case; one bad case
never stops the others; a table that cannot be read at all stops its input before any case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fhir_ivc.io import CaseRecordResult
from fhir_ivc.io.tables import iter_table_cases
from tests.tables.conftest import SEED_TABLES


@pytest.fixture
def tables(tmp_path) -> Path:
    """A copy of the seed tables to break."""
    folder = tmp_path / "tables"
    shutil.copytree(SEED_TABLES, folder)
    return folder


def _results(folder: Path) -> list[CaseRecordResult]:
    return list(iter_table_cases(folder))


def _by_case(results: list[CaseRecordResult]) -> dict[str | None, CaseRecordResult]:
    return {r.case_id: r for r in results}


def _set(rows, case_id, column, value, nth=0):
    mine = [r for r in rows if r["case_id"] == case_id]
    mine[nth][column] = value
    return rows


def test_bad_values_reject_the_case_with_every_problem_named(tables, edit_csv):
    edit_csv(tables / "cases.csv", lambda rows: _set(rows, "case-2", "patient.sex", "robot"))
    edit_csv(tables / "imaging.csv", lambda rows: _set(rows, "case-2", "dimensions_cm", "7;-1", 1))
    edit_csv(
        tables / "follow_up.csv", lambda rows: _set(rows, "case-2", "when.relative.offset", "ten")
    )
    results = _by_case(_results(tables))
    assert results["case-1"].ok
    bad = results["case-2"]
    assert not bad.ok
    assert str(bad.source).endswith("cases.csv:3")
    reasons = {e.path: e.reason for e in bad.errors}
    assert set(reasons) == {
        "patient.sex",
        "imaging[1].dimensions_cm[1]",
        "follow_up[0].when.relative.offset",
    }
    assert reasons["patient.sex"].startswith("cases.csv:3, column patient.sex: Input should be")
    assert "(got 'robot')" in reasons["patient.sex"]
    assert reasons["imaging[1].dimensions_cm[1]"].startswith("imaging.csv:6, column dimensions_cm:")
    assert "greater than 0" in reasons["imaging[1].dimensions_cm[1]"]
    assert reasons["follow_up[0].when.relative.offset"].startswith(
        "follow_up.csv:3, column when.relative.offset: Input should be a valid number"
    )
    assert all(e.case_id == "case-2" for e in bad.errors)


def test_a_rule_of_an_item_names_its_row(tables, edit_csv):
    edit_csv(
        tables / "surgery_ivc_management.csv",
        lambda rows: _set(rows, "case-1", "graft_material", "ptfe", 1),  # on a ligation
    )
    (result,) = [r for r in _results(tables) if r.case_id == "case-1"]
    (error,) = result.errors
    assert error.path == "surgery.ivc_management[1]"
    assert error.reason.startswith("surgery_ivc_management.csv:3: Value error, graft_material")


def test_orphan_rows_are_reported_and_the_cases_go_on(tables, edit_csv):
    def add_orphans(rows):
        ghost = dict(rows[0], case_id="ghost")
        return [*rows, ghost, dict(ghost)]

    edit_csv(tables / "metastases.csv", add_orphans)
    edit_csv(tables / "imaging.csv", add_orphans)
    results = _results(tables)
    assert [r.ok for r in results] == [True, True, False]
    orphan = results[-1]
    assert orphan.case_id == "ghost"
    (error,) = orphan.errors
    assert error.path == "case_id"
    assert error.reason.startswith("orphan rows (")
    assert "metastases.csv:5" in error.reason
    assert "imaging.csv:7" in error.reason
    assert error.reason.endswith("): no row of cases has this case_id")


def test_a_duplicated_case_row_rejects_that_case_only(tables, edit_csv):
    edit_csv(tables / "cases.csv", lambda rows: [*rows, dict(rows[0])])
    results = _results(tables)
    assert [(r.case_id, r.ok) for r in results] == [("case-1", False), ("case-2", True)]
    (error,) = results[0].errors
    assert error.reason.startswith("duplicate case: cases.csv:2, cases.csv:4 have this case_id")


def test_a_duplicated_item_key_is_reported_with_both_rows(tables, edit_csv):
    def keys(rows):
        for row in rows:
            if row["case_id"] == "case-2":
                row["key"] = "lung-met"
        return rows

    edit_csv(tables / "metastases.csv", keys)
    (result,) = [r for r in _results(tables) if r.case_id == "case-2"]
    first, model = result.errors  # the model says it too, for the case as a whole
    assert first.reason == (
        "metastases.csv:4, column key: duplicate item key: 'lung-met' is also the key of "
        "metastases.csv:3"
    )
    assert model.reason.startswith("cases.csv:3: Value error, metastases: item keys ['lung-met']")


def test_rows_without_a_case_id_are_reported(tables, edit_csv):
    edit_csv(tables / "surgery_notes.csv", lambda rows: [*rows, dict(rows[0], case_id=" ")])
    results = _results(tables)
    assert [r.ok for r in results] == [True, True, False]
    (error,) = results[-1].errors
    assert error.case_id is None
    assert error.reason == "rows without a case_id (or not a case id): surgery_notes.csv:8"


def test_a_row_with_more_cells_than_the_header_rejects_its_case(tables):
    path = tables / "therapy_not_given.csv"
    path.write_text(path.read_text() + "case-2,,chemotherapy,adjuvant,why,extra\n")
    (result,) = [r for r in _results(tables) if r.case_id == "case-2"]
    assert [e.reason for e in result.errors] == [
        "therapy_not_given.csv:4: the row has 6 cells, the header 5"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"table": "imagery"},
            "inferred.csv:3, column table: not a table of the layout",
        ),
        (
            {"field": "mood"},
            "inferred.csv:3, column field: not a field of surgery_ivc_management (one of",
        ),
        (
            {"item_key": "patch"},
            "inferred.csv:3, column item_key: no row of surgery_ivc_management of this case "
            "has the item key 'patch'",
        ),
        (
            {"table": "cases", "item_key": "x", "field": "patient.sex"},
            "inferred.csv:3, column item_key: must be empty for the cases table",
        ),
        (
            {"field": "graft_material"},  # the ligation has no graft material
            "inferred.csv:3, column field: Value error, inferred names 'graft_material', which "
            "has no value",
        ),
    ],
)
def test_bad_inferred_rows_name_their_row_and_column(tables, edit_csv, change, expected):
    def edit(rows):
        rows[1].update(change)  # case-1 surgery_ivc_management ligation method
        return rows

    edit_csv(tables / "inferred.csv", edit)
    (result,) = [r for r in _results(tables) if r.case_id == "case-1"]
    assert [e.reason[: len(expected)] for e in result.errors] == [expected]
    assert all(e.case_id == "case-1" for e in result.errors)


def _file_problem(folder: Path) -> str:
    results = _results(folder)
    assert len(results) == 1, results
    (error,) = results[0].errors
    assert error.case_id is None
    return f"{results[0].source}: {error.reason}"


def test_an_unknown_column_stops_the_input(tables, edit_csv):
    edit_csv(tables / "imaging.csv", lambda rows: [dict(r, modalty="ct") for r in rows])
    problem = _file_problem(tables)
    assert problem.startswith(f"{tables / 'imaging.csv'}:1: unknown column(s) 'modalty'")


def test_a_missing_case_id_column_stops_the_input(tables):
    (tables / "follow_up.csv").write_text("key,when.date\n,2020\n")
    assert _file_problem(tables).endswith("follow_up.csv:1: no case_id column")


def test_an_unknown_table_stops_the_input(tables):
    (tables / "imagery.csv").write_text("case_id\n")
    assert "imagery.csv: not a table of the layout" in _file_problem(tables)


def test_no_cases_table(tables):
    (tables / "cases.csv").unlink()
    (tables / "cases.txt").write_text("")
    zipped = shutil.make_archive(str(tables), "zip", tables)
    assert _file_problem(Path(zipped)).endswith("no cases.csv: the table of one row per case")


def test_not_utf8_and_broken_csv_stop_the_input(tables):
    (tables / "metastases.csv").write_bytes(b"case_id,site\ncase-1,lung\xff\n")
    assert "metastases.csv:1: not UTF-8 text: invalid start byte" in _file_problem(tables)
    (tables / "metastases.csv").write_text('case_id,site\ncase-1,"lung"x\n')
    assert "metastases.csv:2: broken CSV" in _file_problem(tables)
    (tables / "metastases.csv").write_text("")
    assert "metastases.csv:1: empty file: not even a header row" in _file_problem(tables)


def test_csv_and_parquet_in_one_folder(tables):
    (tables / "cases.parquet").write_bytes(b"")
    assert "both cases.csv and cases.parquet" in _file_problem(tables)


def test_a_wrongly_typed_parquet_column_names_row_and_column(tmp_path, seed_cases, write_tables):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = write_tables(seed_cases, "parquet")
    table = pq.read_table(folder / "cases.parquet")
    index = table.schema.get_field_index("patient.age_at_diagnosis_years")
    table = table.set_column(index, "patient.age_at_diagnosis_years", pa.array([60.5, 65.0]))
    pq.write_table(table, folder / "cases.parquet")
    results = _results(folder)
    assert [r.ok for r in results] == [False, True]
    (error,) = results[0].errors
    assert error.reason.startswith(
        "cases.parquet row 1, column patient.age_at_diagnosis_years: Input should be a valid "
        "integer"
    )


def test_nested_parquet_problems(tmp_path, seed_cases):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fhir_ivc.io.tables.parquet import case_schema

    records = [c.model_dump(mode="json") for c in seed_cases]
    records[1]["patient"]["sex"] = "robot"
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=case_schema()), path)
    results = list(iter_table_cases(path))
    assert [r.ok for r in results] == [True, False]
    (error,) = results[1].errors
    assert (error.case_id, error.path) == ("case-2", "patient.sex")
    assert error.reason.startswith("row 2: Input should be")
    pq.write_table(pa.table({"case_id": ["x"], "patient.sex": ["female"]}), path)
    assert "unknown column(s) 'patient.sex' (flat tables go in a folder" in _file_problem(path)
    path.write_bytes(b"not parquet")
    assert _file_problem(path).endswith("not a Parquet file: ArrowInvalid")
