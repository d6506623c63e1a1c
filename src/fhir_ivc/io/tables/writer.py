"""Cases to tables: :class:`TableWriter` writes the layout's tables, CSV or Parquet, one case
at a time (``fhir-ivc pull --tables``, the examples, the template).

Every table of the layout is written, with its header even when it has no rows, so a folder
written here is always a complete input. Files appear only when the ``with`` block ends without
an error (each is written to a hidden temporary file in the folder, then moved into place).
CSV: UTF-8, comma, ``\\n`` line ends, quotes only where needed; cells as
:func:`~fhir_ivc.io.tables.records.format_cell` writes them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path
from typing import Any, Final, Literal, Self

from fhir_ivc._types import ExcInfo
from fhir_ivc.io.tables.layout import INFERRED, INFERRED_COLUMNS, layout
from fhir_ivc.io.tables.records import case_rows, format_cell
from fhir_ivc.io.tables.sources import CSV_SUFFIX, PARQUET_SUFFIX
from fhir_ivc.io.writer import _atomic_file, _file_mode  # the io package's atomic files
from fhir_ivc.model import Case

__all__ = ["TableFormat", "TableWriter"]

TableFormat = Literal["csv", "parquet"]
_SUFFIX: Final = {"csv": CSV_SUFFIX, "parquet": PARQUET_SUFFIX}


def _header(table: str) -> tuple[str, ...]:
    return INFERRED_COLUMNS if table == INFERRED else layout().by_name[table].header


class TableWriter:
    """``folder/<table>.csv`` (or ``.parquet``) for every table of the layout; a context
    manager: the files are moved into place when the ``with`` block ends without an error."""

    def __init__(self, folder: str | os.PathLike[str], table_format: TableFormat = "csv") -> None:
        self.folder = Path(folder)
        self.format = table_format
        self.cases = 0
        self._stack = contextlib.ExitStack()
        self._csv: dict[str, Any] = {}
        self._parquet: dict[str, Any] = {}
        self._pending: dict[str, list[tuple[Any, ...]]] = {}

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        mode = _file_mode()
        with self._stack as stack:  # closes (and removes) what was opened if one open fails
            for table in layout().names:
                path = self.folder / f"{table}{_SUFFIX[self.format]}"
                file = stack.enter_context(_atomic_file(path, mode))
                if self.format == "csv":
                    text = io.TextIOWrapper(file, encoding="utf-8", newline="")
                    stack.callback(text.detach)  # flushes, then leaves the file to _atomic_file
                    self._csv[table] = csv.writer(text, lineterminator="\n")
                    self._csv[table].writerow(_header(table))
                else:
                    from fhir_ivc.io.tables.parquet import arrow_schema, pyarrow

                    writer = pyarrow().parquet.ParquetWriter(file, arrow_schema(table))
                    stack.callback(writer.close)
                    self._parquet[table] = writer
                    self._pending[table] = []
            self._stack = stack.pop_all()
        return self

    def write(self, case: Case) -> None:
        """Append one case's rows to every table."""
        for table, rows in case_rows(case).items():
            if self.format == "csv":
                writer = self._csv[table]
                for row in rows:
                    writer.writerow([format_cell(v) for v in row])
            else:
                pending = self._pending[table]
                pending.extend(rows)
                if len(pending) >= _parquet_batch():
                    self._flush(table)
        self.cases += 1

    def _flush(self, table: str) -> None:
        from fhir_ivc.io.tables.parquet import arrow_schema, pyarrow

        rows = self._pending[table]
        if not rows:
            return
        pa = pyarrow()
        schema = arrow_schema(table)
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)]
        self._parquet[table].write_table(pa.Table.from_arrays(arrays, schema=schema))
        self._pending[table] = []

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if exc_info[0] is None:
            try:
                for table in self._parquet:
                    self._flush(table)
            except BaseException as error:
                self._stack.__exit__(type(error), error, error.__traceback__)
                raise
        # with an error, _atomic_file removes the temporary files instead of moving them
        self._stack.__exit__(*exc_info)


def _parquet_batch() -> int:
    from fhir_ivc.io.tables.parquet import ROWS_PER_BATCH

    return ROWS_PER_BATCH
