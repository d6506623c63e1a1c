"""Where the tables come from: a folder of CSV files, a zip of them, a folder of Parquet files.

A source opens each table as a fresh stream of :class:`~fhir_ivc.io.tables.records.Row`\\ s
(the reader reads the tables twice: once for the case ids, once for the cases). Problems of a
whole table (unknown table or column, not UTF-8, broken CSV) raise :class:`TableFileError`.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Generator, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final, Protocol

from fhir_ivc.io.tables.errors import TableFileError
from fhir_ivc.io.tables.layout import CASE_ID, CASES, INFERRED, INFERRED_COLUMNS, layout
from fhir_ivc.io.tables.records import Row

__all__ = [
    "CSV_SUFFIX",
    "PARQUET_SUFFIX",
    "TableFileError",
    "TableSource",
    "is_table_input",
    "open_source",
]

CSV_SUFFIX: Final = ".csv"
PARQUET_SUFFIX: Final = ".parquet"
#: csv's default field limit (128 KiB) is below what a case may hold in a cell
_FIELD_LIMIT: Final = 1024 * 1024


def header_of(table: str) -> tuple[str, ...]:
    """The columns a table may have (``case_id`` first)."""
    if table == INFERRED:
        return INFERRED_COLUMNS
    return layout().by_name[table].header


def check_header(where: str, table: str, columns: list[str]) -> None:
    known = header_of(table)
    if CASE_ID not in columns:
        raise TableFileError(where, f"no {CASE_ID} column")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise TableFileError(where, f"columns named twice: {', '.join(twice)}")
    unknown = [c for c in columns if c not in known]
    if unknown:
        shown = ", ".join(repr(c[:40]) for c in unknown[:5])
        raise TableFileError(
            where,
            f"unknown column(s) {shown} (a typo would drop data; `fhir-ivc schema --tables` "
            "lists the columns)",
        )


class TableSource(Protocol):
    """The tables of one input."""

    name: str

    def tables(self) -> list[str]:
        """The tables present (``cases`` always among them)."""
        ...

    def rows(self, table: str, *, ids_only: bool = False) -> Generator[Row, None, None]:
        """The rows of one table, from the start (``ids_only``: only their ``case_id``, for
        the index pass)."""
        ...

    def label(self, table: str, line: int) -> str:
        """``imaging.csv:3``: how messages name a row."""
        ...

    def file(self, table: str) -> str:
        """The table's file, for record sources."""
        ...


def _table_names(where: str, names: list[str], suffix: str) -> dict[str, str]:
    """``{table: member}`` for the files with ``suffix``; unknown tables are refused."""
    known = set(layout().names)
    found: dict[str, str] = {}
    for member in names:
        path = PurePosixPath(member)
        if path.suffix.lower() != suffix or path.name.startswith("."):
            continue
        table = path.name[: -len(suffix)]
        if table not in known:
            raise TableFileError(
                where,
                f"{path.name}: not a table of the layout (tables: {', '.join(sorted(known))})",
            )
        if table in found:
            raise TableFileError(where, f"two files for the table {table}")
        found[table] = member
    if CASES not in found:
        raise TableFileError(where, f"no {CASES}{suffix}: the table of one row per case")
    return found


def _csv_rows(stream: IO[bytes], table: str, where: str, ids_only: bool) -> Iterator[Row]:
    with io.TextIOWrapper(stream, encoding="utf-8-sig", newline="") as text:
        yield from _csv_text_rows(text, table, where, ids_only)


def _csv_text_rows(text: IO[str], table: str, where: str, ids_only: bool) -> Iterator[Row]:
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise TableFileError(where, "empty file: not even a header row")
        header = [h.strip() for h in header]
        check_header(where, table, header)
        width = len(header)
        id_column = header.index(CASE_ID)
        line = reader.line_num + 1
        for cells in reader:
            if not cells or cells == [""]:
                line = reader.line_num + 1
                continue
            values: dict[str, Any]
            if ids_only:
                values = {CASE_ID: cells[id_column]} if id_column < len(cells) else {}
            else:
                values = dict(zip(header, cells, strict=False))
            problem = None
            if len(cells) != width:
                problem = f"the row has {len(cells)} cells, the header {width}"
            yield Row(table, line, values, problem)
            line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        # text is decoded in chunks: the line of the bad byte is not known, only that it is
        # after the last line read
        after = f" (after line {reader.line_num})" if reader.line_num else ""
        raise TableFileError(where, f"not UTF-8 text: {exc.reason}{after}") from None
    except csv.Error as exc:
        raise TableFileError(where, f"broken CSV: {exc}", reader.line_num) from None


