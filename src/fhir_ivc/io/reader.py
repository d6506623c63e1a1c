"""Streaming readers of case records: JSON, NDJSON, YAML and standard input.

:func:`iter_case_records` turns one input file into a stream of :class:`CaseRecordResult`\\ s,
one per record: either a valid :class:`~fhir_ivc.model.Case` or the
:class:`~fhir_ivc.exceptions.CaseInputError`\\ s of that record, always with the record's
position (:class:`RecordSource`, printed ``file:line``). One bad record never stops the others.

Formats, chosen by extension or, for other names, sniffed from the first bytes:

``.ndjson`` / ``.jsonl``
    one case object per line, read line by line (truly streaming). Broken JSON on one line
    rejects that line only; so does a line over the record limit, dropped without being held.
    ``-`` (standard input) is read as NDJSON.
``.json``
    one case object, or an array of case objects. The array is streamed element by element
    (each element is decoded on its own), so memory holds one case at a time. Broken JSON
    cannot be resynchronised inside an array: the elements before it are yielded, then one
    file-level reject at the exact line and column. An element the limits refuse (too large,
    too deep, duplicate keys...) is skipped and rejected alone.
``.yaml`` / ``.yml``
    one case, a list of cases, or a multi-document stream (``---``). Documents are read one
    at a time; a single document (for instance one list of cases) is loaded whole, and each of
    its items is checked and built on its own. Dates stay strings (``date: 2019-03-14`` is the
    FHIR date ``"2019-03-14"``, not a ``datetime.date``).

Every record is bounded by :class:`~fhir_ivc.io.limits.InputLimits` (size, depth, YAML
aliases and tags, duplicate keys, numbers, control characters): see :mod:`fhir_ivc.io._json`,
:mod:`fhir_ivc.io._yaml` and docs/security.md.

A problem with the file as a whole (empty file, JSON or YAML syntax error, not UTF-8) is
yielded as one reject with ``case_id=None`` and ``path=""`` at the position of the problem.
A file that cannot be opened raises :class:`OSError` (the CLI checks before it starts).

Error reasons never quote the input, except the offending value of an enum/literal field
(short, and a code rather than patient data): the rejects can be logged without leaking PHI.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, TypedDict, Unpack

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from fhir_ivc.exceptions import CaseInputError
from fhir_ivc.io._json import decode_ndjson_line, iter_json, iter_ndjson, iter_ndjson_lines
from fhir_ivc.io._paths import format_loc
from fhir_ivc.io._records import FileProblemError, RecordSource, Unreadable
from fhir_ivc.io._yaml import iter_yaml
from fhir_ivc.io.limits import DEFAULT_LIMITS, InputLimits, json_kind
from fhir_ivc.model import Case

__all__ = [
    "EXTENSIONS",
    "STDIN",
    "CaseRecordResult",
    "InputFormat",
    "PendingRecord",
    "ReadOptions",
    "RecordSource",
    "Unreadable",
    "iter_case_records",
    "iter_json_values",
    "iter_pending_records",
]

logger = logging.getLogger(__name__)

#: The path that means standard input (read as NDJSON unless a format is given).
STDIN: Final = "-"
_STDIN_NAME: Final = "<stdin>"


class InputFormat(StrEnum):
    """Input file formats."""

    JSON = "json"
    NDJSON = "ndjson"
    YAML = "yaml"


#: File extensions (lower case) and their formats; other names are sniffed.
EXTENSIONS: Final[dict[str, InputFormat]] = {
    ".json": InputFormat.JSON,
    ".ndjson": InputFormat.NDJSON,
    ".jsonl": InputFormat.NDJSON,
    ".yaml": InputFormat.YAML,
    ".yml": InputFormat.YAML,
}


@dataclass(frozen=True, slots=True)
class CaseRecordResult:
    """One input record: a valid ``case``, or the ``errors`` that reject it (never both)."""

    source: RecordSource
    case: Case | None = None
    errors: tuple[CaseInputError, ...] = ()

    def __post_init__(self) -> None:
        if (self.case is None) == (not self.errors):
            raise ValueError("a CaseRecordResult holds either a case or its errors")

    @property
    def ok(self) -> bool:
        """True when the record is a valid case."""
        return self.case is not None

    @property
    def case_id(self) -> str | None:
        """The case id: of the valid case, else as read from the raw record (may be None)."""
        if self.case is not None:
            return self.case.case_id
        return self.errors[0].case_id


class ReadOptions(TypedDict, total=False):
    """The options of every case-record reader, declared once (see :func:`iter_case_records`)."""

    input_format: InputFormat | None
    stdin: BinaryIO | None
    limits: InputLimits


def iter_case_records(
    path: str | os.PathLike[str], **options: Unpack[ReadOptions]
) -> Iterator[CaseRecordResult]:
    """Stream the case records of one input file (``-`` is standard input).

    ``input_format`` overrides the extension and sniffing; ``stdin`` replaces
    ``sys.stdin.buffer`` (for tests and embedding); ``limits`` bound every record
    (:mod:`fhir_ivc.io.limits`); the defaults are :func:`iter_pending_records`'s. Raises
    :class:`OSError` when the file cannot be opened; everything else, including whole-file
    problems, is yielded as a result.
    """
    for pending in iter_pending_records(path, **options):
        yield pending.result()


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """One record as read, not yet checked against the case model; :meth:`result` does that.

    ``raw`` is the decoded value (or an :class:`Unreadable`), or, for an NDJSON line, the
    line's bytes, not decoded yet. Picklable: ``map -j N`` reads the records in its process and
    has them finished in its workers, with the same code as :func:`iter_case_records`.
    """

    source: RecordSource
    raw: Any
    limits: InputLimits = DEFAULT_LIMITS

    def result(self) -> CaseRecordResult:
        """The record's :class:`CaseRecordResult`, as :func:`iter_case_records` yields it."""
        source, raw = self.source, self.raw
        if isinstance(raw, bytes):  # an NDJSON line (a decoded JSON value is never bytes)
            source, raw = decode_ndjson_line(source, raw, self.limits)
        return _to_result(raw, source)


