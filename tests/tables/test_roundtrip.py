"""Tables <-> cases <-> FHIR: nothing lost, nothing changed, in every table format."""

from __future__ import annotations

import random
import tempfile
import zipfile
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings

from fhir_ivc.bundle import build_bundles, case_from_bundle
from fhir_ivc.io import iter_case_records
from fhir_ivc.io.tables import TableWriter, iter_table_cases
from fhir_ivc.io.tables.parquet import NestedParquetWriter
from fhir_ivc.io.tables.reader import _Index
from fhir_ivc.io.tables.sources import open_source
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case
from tests.strategies import cases as case_strategy
from tests.tables.conftest import SEED_TABLES, SEED_YAML, read_csv, write_csv


def _cases(path: Path) -> list[Case]:
    results = list(iter_case_records(path))
    problems = [e for r in results for e in r.errors]
    assert not problems, problems
    return [r.case for r in results if r.case is not None]


def test_the_shipped_seed_tables_read_as_the_yaml_cases(seed_cases):
    assert _cases(SEED_TABLES) == seed_cases


def test_the_shipped_seed_tables_give_byte_identical_bundles(seed_cases):
    for from_yaml, from_tables in zip(seed_cases, _cases(SEED_TABLES), strict=True):
        a, b = build_bundles(from_yaml), build_bundles(from_tables)
        assert orjson.dumps(a.transaction) == orjson.dumps(b.transaction)
        assert orjson.dumps(a.collection) == orjson.dumps(b.collection)


def test_tables_to_fhir_to_tables_gives_the_same_files(tmp_path):
    """What pull --tables does: bundles read back into cases, written as tables."""
    with TableWriter(tmp_path / "back") as writer:
        for case in _cases(SEED_TABLES):
            writer.write(case_from_bundle(build_bundles(case).transaction).case)
    for table in (tmp_path / "back").iterdir():
        assert table.read_bytes() == (SEED_TABLES / table.name).read_bytes(), table.name


def test_csv_parquet_zip_and_nested_parquet_read_the_same_cases(tmp_path, write_tables):
    cases = [*_cases(SEED_YAML), *(synthetic_case(i) for i in range(40))]
    csv_dir = write_tables(cases, "csv", "csv")
    parquet_dir = write_tables(cases, "parquet", "parquet")
    archive = tmp_path / "tables.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(csv_dir.iterdir()):
            zf.write(path, f"export/{path.name}")
    nested = tmp_path / "cases.parquet"
    writer = NestedParquetWriter(nested)
    for case in cases:
        writer.write(case)
    writer.close()
    for source in (csv_dir, parquet_dir, archive, nested):
        assert _cases(source) == cases, source


def test_parquet_tables_with_text_cells_read_like_csv(tmp_path, seed_cases, write_tables):
    """A warehouse may export every column as text: cells are then read as in CSV."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = write_tables(seed_cases, "csv", "csv")
    out = tmp_path / "text-parquet"
    out.mkdir()
    for path in folder.glob("*.csv"):
        rows = read_csv(path)
        header = list(rows[0]) if rows else path.read_text().splitlines()[0].split(",")
        columns = {h: pa.array([r[h] or None for r in rows], pa.string()) for h in header}
        pq.write_table(pa.table(columns), out / f"{path.stem}.parquet")
    assert _cases(out) == seed_cases


def test_unsorted_tables_go_through_the_on_disk_index(tmp_path, write_tables):
    cases = [synthetic_case(i) for i in range(30)]
    folder = write_tables(cases)
    rng = random.Random(7)
    for name in ("imaging.csv", "metastases.csv", "inferred.csv"):
        rows = read_csv(folder / name)
        header = list(rows[0])
        # shuffle whole cases' groups, keeping each case's rows in their order
        groups: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            groups.setdefault(row["case_id"], []).append(row)
        order = list(groups)
        rng.shuffle(order)
        write_csv(folder / name, [r for cid in order for r in groups[cid]], header)
    index = _Index.build(open_source(folder))
    try:
        assert set(index.indexed) == {"imaging", "metastases", "inferred"}
        assert "follow_up" in index.ordered
    finally:
        index.close()
    assert _cases(folder) == cases


def test_cases_come_in_the_order_of_the_cases_table(write_tables):
    cases = [synthetic_case(i) for i in range(10)]
    folder = write_tables(cases)
    rows = read_csv(folder / "cases.csv")
    write_csv(folder / "cases.csv", rows[::-1])
    # every other table is now in the opposite order of cases: all of them are indexed
    assert _cases(folder) == cases[::-1]


@settings(max_examples=60, deadline=None)
@given(case=case_strategy())
def test_any_case_survives_csv_tables(case):
    with tempfile.TemporaryDirectory() as tmp:
        with TableWriter(Path(tmp)) as writer:
            writer.write(case)
        results = list(iter_table_cases(tmp))
    assert [r.errors for r in results] == [()]
    assert results[0].case == case


def test_inferred_markers_find_items_whose_natural_key_uses_an_absent_field(
    seed_cases, write_tables
):
    """``AssociatedResection.natural_key`` reads ``side``, which may be absent."""
    case = seed_cases[0]
    surgery = case.surgery
    assert surgery is not None
    resection = surgery.associated_resections[0].model_copy(
        update={"side": None, "reason": "stated", "inferred": ["reason"]}
    )
    edited = case.model_copy(
        update={"surgery": surgery.model_copy(update={"associated_resections": [resection]})}
    )
    edited = Case.model_validate(edited.model_dump())
    folder = write_tables([edited])
    rows = read_csv(folder / "inferred.csv")
    assert {"table": "surgery_associated_resections", "item_key": "renal-vein-segment"}.items() <= (
        next(r for r in rows if r["field"] == "reason").items()
    )
    assert _cases(folder) == [edited]


def test_an_error_inside_the_writer_leaves_no_files(tmp_path, seed_cases):
    folder = tmp_path / "tables"

    def interrupted(fmt):
        with TableWriter(folder, fmt) as writer:
            writer.write(seed_cases[0])
            raise RuntimeError("interrupted")

    for fmt in ("csv", "parquet"):
        with pytest.raises(RuntimeError, match="interrupted"):
            interrupted(fmt)
        assert list(folder.iterdir()) == []
