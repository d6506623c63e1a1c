"""Fixtures of the table tests: the seed cases, tables written from cases, CSV editing."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from fhir_ivc.io import iter_case_records
from fhir_ivc.io.tables import TableWriter
from fhir_ivc.model import Case

ROOT = Path(__file__).resolve().parents[2]
SEED_YAML = ROOT / "examples" / "cases" / "seed-cases.yaml"
SEED_TABLES = ROOT / "examples" / "cases" / "seed-tables"


@pytest.fixture(scope="session")
def seed_cases() -> list[Case]:
    cases = [r.case for r in iter_case_records(SEED_YAML)]
    assert all(c is not None for c in cases)
    return [c for c in cases if c is not None]


@pytest.fixture
def write_tables(tmp_path) -> Callable[..., Path]:
    """``write_tables(cases, fmt="csv", name="tables")``: a folder of the cases' tables."""

    def write(cases: Iterable[Case], fmt: str = "csv", name: str = "tables") -> Path:
        folder = tmp_path / name
        with TableWriter(folder, fmt) as writer:  # type: ignore[arg-type]
            for case in cases:
                writer.write(case)
        return folder

    return write


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> None:
    header = header or (list(rows[0]) if rows else [])
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def edit_csv() -> Callable[..., None]:
    """``edit_csv(path, change)``: rewrite a CSV table with ``change(rows) -> rows``."""

    def edit(path: Path, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
        rows = read_csv(path)
        header = list(rows[0]) if rows else None
        if header is None:
            with open(path, encoding="utf-8", newline="") as file:
                header = next(csv.reader(file))
        changed = change(rows)
        write_csv(path, changed, list(changed[0]) if changed else header)

    return edit