def iter_pending_records(
    path: str | os.PathLike[str],
    *,
    input_format: InputFormat | None = None,
    stdin: BinaryIO | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Iterator[PendingRecord]:
    """The records of one input file as :class:`PendingRecord`\\ s: what
    :func:`iter_case_records` reads, with the decoding of NDJSON lines and the case model's
    checks left to :meth:`PendingRecord.result` (same options, same errors)."""
    for source, raw in _values(path, input_format, stdin, limits, _PENDING_PARSERS):
        yield PendingRecord(source, raw, limits)


def iter_json_values(
    path: str | os.PathLike[str],
    *,
    input_format: InputFormat | None = None,
    stdin: BinaryIO | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[RecordSource, Any]]:
    """The JSON values of one file (bundles, resources): ``(source, value)``, streamed.

    ``.json`` is one value or an array of values (streamed element by element),
    ``.ndjson``/``.jsonl`` one value per line; other names and ``-`` are sniffed (JSON or
    NDJSON; YAML is not read here). ``value`` is an :class:`Unreadable` for a record that cannot
    be decoded or is refused by ``limits``, and for a whole-file problem (``whole_file``).
    Raises :class:`OSError` when the file cannot be opened.
    """
    if input_format is InputFormat.YAML:
        raise ValueError("iter_json_values reads JSON and NDJSON only")
    yield from _values(path, input_format, stdin, limits, _JSON_PARSERS)


_Parser = Callable[[IO[bytes], str, InputLimits], Iterator[tuple[RecordSource, Any]]]


def _values(
    path: str | os.PathLike[str],
    input_format: InputFormat | None,
    stdin: BinaryIO | None,
    limits: InputLimits,
    parsers: dict[InputFormat, _Parser],
) -> Iterator[tuple[RecordSource, Any]]:
    name = os.fspath(path)
    try:
        if name == STDIN:
            stream = stdin if stdin is not None else sys.stdin.buffer
            piped = input_format or InputFormat.NDJSON
            if input_format is None and parsers is _JSON_PARSERS:  # values: sniffed
                stream = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
                piped = _sniff(stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES])
                piped = piped if piped in parsers else InputFormat.JSON
            yield from parsers[piped](stream, _STDIN_NAME, limits)
            return
        fmt = input_format or EXTENSIONS.get(Path(name).suffix.lower())
        with open(name, "rb") as file:
            if fmt is None or fmt not in parsers:
                fmt = _sniff(file.peek(_SNIFF_BYTES)[:_SNIFF_BYTES])
                if fmt not in parsers:
                    fmt = InputFormat.JSON
                logger.debug("%s: sniffed format %s", name, fmt)
            yield from parsers[fmt](file, name, limits)
    except FileProblemError as problem:
        logger.debug("%s: file-level problem", problem.source)
        yield problem.source, Unreadable(problem.reason, whole_file=True)


