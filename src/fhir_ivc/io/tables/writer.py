"""Cases to tables: :class:`TableWriter` writes the layout's tables, CSV or Parquet, one case
at a time (``fhir-ivc pull --tables``, the examples, the template).

Every table of the layout is written, with its header even when it has no rows, so a folder
written here is always a complete input. Files appear only when the writer closes without an
error (each is written to a hidden temporary file in the folder, then moved into place).
CSV: UTF-8, comma, ``\\n`` line ends, quotes only where needed; cells as
:func:`~fhir_ivc.io.tables.records.format_cell` writes them.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, Self

from fhir_ivc.io.tables.layout import INFERRED, INFERRED_COLUMNS, layout
from fhir_ivc.io.tables.records import case_rows, format_cell
from fhir_ivc.io.tables.sources import CSV_SUFFIX, PARQUET_SUFFIX
from fhir_ivc.model import Case

__all__ = ["TableFormat", "TableWriter"]

TableFormat = Literal["csv", "parquet"]
_SUFFIX: Final = {"csv": CSV_SUFFIX, "parquet": PARQUET_SUFFIX}


def _header(table: str) -> tuple[str, ...]:
    return INFERRED_COLUMNS if table == INFERRED else layout().by_name[table].header


class TableWriter:
    """``folder/<table>.csv`` (or ``.parquet``) for every table of the layout."""

    def __init__(self, folder: str | os.PathLike[str], table_format: TableFormat = "csv") -> None:
        self.folder = Path(folder)
        self.format = table_format
        self.cases = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        suffix = _SUFFIX[table_format]
        self._final = {t: self.folder / f"{t}{suffix}" for t in layout().names}
        self._tmp = {t: p.with_name(f".{p.name}.tmp") for t, p in self._final.items()}
        self._files: dict[str, IO[str]] = {}
        self._csv: dict[str, Any] = {}
        self._parquet: dict[str, Any] = {}
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self._final}
        try:
            for table, tmp in self._tmp.items():
                if table_format == "csv":
                    file = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
                    self._files[table] = file
                    self._csv[table] = csv.writer(file, lineterminator="\n")
                    self._csv[table].writerow(_header(table))
                else:
                    from fhir_ivc.io.tables.parquet import arrow_schema, pyarrow

                    pa = pyarrow()
                    self._parquet[table] = pa.parquet.ParquetWriter(tmp, arrow_schema(table))
        except BaseException:
            self.close(ok=False)
            raise

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

    def close(self, ok: bool = True) -> None:
        """Move the files into place (``ok``), or remove them."""
        try:
            if ok:
                for table in self._parquet:
                    self._flush(table)
        finally:
            for file in self._files.values():
                file.close()
            for writer in self._parquet.values():
                writer.close()
            for table, tmp in self._tmp.items():
                if ok:
                    os.replace(tmp, self._final[table])
                else:
                    tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(ok=exc_type is None)


def _parquet_batch() -> int:
    from fhir_ivc.io.tables.parquet import ROWS_PER_BATCH

    return ROWS_PER_BATCH
