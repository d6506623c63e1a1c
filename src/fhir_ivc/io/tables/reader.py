"""Cases from tables, streaming: :func:`iter_table_cases` yields one
:class:`~fhir_ivc.io.CaseRecordResult` per case, like the JSON/NDJSON/YAML readers.

Two passes over the tables, neither holding more than one case's rows (plus the case ids):

1. **index**: the ``case_id`` of every ``cases`` row (its position), and of every row of the
   other tables: a table whose rows come in the order of ``cases`` (grouped by case, as an
   export sorted by case or written by ``fhir-ivc pull --tables`` is) is *ordered*; any other
   table is copied into an on-disk SQLite index (a temporary file) keyed by case id. Orphan
   rows (a case id with no ``cases`` row), rows without a case id and duplicated case rows are
   found here. A problem of a whole table stops the input before any case is read.
2. **cases**: ``cases`` is read again row by row; each case takes its rows from the ordered
   tables (a cursor per table, moving forward only) and from the index, is assembled and
   validated (:func:`~fhir_ivc.io.tables.records.assemble`) and yielded. Orphans and rows
   without a case id are yielded last, one reject per case id (or table).

The input limits (:class:`~fhir_ivc.io.limits.InputLimits`) hold here as for JSON: the cells of
one case, over all its rows, may hold at most ``max_record_bytes`` (UTF-8); a case past it is
rejected and its rows beyond the limit are dropped as they are read, never held. Every cell
passes :func:`~fhir_ivc.io.limits.value_problem` (control characters, lone surrogates), and
the rows of a nested Parquet file are checked like JSON records.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from fhir_ivc.exceptions import CaseInputError
from fhir_ivc.io._records import Unreadable
from fhir_ivc.io.limits import DEFAULT_LIMITS, InputLimits, short_path, value_problem
from fhir_ivc.io.reader import CaseRecordResult, RecordSource, _to_result
from fhir_ivc.io.tables.errors import TableFileError
from fhir_ivc.io.tables.layout import CASES
from fhir_ivc.io.tables.records import Row, assemble
from fhir_ivc.io.tables.sources import PARQUET_SUFFIX, TableSource, open_source

__all__ = ["iter_table_cases"]

logger = logging.getLogger(__name__)

#: rows of one orphan case id named in its reject (the count says how many more)
_LINES_SHOWN: Final = 5
_INSERT_BATCH: Final = 500


def iter_table_cases(
    path: str | os.PathLike[str], *, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[CaseRecordResult]:
    """The cases of a folder or zip of tables, or of a nested ``.parquet`` file."""
    name = os.fspath(path)
    p = Path(name)
    try:
        if p.is_file() and p.suffix.lower() == PARQUET_SUFFIX:
            yield from _nested(name, limits)
            return
        source = open_source(p)
        index = _Index.build(source)
    except TableFileError as problem:
        yield _file_problem(problem)
        return
    try:
        yield from _cases(source, index, limits)
    except TableFileError as problem:  # a file changed between the passes
        yield _file_problem(problem)
    finally:
        index.close()


def _file_problem(problem: TableFileError) -> CaseRecordResult:
    error = CaseInputError(None, "", problem.reason)
    return CaseRecordResult(RecordSource(problem.where, problem.line), errors=(error,))


def _nested(name: str, limits: InputLimits) -> Iterator[CaseRecordResult]:
    from fhir_ivc.io.tables.parquet import iter_nested_records

    for number, record in iter_nested_records(name):
        source = RecordSource(name, number)
        problem = value_problem(record, limits)
        if problem is None and (size := len(orjson.dumps(record))) > limits.max_record_bytes:
            problem = "", _too_large(size, limits)
        # a refused record goes through _to_result as the JSON readers' Unreadable does
        raw = record if problem is None else Unreadable(problem[1], short_path(problem[0]), record)
        result = _to_result(raw, source)
        if result.errors:  # "row N" rather than a line: Parquet has no lines
            errors = tuple(
                CaseInputError(e.case_id, e.path, f"row {number}: {e.reason}")
                for e in result.errors
            )
            result = CaseRecordResult(result.source, errors=errors)
        yield result


@dataclass
class _Orphans:
    count: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)

    def add(self, table: str, line: int) -> None:
        self.count += 1
        if len(self.rows) < _LINES_SHOWN:
            self.rows.append((table, line))


@dataclass
class _Index:
    """What pass 1 learnt: case positions, duplicates, orphans, the ordered tables, the index."""

    source: TableSource
    positions: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    orphans: dict[str, _Orphans] = field(default_factory=dict)
    no_case_id: dict[str, _Orphans] = field(default_factory=dict)
    ordered: list[str] = field(default_factory=list)
    indexed: list[str] = field(default_factory=list)
    db: sqlite3.Connection | None = None
    tmpdir: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def build(cls, source: TableSource) -> _Index:
        index = cls(source)
        lines: dict[str, int] = {}
        for position, row in enumerate(source.rows(CASES, ids_only=True)):
            case_id = row.case_id
            if case_id is None:
                index.no_case_id.setdefault(CASES, _Orphans()).add(CASES, row.line)
            elif case_id in index.positions:
                index.duplicates.setdefault(case_id, [lines[case_id]]).append(row.line)
            else:
                index.positions[case_id] = position
                lines[case_id] = row.line
        del lines
        for table in source.tables():
            if table != CASES:
                index._scan(table)
        return index

    def _scan(self, table: str) -> None:
        last = -1
        in_order = True
        for row in self.source.rows(table, ids_only=True):
            case_id = row.case_id
            position = self.positions.get(case_id) if case_id is not None else None
            if case_id is None:
                self.no_case_id.setdefault(table, _Orphans()).add(table, row.line)
            elif position is None:
                self.orphans.setdefault(case_id, _Orphans()).add(table, row.line)
            elif position < last:
                in_order = False
            else:
                last = position
        if in_order:
            self.ordered.append(table)
        else:
            logger.debug("%s is not in the order of cases: indexed on disk", table)
            self._copy(table)

    def _copy(self, table: str) -> None:
        if self.db is None:
            self.tmpdir = tempfile.TemporaryDirectory(prefix="fhir-ivc-tables-")
            self.db = sqlite3.connect(Path(self.tmpdir.name) / "index.sqlite")
            self.db.execute(
                "CREATE TABLE row_index (tab TEXT, case_id TEXT, line INTEGER, problem TEXT, "
                "cells BLOB)"
            )
        batch: list[tuple[Any, ...]] = []
        for row in self.source.rows(table):
            case_id = row.case_id
            if case_id is None or case_id not in self.positions:
                continue
            batch.append((table, case_id, row.line, row.problem, orjson.dumps(dict(row.values))))
            if len(batch) >= _INSERT_BATCH:
                self.db.executemany("INSERT INTO row_index VALUES (?, ?, ?, ?, ?)", batch)
                batch = []
        self.db.executemany("INSERT INTO row_index VALUES (?, ?, ?, ?, ?)", batch)
        self.db.execute("CREATE INDEX IF NOT EXISTS by_case ON row_index (tab, case_id, line)")
        self.db.commit()
        self.indexed.append(table)

    def lookup(self, table: str, case_id: str, budget: _Budget) -> list[Row]:
        if self.db is None:
            return []
        cursor = self.db.execute(
            "SELECT line, problem, cells FROM row_index WHERE tab = ? AND case_id = ? "
            "ORDER BY line",
            (table, case_id),
        )
        rows: list[Row] = []
        for line, problem, cells in cursor:
            if budget.over:
                break  # the case is rejected: the rest of its rows are not read
            row = Row(table, line, orjson.loads(cells), problem)
            if budget.keep(row):
                rows.append(row)
        cursor.close()
        return rows

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        if self.tmpdir is not None:
            self.tmpdir.cleanup()


def _too_large(size: int, limits: InputLimits) -> str:
    return (
        f"the case's rows hold over {limits.max_record_bytes} bytes (--max-record-bytes; "
        f"{size}+ read)"
    )


def _cells_bytes(values: Any) -> int:
    """Size of a row's cells: UTF-8 bytes of each text cell (ASCII ones without encoding),
    8 for any other value (a typed Parquet cell)."""
    size = 0
    for value in values.values():
        if isinstance(value, str):
            size += len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
        elif value is not None:
            size += 8
    return size


@dataclass
class _Budget:
    """The bytes one case's rows may still hold; rows past it are dropped (counted only)."""

    limit: int
    used: int = 0

    @property
    def over(self) -> bool:
        return self.used > self.limit

    def keep(self, row: Row) -> bool:
        if self.over:
            return False
        self.used += _cells_bytes(row.values)
        return not self.over


