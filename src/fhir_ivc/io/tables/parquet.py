"""Parquet through pyarrow (the ``tables`` extra): flat tables like the CSV ones, typed, and
one table of nested case records whose columns follow the JSON Schema.

pyarrow is imported only here, and only when Parquet is read or written.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel

from fhir_ivc.exceptions import ConfigError
from fhir_ivc.io.tables.errors import TableFileError
from fhir_ivc.io.tables.layout import CASE_ID, INFERRED, INFERRED_COLUMNS, Column, _unwrap, layout
from fhir_ivc.model import Case

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ROWS_PER_BATCH",
    "arrow_schema",
    "case_schema",
    "iter_nested_records",
    "iter_parquet_rows",
    "pyarrow",
]

#: rows read or written at a time: memory holds one batch per table (read without pre-buffering
#: and without threads: one table of 100,000 cases' case ids then costs half the memory)
ROWS_PER_BATCH: Final = 2048


def pyarrow() -> Any:
    """The pyarrow module, or a clear error naming the extra that installs it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet
    except ImportError as exc:
        raise ConfigError("Parquet needs pyarrow: pip install 'fhir-ivc[tables]'") from exc
    return pa


def _scalar_type(column: Column) -> pa.DataType:
    pa = pyarrow()
    if column.kind == "code" and column.allowed and isinstance(column.allowed[0], int):
        return pa.int64()
    return {
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
    }.get(column.kind, pa.string())


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a flat table (the Parquet writer's; the reader accepts text too)."""
    pa = pyarrow()
    if table == INFERRED:
        return pa.schema([(name, pa.string()) for name in INFERRED_COLUMNS])
    fields = [(CASE_ID, pa.string())]
    for column in layout().by_name[table].columns:
        kind = _scalar_type(column)
        fields.append((column.name, pa.list_(kind) if column.many else kind))
    return pa.schema(fields)


def iter_parquet_rows(
    path: str, check: Callable[[list[str]], None], *, ids_only: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(1-based row number, {column: value})`` of a flat Parquet table, batch by batch
    (``ids_only``: the ``case_id`` column alone)."""
    pa = pyarrow()
    try:
        file = pa.parquet.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise TableFileError(path, f"not a Parquet file: {type(exc).__name__}") from None
    with file:
        check(list(file.schema_arrow.names))
        number = 0
        columns = [CASE_ID] if ids_only else None
        for batch in file.iter_batches(
            batch_size=ROWS_PER_BATCH, columns=columns, use_threads=False
        ):
            for values in batch.to_pylist():
                number += 1
                yield number, values


# --- nested: one row per case, columns as in the JSON Schema -----------------------------------


def _model_type(model: type[BaseModel]) -> pa.DataType:
    pa = pyarrow()
    return pa.struct(
        [(name, _annotation_type(info.annotation)) for name, info in model.model_fields.items()]
    )


def _annotation_type(annotation: Any) -> pa.DataType:
    pa = pyarrow()
    inner, _ = _unwrap(annotation)
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        return pa.list_(_annotation_type(item))
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return _model_type(inner)
    if typing.get_origin(inner) is Literal:
        values = typing.get_args(inner)
        return pa.int64() if isinstance(values[0], int) else pa.string()
    types: dict[Any, Any] = {bool: pa.bool_(), int: pa.int64(), float: pa.float64()}
    return types.get(inner, pa.string())


def case_schema() -> pa.Schema:
    """One column per top-level case field, nested as the case record (and its JSON Schema)."""
    pa = pyarrow()
    struct = _model_type(Case)
    return pa.schema([struct.field(i) for i in range(struct.num_fields)])


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def iter_nested_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(1-based row, case record)`` of a Parquet file of nested case records."""
    pa = pyarrow()
    name = os.fspath(path)
    try:
        file = pa.parquet.ParquetFile(name, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise TableFileError(name, f"not a Parquet file: {type(exc).__name__}") from None
    with file:
        known = set(Case.model_fields)
        unknown = [n for n in file.schema_arrow.names if n not in known]
        if unknown:
            shown = ", ".join(repr(n[:40]) for n in unknown[:5])
            flat = (
                " (flat tables go in a folder: DIR/cases.parquet...)" if "." in unknown[0] else ""
            )
            raise TableFileError(name, f"unknown column(s) {shown}{flat}")
        number = 0
        for batch in file.iter_batches(batch_size=ROWS_PER_BATCH, use_threads=False):
            for record in batch.to_pylist():
                number += 1
                yield number, _strip_none(record)


class NestedParquetWriter:
    """Writes case records as one nested Parquet table (``case_schema()``), batch by batch."""

    def __init__(self, path: Path) -> None:
        pa = pyarrow()
        self._pa = pa
        self._path = path
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._schema = case_schema()
        self._writer = pa.parquet.ParquetWriter(self._tmp, self._schema)
        self._batch: list[dict[str, Any]] = []

    def write(self, case: Case) -> None:
        self._batch.append(case.model_dump(mode="json"))
        if len(self._batch) >= ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            table = self._pa.Table.from_pylist(self._batch, schema=self._schema)
            self._writer.write_table(table)
            self._batch = []

    def close(self, ok: bool = True) -> None:
        if ok:
            self._flush()
        self._writer.close()
        if ok:
            os.replace(self._tmp, self._path)
        else:
            self._tmp.unlink(missing_ok=True)
