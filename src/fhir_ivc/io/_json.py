"""JSON and NDJSON records, streamed and bounded by :class:`~fhir_ivc.io.limits.InputLimits`.

``iter_json`` reads one JSON document: a value, or an array streamed element by element (each
element is decoded on its own, so memory holds one record at a time). ``iter_ndjson`` reads one
value per line. Both yield ``(RecordSource, value)``, where ``value`` is an :class:`Unreadable`
for a record that cannot be decoded or is refused, and raise :class:`FileProblemError` when the
file cannot be read any further.

What is refused, record by record (the records after it go on):

* a record over ``max_record_bytes``: skipped without being held (an NDJSON line is read in
  pieces and dropped; a JSON array element is scanned to its end, following strings and
  brackets only);
* nesting deeper than ``max_depth`` (the decoder's recursion is caught too: 100,000 ``[`` are a
  reject, not a ``RecursionError``);
* duplicate keys in an object (parsers disagree on which one wins), ``NaN`` / ``Infinity``
  (not JSON), numbers that overflow a double, integers over ``max_int_digits`` digits;
* whatever :func:`~fhir_ivc.io.limits.value_problem` finds in the decoded value (control
  characters, lone surrogates).

Whole-file problems: text that is not UTF-8 (a UTF-16/32 byte order mark is named as such),
broken JSON inside an array (it cannot be resynchronised: the records before it were yielded).
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import re
from collections.abc import Iterator
from typing import IO, Any, Final

from fhir_ivc.io._records import FileProblemError, RecordSource, Unreadable
from fhir_ivc.io.limits import DEFAULT_LIMITS, InputLimits, show_key, value_problem

__all__ = [
    "CHUNK_BYTES",
    "decode_ndjson_line",
    "foreign_bom",
    "iter_json",
    "iter_ndjson",
    "iter_ndjson_lines",
    "refused_or_value",
]

CHUNK_BYTES: Final = 64 * 1024

_FOREIGN_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def foreign_bom(head: bytes) -> str | None:
    """The reason to refuse a file that starts with a UTF-16 or UTF-32 byte order mark."""
    for bom, encoding in _FOREIGN_BOMS:
        if head.startswith(bom):
            return f"the file is {encoding} text (byte order mark): save it as UTF-8"
    return None


class _RefusedError(Exception):
    """Raised by the decoder hooks: the text is JSON, but not a value this project accepts."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _decoder(limits: InputLimits) -> json.JSONDecoder:
    max_digits = limits.max_int_digits

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    raise _RefusedError(f"duplicate key {show_key(key)!r} in an object")
                seen.add(key)
        return obj

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > max_digits:
            raise _RefusedError(f"an integer with more than {max_digits} digits")
        return int(text)

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise _RefusedError("a number too large for a double (it overflows to Infinity)")
        return value

    def constant(name: str) -> Any:
        raise _RefusedError(f"{name} is not a JSON number")

    return json.JSONDecoder(
        object_pairs_hook=pairs, parse_int=integer, parse_float=number, parse_constant=constant
    )


def _broken(exc: json.JSONDecodeError) -> str:
    """``broken JSON: <what>`` without the dangling "at" json puts before its position."""
    return "broken JSON: " + exc.msg.removesuffix(" starting at").removesuffix(" at")


def _too_deep(limits: InputLimits) -> str:
    return f"nested deeper than {limits.max_depth} levels (--max-depth)"


def _too_large(limits: InputLimits) -> str:
    return f"a record over {limits.max_record_bytes} bytes (--max-record-bytes)"


def refused_or_value(value: Any, limits: InputLimits) -> Any:
    """``value``, or an :class:`Unreadable` naming what :func:`value_problem` finds in it."""
    problem = value_problem(value, limits)
    if problem is None:
        return value
    path, reason = problem
    return Unreadable(reason, path, value)


# --- NDJSON -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _decoder_for(limits: InputLimits) -> json.JSONDecoder:
    """The decoder of ``limits``, made once (a worker of ``map -j N`` decodes line by line)."""
    return _decoder(limits)


