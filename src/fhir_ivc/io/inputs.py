"""Every kind of case input behind one call: case files (JSON, NDJSON, YAML, standard input:
:mod:`fhir_ivc.io.reader`) and case tables (a folder or zip of CSV tables, Parquet:
:mod:`fhir_ivc.io.tables`). ``fhir_ivc.io.iter_case_records`` and ``iter_inputs`` are these."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Unpack

from fhir_ivc.io import reader
from fhir_ivc.io.limits import DEFAULT_LIMITS
from fhir_ivc.io.reader import STDIN, CaseRecordResult, PendingRecord, ReadOptions
from fhir_ivc.io.tables import is_table_input, iter_table_cases

__all__ = ["finish_record", "iter_case_records", "iter_inputs", "iter_pending_inputs"]


def iter_case_records(
    path: str | os.PathLike[str], **options: Unpack[ReadOptions]
) -> Iterator[CaseRecordResult]:
    """The records of one input: case tables (docs/tables.md) when ``path`` is a folder, a
    ``.zip`` or a ``.parquet`` file (only ``limits`` applies), else a case file
    (:func:`fhir_ivc.io.reader.iter_case_records`: ``input_format``, ``stdin``, ``limits``)."""
    for record in _pending(path, options):
        yield finish_record(record)


def iter_inputs(
    paths: Iterable[str | os.PathLike[str]], **options: Unpack[ReadOptions]
) -> Iterator[CaseRecordResult]:
    """The records of several inputs, one after the other (see :func:`iter_case_records`)."""
    for path in paths:
        yield from iter_case_records(path, **options)


def iter_pending_inputs(
    paths: Iterable[str | os.PathLike[str]], **options: Unpack[ReadOptions]
) -> Iterator[PendingRecord | CaseRecordResult]:
    """:func:`iter_inputs` with the records of case files left pending
    (:func:`fhir_ivc.io.reader.iter_pending_records`); :func:`finish_record` finishes one, here
    or in another process. Case tables are assembled here, so they come as results."""
    for path in paths:
        yield from _pending(path, options)


def finish_record(record: PendingRecord | CaseRecordResult) -> CaseRecordResult:
    """The result of a record of :func:`iter_pending_inputs`."""
    return record if isinstance(record, CaseRecordResult) else record.result()


def _pending(
    path: str | os.PathLike[str], options: ReadOptions
) -> Iterator[PendingRecord | CaseRecordResult]:
    if os.fspath(path) != STDIN and is_table_input(path):
        yield from iter_table_cases(path, limits=options.get("limits", DEFAULT_LIMITS))
    else:
        yield from reader.iter_pending_records(path, **options)