class _Cursor:
    """The rows of an ordered table, handed out case by case (forward only)."""

    def __init__(self, index: _Index, table: str) -> None:
        self._rows: Generator[Row, None, None] = index.source.rows(table)
        self._positions = index.positions
        self._next: Row | None = None
        self._next_position = -1
        self._advance()

    def _advance(self) -> None:
        for row in self._rows:
            case_id = row.case_id
            position = self._positions.get(case_id) if case_id is not None else None
            if position is not None:  # orphans and rows without id are reported from pass 1
                self._next, self._next_position = row, position
                return
        self._next, self._next_position = None, -1

    def close(self) -> None:
        self._rows.close()

    def take(self, position: int, budget: _Budget) -> list[Row]:
        taken: list[Row] = []
        while self._next is not None and self._next_position <= position:
            if self._next_position == position and budget.keep(self._next):
                taken.append(self._next)
            self._advance()
        return taken


def _cases(source: TableSource, index: _Index, limits: InputLimits) -> Iterator[CaseRecordResult]:
    cursors = {table: _Cursor(index, table) for table in index.ordered}
    try:
        yield from _assembled(source, index, cursors, limits)
    finally:
        for cursor in cursors.values():
            cursor.close()
    yield from _leftovers(source, index)


def _assembled(
    source: TableSource, index: _Index, cursors: dict[str, _Cursor], limits: InputLimits
) -> Iterator[CaseRecordResult]:
    cases_file = source.file(CASES)
    for position, row in enumerate(source.rows(CASES)):
        case_id = row.case_id
        record_source = RecordSource(cases_file, row.line)
        if case_id is None or index.positions.get(case_id) != position:
            continue  # no id (reported at the end) or a later duplicate (reported at the first)
        budget = _Budget(limits.max_record_bytes)
        budget.keep(row)
        children = {table: cursor.take(position, budget) for table, cursor in cursors.items()}
        for table in index.indexed:
            children[table] = index.lookup(table, case_id, budget)
        if budget.over:
            error = CaseInputError(case_id, "", _too_large(budget.used, limits))
            yield CaseRecordResult(record_source, errors=(error,))
            continue
        if (cell := _cell_problem(row, children, limits, source)) is not None:
            yield CaseRecordResult(record_source, errors=(CaseInputError(case_id, *cell),))
            continue
        if case_id in index.duplicates:
            rows = ", ".join(source.label(CASES, n) for n in index.duplicates[case_id])
            reason = (
                f"duplicate case: {rows} have this case_id; its rows in the other tables "
                "cannot be told apart"
            )
            error = CaseInputError(case_id, "case_id", reason)
            yield CaseRecordResult(record_source, errors=(error,))
            continue
        result = assemble(row, children, source.label)
        if isinstance(result, list):
            yield CaseRecordResult(record_source, errors=tuple(result))
        else:
            yield CaseRecordResult(record_source, case=result)


