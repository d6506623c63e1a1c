"""Streaming readers of case records: JSON, NDJSON, YAML and standard input.

:func:`iter_case_records` turns one input file into a stream of :class:`CaseRecordResult`\\ s,
one per record: either a valid :class:`~fhir_ivc.model.Case` or the
:class:`~fhir_ivc.exceptions.CaseInputError`\\ s of that record, always with the record's
position (:class:`RecordSource`, printed ``file:line``). One bad record never stops the others.

Formats, chosen by extension or, for other names, sniffed from the first bytes:

``.ndjson`` / ``.jsonl``
    one case object per line, read line by line (truly streaming). Broken JSON on one line
    rejects that line only. ``-`` (standard input) is read as NDJSON.
``.json``
    one case object, or an array of case objects. The array is streamed element by element
    (each element is decoded on its own), so memory holds one case at a time. Broken JSON
    cannot be resynchronised inside an array: the elements before it are yielded, then one
    file-level reject at the exact line and column.
``.yaml`` / ``.yml``
    one case, a list of cases, or a multi-document stream (``---``). Documents are read one
    at a time; a single document (for instance one list of cases) is loaded whole. Dates stay
    strings (``date: 2019-03-14`` is the FHIR date ``"2019-03-14"``, not a ``datetime.date``).

A problem with the file as a whole (empty file, JSON or YAML syntax error, not UTF-8) is
yielded as one reject with ``case_id=None`` and ``path=""`` at the position of the problem.
A file that cannot be opened raises :class:`OSError` (the CLI checks before it starts).

Error reasons never quote the input, except the offending value of an enum/literal field
(short, and a code rather than patient data): the rejects can be logged without leaking PHI.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, BinaryIO, Final

import orjson
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from fhir_ivc.exceptions import CaseInputError
from fhir_ivc.io._paths import format_loc
from fhir_ivc.model import Case

__all__ = [
    "EXTENSIONS",
    "STDIN",
    "CaseRecordResult",
    "InputFormat",
    "RecordSource",
    "iter_case_records",
    "iter_inputs",
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
class RecordSource:
    """Where a record (or a file-level problem) is: ``file:line`` or ``file:line:column``.

    ``line`` and ``column`` count from 1. ``index`` is the record's 0-based position among the
    records of a JSON array or a YAML file, ``None`` for NDJSON lines (the line says it all).
    """

    file: str
    line: int
    column: int | None = None
    index: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}:{self.column}" if self.column is not None else where


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


def iter_inputs(
    paths: Iterable[str | os.PathLike[str]],
    *,
    input_format: InputFormat | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[CaseRecordResult]:
    """The records of several input files, file after file (see :func:`iter_case_records`)."""
    for path in paths:
        yield from iter_case_records(path, input_format=input_format, stdin=stdin)


def iter_case_records(
    path: str | os.PathLike[str],
    *,
    input_format: InputFormat | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[CaseRecordResult]:
    """Stream the case records of one input file (``-`` is standard input).

    ``input_format`` overrides the extension and sniffing; ``stdin`` replaces
    ``sys.stdin.buffer`` (for tests and embedding). Raises :class:`OSError` when the file cannot
    be opened; everything else, including whole-file problems, is yielded as a result.
    """
    name = os.fspath(path)
    if name == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        parser = _PARSERS[input_format or InputFormat.NDJSON]
        yield from _results(parser(stream, _STDIN_NAME))
        return
    fmt = input_format or EXTENSIONS.get(Path(name).suffix.lower())
    with open(name, "rb") as file:
        if fmt is None:
            fmt = _sniff(file.peek(_SNIFF_BYTES)[:_SNIFF_BYTES])
            logger.debug("%s: sniffed format %s", name, fmt)
        yield from _results(_PARSERS[fmt](file, name))


# --- records to results -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """A record (NDJSON line, YAML document) that cannot be parsed; the file goes on."""

    reason: str


class _FileProblemError(Exception):
    """The file cannot be read any further: reported as one file-level reject."""

    def __init__(self, source: RecordSource, reason: str) -> None:
        super().__init__(reason)
        self.source = source
        self.reason = reason


def _results(parsed: Iterator[tuple[RecordSource, Any]]) -> Iterator[CaseRecordResult]:
    try:
        for source, raw in parsed:
            yield _to_result(raw, source)
    except _FileProblemError as problem:
        logger.debug("%s: file-level problem", problem.source)
        error = CaseInputError(None, "", problem.reason)
        yield CaseRecordResult(problem.source, errors=(error,))


def _to_result(raw: Any, source: RecordSource) -> CaseRecordResult:
    if isinstance(raw, _Unreadable):
        return CaseRecordResult(source, errors=(CaseInputError(None, "", raw.reason),))
    if not isinstance(raw, dict):
        reason = f"a case record must be an object (a mapping), not {_kind(raw)}"
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


def _kind(value: Any) -> str:
    """JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


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


