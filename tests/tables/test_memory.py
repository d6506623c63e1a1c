"""Reading tables keeps one case in memory (plus the case ids): the peak does not grow with the
number of cases, ordered or through the on-disk index."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from fhir_ivc.io.tables import TableWriter, iter_table_cases, reader
from fhir_ivc.testing.synth import synthetic_case
from tests.tables.conftest import read_csv, write_csv

#: what the case ids and the reader's fixed state may add between 100 and 1,000 cases
ALLOWANCE = 1_500_000


def _tables(folder: Path, n: int, *, unsorted: bool) -> Path:
    base = [synthetic_case(i) for i in range(40)]
    with TableWriter(folder) as writer:
        for i in range(n):
            writer.write(base[i % len(base)].model_copy(update={"case_id": f"m-{i:06d}"}))
    if unsorted:  # every table but cases backwards: the SQLite index path
        for path in folder.glob("*.csv"):
            if path.name != "cases.csv":
                rows = read_csv(path)
                if rows:
                    write_csv(path, rows[::-1])
    return folder


def _peak(folder: Path) -> int:
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_table_cases(folder))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > 0
    return peak


@pytest.mark.parametrize("unsorted", [False, True], ids=["ordered", "indexed"])
def test_peak_memory_does_not_grow_with_the_cases(tmp_path, monkeypatch, unsorted):
    # rows go into the index in batches: a small batch, so that both runs fill whole ones
    monkeypatch.setattr(reader, "_INSERT_BATCH", 50)
    small = _peak(_tables(tmp_path / "small", 100, unsorted=unsorted))
    large = _peak(_tables(tmp_path / "large", 1000, unsorted=unsorted))
    assert large < small + ALLOWANCE, (small, large)