def _cell_problem(
    row: Row, children: dict[str, list[Row]], limits: InputLimits, source: TableSource
) -> tuple[str, str] | None:
    """``(column, reason)`` of the first cell of the case that no JSON record could hold."""
    for each in (row, *(r for rows in children.values() for r in rows)):
        for column, value in each.values.items():
            if value is None or (isinstance(value, str) and value.isprintable()):
                continue  # the common case, without the walk
            problem = value_problem(value, limits)
            if problem is not None:
                reason = problem[1]
                return column, f"{source.label(each.table, each.line)}, column {column}: {reason}"
    return None


def _leftovers(source: TableSource, index: _Index) -> Iterator[CaseRecordResult]:
    for case_id, orphans in index.orphans.items():
        shown = ", ".join(source.label(t, n) for t, n in orphans.rows)
        more = (
            f" and {orphans.count - len(orphans.rows)} more"
            if orphans.count > len(orphans.rows)
            else ""
        )
        reason = f"orphan rows ({shown}{more}): no row of {CASES} has this case_id"
        table, line = orphans.rows[0]
        error = CaseInputError(case_id, "case_id", reason)
        yield CaseRecordResult(RecordSource(source.file(table), line), errors=(error,))
    for table, rows in index.no_case_id.items():
        shown = ", ".join(source.label(t, n) for t, n in rows.rows)
        more = f" and {rows.count - len(rows.rows)} more" if rows.count > len(rows.rows) else ""
        reason = f"rows without a case_id (or not a case id): {shown}{more}"
        error = CaseInputError(None, "case_id", reason)
        yield CaseRecordResult(RecordSource(source.file(table), rows.rows[0][1]), errors=(error,))