# --- NDJSON -----------------------------------------------------------------------------------


def _iter_ndjson(stream: BinaryIO, name: str) -> Iterator[tuple[RecordSource, Any]]:
    records = 0
    for lineno, line in enumerate(stream, start=1):
        if lineno == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if not line.strip():
            continue
        records += 1
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield RecordSource(name, lineno, exc.colno), _Unreadable(f"broken JSON: {exc.msg}")
        else:
            yield RecordSource(name, lineno), value
    if not records:
        raise _FileProblemError(RecordSource(name, 1), "empty file: no case records")


# --- JSON (one document, arrays streamed) -----------------------------------------------------

_CHUNK_BYTES: Final = 64 * 1024
#: A single record larger than this is refused (it is broken JSON or not a case record).
_MAX_RECORD_CHARS: Final = 64 * 1024 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]+")
_DECODER = json.JSONDecoder()


class _JsonText:
    """A JSON text read in chunks, decoded one value at a time with exact line/column."""

    def __init__(self, stream: IO[bytes], name: str, chunk_bytes: int) -> None:
        self._stream = stream
        self._name = name
        self._chunk = chunk_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._buf = ""
        self._pos = 0
        self._line = 1  # line of _buf[0]
        self._col0 = 0  # 0-based column of _buf[0]
        self._eof = False

    def _read(self, size: int) -> bool:
        """Append about ``size`` more bytes to the buffer; False at end of file."""
        if self._eof:
            return False
        data = self._stream.read(size)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise self.problem(len(self._buf), f"not UTF-8 text: {exc.reason}") from None
        if not data:
            self._eof = True
            return False
        dropped = self._buf[: self._pos]
        newlines = dropped.count("\n")
        if newlines:
            self._line += newlines
            self._col0 = len(dropped) - dropped.rfind("\n") - 1
        else:
            self._col0 += len(dropped)
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def where(self, pos: int) -> RecordSource:
        newlines = self._buf.count("\n", 0, pos)
        if newlines:
            column = pos - self._buf.rfind("\n", 0, pos)
            return RecordSource(self._name, self._line + newlines, column)
        return RecordSource(self._name, self._line, self._col0 + pos + 1)

    def problem(self, pos: int, reason: str) -> _FileProblemError:
        return _FileProblemError(self.where(pos), reason)

    def problem_here(self, reason: str) -> _FileProblemError:
        return self.problem(self._pos, reason)

    def peek(self) -> str | None:
        """The next character that is not white space (not consumed), None at end of file."""
        while True:
            match = _WHITESPACE.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._read(self._chunk):
                return None

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            got = "end of file" if found is None else repr(found)
            raise self.problem_here(f"broken JSON: expected {what}, found {got}")
        self._pos += 1

    def value(self) -> tuple[Any, RecordSource]:
        """Decode the next value; reads more text until it is complete."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._eof or not self._maybe_truncated(exc):
                    msg = exc.msg.removesuffix(" starting at")
                    raise self.problem(exc.pos, f"broken JSON: {msg}") from None
            else:
                # a number whose characters run to the end of the buffer ("1", "0.", "1e")
                # may go on in the next chunk
                number = _NUMBER_CHARS.match(self._buf, self._pos)
                complete = number is None or number.end() < len(self._buf)
                if complete or self._eof:
                    source = self.where(self._pos)
                    self._pos = end
                    return value, RecordSource(source.file, source.line)
            if len(self._buf) - self._pos > _MAX_RECORD_CHARS:
                raise self.problem(
                    self._pos, f"broken JSON or a record over {_MAX_RECORD_CHARS} characters"
                )
            self._read(max(self._chunk, len(self._buf) - self._pos))  # grows geometrically

    def _maybe_truncated(self, exc: json.JSONDecodeError) -> bool:
        """Could the error be the end of the buffer rather than broken JSON?"""
        return exc.msg.startswith("Unterminated string") or len(self._buf) - exc.pos <= 16


def _iter_json(
    stream: IO[bytes], name: str, chunk_bytes: int = _CHUNK_BYTES
) -> Iterator[tuple[RecordSource, Any]]:
    text = _JsonText(stream, name, chunk_bytes)
    first = text.peek()
    if first is None:
        raise text.problem_here("empty file: no case records")
    if first != "[":
        value, source = text.value()
        if text.peek() is not None:
            raise text.problem_here(
                "broken JSON: more data after the first JSON value "
                "(one case per line is NDJSON: name the file .ndjson)",
            )
        yield source, value
        return
    text.expect("[", "'['")
    if text.peek() == "]":
        text.expect("]", "']'")
    else:
        index = 0
        while True:
            value, source = text.value()
            yield RecordSource(source.file, source.line, index=index), value
            index += 1
            if text.peek() == ",":
                text.expect(",", "','")
                continue
            text.expect("]", "',' or ']' after an array element")
            break
    if text.peek() is not None:
        raise text.problem_here("broken JSON: more data after the array")


# --- YAML -------------------------------------------------------------------------------------

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"


class _CaseLoader(_SafeLoader):
    """Safe loader (libyaml when available) that keeps dates as strings (FHIR dates)."""

    # PyYAML reads this class attribute (the stubs call it an instance variable, hence no ClassVar)
    yaml_implicit_resolvers = {  # noqa: RUF012
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }


def _yaml_source(name: str, exc: yaml.YAMLError) -> RecordSource:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return RecordSource(name, 1)
    return RecordSource(name, mark.line + 1, mark.column + 1)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """The problem without the source snippet that ``str(exc)`` would quote."""
    if isinstance(exc, yaml.MarkedYAMLError):
        reason = exc.problem or "invalid YAML"
        return f"{reason} ({exc.context})" if exc.context else reason
    if isinstance(exc, yaml.reader.ReaderError):
        return f"not valid text at byte {exc.position}: {exc.reason}"
    return type(exc).__name__  # pragma: no cover - every PyYAML error is one of the above


def _iter_yaml(stream: IO[bytes], name: str) -> Iterator[tuple[RecordSource, Any]]:
    loader = _CaseLoader(stream)
    index = 0
    content = False
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                if node is None:  # pragma: no cover - check_node() said there is one
                    break
            except yaml.YAMLError as exc:
                reason = f"YAML syntax error: {_yaml_reason(exc)}"
                raise _FileProblemError(_yaml_source(name, exc), reason) from None
            try:
                data = loader.construct_document(node)
            except yaml.YAMLError as exc:  # e.g. an unknown tag: this document only
                _reset_constructor(loader)
                yield _yaml_source(name, exc), _Unreadable(f"YAML: {_yaml_reason(exc)}")
                index += 1
                continue
            if data is None:  # an empty document ('---' alone, comments only)
                continue
            content = True
            if isinstance(node, yaml.SequenceNode) and isinstance(data, list):
                for item_node, item in zip(node.value, data, strict=True):
                    yield RecordSource(name, item_node.start_mark.line + 1, index=index), item
                    index += 1
            else:
                yield RecordSource(name, node.start_mark.line + 1, index=index), data
                index += 1
    finally:
        loader.dispose()
    if not content and not index:
        raise _FileProblemError(RecordSource(name, 1), "empty file: no case records")


def _reset_constructor(loader: _CaseLoader) -> None:
    """Forget a half-constructed document so that the next one starts clean."""
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False


_PARSERS: Final = {
    InputFormat.JSON: _iter_json,
    InputFormat.NDJSON: _iter_ndjson,
    InputFormat.YAML: _iter_yaml,
}