# --- records to results -----------------------------------------------------------------------


def _to_result(raw: Any, source: RecordSource) -> CaseRecordResult:
    if isinstance(raw, Unreadable):
        case_id = _raw_case_id(raw.value) if isinstance(raw.value, dict) else None
        error = CaseInputError(case_id, raw.path, raw.reason)
        return CaseRecordResult(source, errors=(error,))
    if not isinstance(raw, dict):
        reason = f"a case record must be an object (a mapping), not {json_kind(raw)}"
        return CaseRecordResult(source, errors=(CaseInputError(None, "", reason),))
    case_id = _raw_case_id(raw)
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        errors = tuple(
            CaseInputError(case_id, format_loc(err["loc"]), _reason(err))
            for err in exc.errors(include_url=False)
        )
        logger.debug("case %s rejected at %s: %d error(s)", case_id, source, len(errors))
        return CaseRecordResult(source, errors=errors)
    return CaseRecordResult(source, case=case)


def _raw_case_id(raw: dict[Any, Any]) -> str | None:
    """The record's ``case_id`` as written, when it looks like an identifier."""
    value = raw.get("case_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip()
        if 0 < len(value) <= 64 and value.isprintable():
            return value
    return None


#: Error types whose input value is quoted: an unknown code is short and not patient data.
_QUOTE_INPUT: Final = frozenset({"literal_error", "enum"})


def _reason(err: ErrorDetails) -> str:
    reason = err["msg"]
    value = err.get("input")
    if err["type"] in _QUOTE_INPUT and isinstance(value, str | int | float):
        shown = repr(value)
        if len(shown) <= 40:
            reason += f" (got {shown})"
    return reason


# --- sniffing ---------------------------------------------------------------------------------

_SNIFF_BYTES: Final = 64 * 1024


def _sniff(head: bytes) -> InputFormat:
    """JSON array or document, NDJSON when the first line is a whole object, else YAML."""
    head = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"["):
        return InputFormat.JSON
    if head.startswith(b"{"):
        first_line, newline, _ = head.partition(b"\n")
        if newline:
            try:
                orjson.loads(first_line)
            except orjson.JSONDecodeError:
                return InputFormat.JSON
            return InputFormat.NDJSON
        return InputFormat.JSON
    return InputFormat.YAML


_JSON_PARSERS: Final[dict[InputFormat, _Parser]] = {
    InputFormat.JSON: iter_json,
    InputFormat.NDJSON: iter_ndjson,
}
#: NDJSON lines stay bytes: PendingRecord.result decodes them
_PENDING_PARSERS: Final[dict[InputFormat, _Parser]] = {
    InputFormat.JSON: iter_json,
    InputFormat.NDJSON: iter_ndjson_lines,
    InputFormat.YAML: iter_yaml,
}
