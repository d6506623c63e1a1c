"""Case tables under the input limits (issue 12 §2): a case whose rows hold more than
``--max-record-bytes``, or a cell no JSON record could hold (a NUL, a lone surrogate), is one
REJECT naming the case (and the row and column); the other cases go through; the rows of an
over-long case are dropped as they are read, never held."""

from __future__ import annotations

import csv
import shutil
import tracemalloc
from pathlib import Path

import pytest

from fhir_ivc.io import iter_case_records
from fhir_ivc.io.limits import InputLimits
from fhir_ivc.io.tables import iter_table_cases
from tests.tables.conftest import SEED_TABLES, read_csv, write_csv


@pytest.fixture
def tables(tmp_path) -> Path:
    folder = tmp_path / "tables"
    shutil.copytree(SEED_TABLES, folder)
    return folder


def _imaging_row(case_id: str, n: int) -> dict[str, str]:
    return {"case_id": case_id, "modality": "ct", "region": "abdomen", "findings": f"f{n:06d}"}


def _append_imaging(folder: Path, rows: list[dict[str, str]], *, at_end: bool) -> None:
    """Imaging rows for case-1, either grouped with case-1's rows (the table stays ordered)
    or after case-2's (the table is then indexed on disk)."""
    path = folder / "imaging.csv"
    existing = read_csv(path)
    header = list(existing[0])
    full = [{name: row.get(name, "") for name in header} for row in rows]
    if at_end:
        write_csv(path, existing + full, header)
    else:
        last_case_1 = max(i for i, r in enumerate(existing) if r["case_id"] == "case-1")
        write_csv(path, existing[: last_case_1 + 1] + full + existing[last_case_1 + 1 :], header)


def _by_case(folder: Path, limits: InputLimits) -> dict[str | None, list[str]]:
    return {
        r.case_id: [f"{e.path}: {e.reason}" for e in r.errors]
        for r in iter_table_cases(folder, limits=limits)
    }


@pytest.mark.parametrize("at_end", [False, True], ids=["ordered", "indexed"])
def test_a_case_over_max_record_bytes_is_rejected_and_the_other_goes_on(tables, at_end):
    _append_imaging(tables, [_imaging_row("case-1", n) for n in range(400)], at_end=at_end)
    limits = InputLimits(max_record_bytes=8_000)  # each seed case alone holds less than that
    seed_only = _by_case(SEED_TABLES, limits)
    assert seed_only == {"case-1": [], "case-2": []}
    results = _by_case(tables, limits)
    assert results["case-2"] == []
    (reason,) = results["case-1"]
    assert reason.startswith(": the case's rows hold over 8000 bytes (--max-record-bytes; ")
    # the default limit (16 MiB) takes the same case
    assert _by_case(tables, InputLimits()) == {"case-1": [], "case-2": []}


def _peak(folder: Path, limits: InputLimits) -> tuple[int, list[bool]]:
    tracemalloc.start()
    try:
        results = [r.ok for r in iter_table_cases(folder, limits=limits)]
        return tracemalloc.get_traced_memory()[1], results
    finally:
        tracemalloc.stop()


def test_rows_of_a_case_past_the_limit_are_not_held(tmp_path):
    # 6,000 and 60,000 extra rows (~0.35 and ~3.5 MB of cells) for case-1 under a 64 KiB limit:
    # the reader drops them as it reads them, so the peak does not grow with them (held, the
    # 60,000 rows took ~100 MB of traced memory here)
    limits = InputLimits(max_record_bytes=64 * 1024)
    peaks = []
    for n in (6_000, 60_000):
        folder = tmp_path / f"t{n}"
        shutil.copytree(SEED_TABLES, folder)
        _append_imaging(folder, [_imaging_row("case-1", i) for i in range(n)], at_end=False)
        peak, oks = _peak(folder, limits)
        assert oks == [False, True]
        peaks.append(peak)
    assert peaks[1] < peaks[0] + 1_000_000, f"peak traced memory {peaks}: the rows were held"


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("ab\x00cd", "a string holds the control character U+0000"),
        ("bell\x07", "a string holds the control character U+0007"),
    ],
)
def test_a_cell_no_json_record_could_hold_rejects_its_case(tables, edit_csv, cell, reason):
    def change(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        mine = [r for r in rows if r["case_id"] == "case-2"]
        mine[0]["findings"] = cell
        return rows

    edit_csv(tables / "imaging.csv", change)
    results = _by_case(tables, InputLimits())
    assert results["case-1"] == []
    (error,) = results["case-2"]
    line = 1 + next(
        i for i, r in enumerate(read_csv(tables / "imaging.csv"), 1) if r["case_id"] == "case-2"
    )
    assert error == f"findings: imaging.csv:{line}, column findings: {reason}"


def test_io_dispatch_hands_the_limits_to_the_tables_reader(tables):
    _append_imaging(tables, [_imaging_row("case-1", n) for n in range(400)], at_end=True)
    results = list(iter_case_records(tables, limits=InputLimits(max_record_bytes=8_000)))
    assert {r.case_id: r.ok for r in results} == {"case-1": False, "case-2": True}


def test_a_nested_parquet_record_is_checked_like_json(tmp_path, seed_cases):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fhir_ivc.io.tables.parquet import case_schema

    records = [c.model_dump(mode="json") for c in seed_cases]
    records[0]["presentation"]["symptoms"][0]["text"] = "pain\x00"
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=case_schema()), path)
    results = list(iter_table_cases(path))
    assert [r.ok for r in results] == [False, True]
    (error,) = results[0].errors
    assert (error.case_id, error.path) == ("case-1", "presentation.symptoms[0].text")
    assert error.reason == "row 1: a string holds the control character U+0000"
    small = list(iter_table_cases(path, limits=InputLimits(max_record_bytes=1_000)))
    assert [r.ok for r in small] == [False, False]
    assert small[1].errors[0].reason.startswith("row 2: the case's rows hold over 1000 bytes")


def test_csv_module_writes_the_nul_we_read(tmp_path):
    # the premise of the NUL test above: Python's csv keeps a NUL inside a cell (3.11+)
    path = tmp_path / "t.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([["a"], ["x\x00y"]])
    assert read_csv(path) == [{"a": "x\x00y"}]