class _Folder:
    """``DIR/cases<suffix>``, ``DIR/imaging<suffix>``...: absent tables have no rows."""

    suffix: str = CSV_SUFFIX

    def __init__(self, path: Path) -> None:
        self.name = os.fspath(path)
        self._path = path
        members = [p.name for p in path.iterdir() if p.is_file()]
        self._files = _table_names(self.name, members, self.suffix)

    def tables(self) -> list[str]:
        return list(self._files)

    def file(self, table: str) -> str:
        return os.fspath(self._path / self._files[table])


class CsvFolder(_Folder):
    """A folder of CSV tables."""

    def label(self, table: str, line: int) -> str:
        return f"{self._files[table]}:{line}"

    def rows(self, table: str, *, ids_only: bool = False) -> Generator[Row, None, None]:
        with open(self._path / self._files[table], "rb") as stream:
            yield from _csv_rows(stream, table, self.file(table), ids_only)


class CsvZip:
    """A zip of the CSV tables, at its top level or in one folder inside it."""

    def __init__(self, path: Path) -> None:
        self.name = os.fspath(path)
        try:
            with zipfile.ZipFile(path) as archive:
                members = [
                    i.filename
                    for i in archive.infolist()
                    if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                ]
        except zipfile.BadZipFile as exc:
            raise TableFileError(self.name, f"not a zip file: {exc}") from None
        self._files = _table_names(self.name, members, CSV_SUFFIX)
        folders = {str(PurePosixPath(m).parent) for m in self._files.values()}
        if len(folders) > 1:
            raise TableFileError(self.name, "the tables are in more than one folder of the zip")

    def tables(self) -> list[str]:
        return list(self._files)

    def file(self, table: str) -> str:
        return f"{self.name}!{self._files[table]}"

    def label(self, table: str, line: int) -> str:
        return f"{PurePosixPath(self._files[table]).name}:{line}"

    def rows(self, table: str, *, ids_only: bool = False) -> Generator[Row, None, None]:
        with zipfile.ZipFile(self.name) as archive, archive.open(self._files[table]) as stream:
            yield from _csv_rows(stream, table, self.file(table), ids_only)


class ParquetFolder(_Folder):
    """A folder of Parquet tables: typed columns, or text read as CSV cells."""

    suffix = PARQUET_SUFFIX

    def label(self, table: str, line: int) -> str:
        return f"{self._files[table]} row {line}"

    def rows(self, table: str, *, ids_only: bool = False) -> Generator[Row, None, None]:
        from fhir_ivc.io.tables.parquet import iter_parquet_rows

        where = self.file(table)
        for number, values in iter_parquet_rows(
            where, lambda cols: check_header(where, table, cols), ids_only=ids_only
        ):
            yield Row(table, number, values)


def _has(path: Path, name: str) -> bool:
    return (path / name).is_file()


def is_table_input(path: str | os.PathLike[str]) -> bool:
    """A folder with ``cases.csv`` or ``cases.parquet``, a ``.zip``, or a ``.parquet`` file."""
    p = Path(path)
    if p.is_dir():
        return _has(p, CASES + CSV_SUFFIX) or _has(p, CASES + PARQUET_SUFFIX)
    return p.suffix.lower() in (".zip", PARQUET_SUFFIX)


def open_source(path: Path) -> TableSource:
    """The table source of a folder or zip (a single ``.parquet`` file is read elsewhere)."""
    if path.is_dir():
        csv_here = _has(path, CASES + CSV_SUFFIX)
        parquet_here = _has(path, CASES + PARQUET_SUFFIX)
        if csv_here and parquet_here:
            raise TableFileError(
                os.fspath(path), "both cases.csv and cases.parquet: keep one format per folder"
            )
        if parquet_here:
            return ParquetFolder(path)
        if csv_here:
            return CsvFolder(path)
        raise TableFileError(os.fspath(path), "no cases.csv or cases.parquet in the folder")
    return CsvZip(path)


csv.field_size_limit(_FIELD_LIMIT)