def _decode_line(
    line: bytes, decoder: json.JSONDecoder, limits: InputLimits
) -> tuple[Any, int | None]:
    """The value of one NDJSON line, and the column of a problem when there is one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unreadable(f"not UTF-8 text at byte {exc.start + 1} of the line"), exc.start + 1
    try:
        value = decoder.decode(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        return Unreadable(_broken(exc)), exc.colno
    except _RefusedError as exc:
        return Unreadable(exc.reason), None
    except RecursionError:
        return Unreadable(_too_deep(limits)), None
    return refused_or_value(value, limits), None


def decode_ndjson_line(
    source: RecordSource, line: bytes, limits: InputLimits = DEFAULT_LIMITS
) -> tuple[RecordSource, Any]:
    """One line of :func:`iter_ndjson_lines` decoded and checked, as :func:`iter_ndjson` yields
    it: the source gets the column of a problem when there is one."""
    value, column = _decode_line(line, _decoder_for(limits), limits)
    return RecordSource(source.file, source.line, column), value


def iter_ndjson_lines(
    stream: IO[bytes], name: str, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[tuple[RecordSource, bytes | Unreadable]]:
    """The non-blank lines as bytes, not decoded (:func:`decode_ndjson_line` does that, here or
    in a worker process); a line over ``max_record_bytes`` is dropped unread (an Unreadable)."""
    limit = limits.max_record_bytes
    records = 0
    lineno = 0
    while line := stream.readline(limit + 1):
        lineno += 1
        if lineno == 1 and (reason := foreign_bom(line)):
            raise FileProblemError(RecordSource(name, 1), reason)
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := stream.readline(CHUNK_BYTES)) and not rest.endswith(b"\n"):
                pass
            records += 1
            yield RecordSource(name, lineno), Unreadable(_too_large(limits))
            continue
        if not line.strip() or line.strip() == codecs.BOM_UTF8:
            continue
        records += 1
        yield RecordSource(name, lineno), line
    if not records:
        raise FileProblemError(RecordSource(name, 1), "empty file: no case records")


def iter_ndjson(
    stream: IO[bytes], name: str, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[tuple[RecordSource, Any]]:
    """One value per non-blank line; a line over ``max_record_bytes`` is dropped unread."""
    for source, line in iter_ndjson_lines(stream, name, limits):
        yield (
            (source, line)
            if isinstance(line, Unreadable)
            else decode_ndjson_line(source, line, limits)
        )


# --- JSON (one document, arrays streamed) -----------------------------------------------------

_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
_NUMBER_CHARS: Final = re.compile(r"[-+0-9.eE]+")
# what the skipper stops at: outside strings, quotes and brackets; inside, quotes and escapes
_OUTSIDE: Final = re.compile(r'"|[\[{]+|[\]}]+')
_INSIDE: Final = re.compile(r'["\\]')
_SCALAR_END: Final = re.compile(r"[\s,\]}]")


class _JsonText:
    """A JSON text read in chunks, decoded one value at a time with exact line/column."""

    def __init__(self, stream: IO[bytes], name: str, chunk_bytes: int, limits: InputLimits):
        self._stream = stream
        self._name = name
        self._chunk = chunk_bytes
        self._limits = limits
        self._decoder = _decoder(limits)
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._buf = ""
        self._pos = 0
        self._line = 1  # line of _buf[0]
        self._col0 = 0  # 0-based column of _buf[0]
        self._eof = False
        self._started = False

    def _read(self, size: int) -> bool:
        """Append about ``size`` more bytes to the buffer; False at end of file."""
        if self._eof:
            return False
        data = self._stream.read(size)
        if not self._started:
            self._started = True
            if reason := foreign_bom(data):
                raise self.problem(0, reason)
        try:
            text = self._utf8.decode(data, final=not data)
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

    def problem(self, pos: int, reason: str) -> FileProblemError:
        return FileProblemError(self.where(pos), reason)

    def problem_here(self, reason: str) -> FileProblemError:
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
        """Decode the next value, reading more text until it is complete.

        A value the limits refuse is skipped (its text is passed over, not kept) and returned
        as an :class:`Unreadable`.
        """
        self.peek()
        start = self.where(self._pos)
        source = RecordSource(start.file, start.line)
        limit = self._limits.max_record_bytes
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._eof or not self._maybe_truncated(exc):
                    raise self.problem(exc.pos, _broken(exc)) from None
            except _RefusedError as exc:
                return self._skipped(exc.reason), source
            except RecursionError:
                return self._skipped(_too_deep(self._limits)), source
            else:
                # a number whose characters run to the end of the buffer ("1", "0.", "1e")
                # may go on in the next chunk
                number = _NUMBER_CHARS.match(self._buf, self._pos)
                complete = number is None or number.end() < len(self._buf)
                if complete or self._eof:
                    size = end - self._pos
                    self._pos = end
                    if size > limit:
                        return Unreadable(_too_large(self._limits)), source
                    return refused_or_value(value, self._limits), source
            pending = len(self._buf) - self._pos
            if pending > limit:
                return self._skipped(_too_large(self._limits)), source
            self._read(max(self._chunk, min(pending, limit)))  # grows geometrically

    def _maybe_truncated(self, exc: json.JSONDecodeError) -> bool:
        """Could the error be the end of the buffer rather than broken JSON?"""
        return exc.msg.startswith("Unterminated string") or len(self._buf) - exc.pos <= 16

    def _skipped(self, reason: str) -> Unreadable:
        if not self.skip():
            raise self.problem_here("broken JSON: the file ends inside a record")
        return Unreadable(reason)

    def skip(self) -> bool:
        """Pass over the value at the read position without decoding or keeping it.

        Follows strings (with their escapes) and brackets only, so it is linear and holds one
        chunk at a time. True when the value's end was found, False at end of file.
        """
        if self.peek() is None:
            return False
        if self._buf[self._pos] not in '[{"':
            while (match := _SCALAR_END.search(self._buf, self._pos)) is None:
                self._pos = len(self._buf)
                if not self._read(self._chunk):
                    return True
            self._pos = match.start()
            return True
        depth = 0
        in_string = False
        while True:
            match = (_INSIDE if in_string else _OUTSIDE).search(self._buf, self._pos)
            if match is None:
                self._pos = len(self._buf)
            elif match[0] == "\\":
                if match.end() < len(self._buf):
                    self._pos = match.end() + 1
                    continue
                self._pos = match.start()  # the escaped character is in the next chunk
            else:
                self._pos = match.end()
                if match[0] == '"':
                    in_string = not in_string
                else:  # a run of opening or of closing brackets
                    depth += len(match[0]) if match[0][0] in "[{" else -len(match[0])
                if depth <= 0 and not in_string:
                    if depth < 0:  # the run closed the enclosing array too: give those back
                        self._pos += depth
                    return True
                continue
            if not self._read(self._chunk):
                return False


def iter_json(
    stream: IO[bytes],
    name: str,
    limits: InputLimits = DEFAULT_LIMITS,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[RecordSource, Any]]:
    """One JSON value, or the elements of a top-level array one by one (with their index)."""
    text = _JsonText(stream, name, chunk_bytes, limits)
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
