"""Limits on what the readers accept: one table, one check of decoded values.

Every reader of this package (case records in JSON, NDJSON and YAML; bundles and resources for
``push --prebuilt`` and ``validate``) enforces the same :class:`InputLimits`, so that a hostile
or broken input costs bounded time and memory and gives a reject instead of a traceback. The
CLI sets them with ``--max-record-bytes`` and ``--max-depth``; docs/security.md lists them.

:func:`value_problem` is the check every decoded record passes before anyone else sees it:
nesting depth, keys that are strings, strings without control characters or lone surrogates
(FHIR strings may not hold them), finite numbers of bounded size. It walks the value without
recursion and returns the first problem with its path in the record.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

from fhir_ivc.exceptions import ConfigError

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_DEPTH_CEILING",
    "InputLimits",
    "json_kind",
    "short_path",
    "show_key",
    "value_problem",
]

#: ``--max-depth`` may not exceed this: the JSON decoder recurses once per level, and Python's
#: recursion limit (1000 frames) has to hold the reader's own frames too.
MAX_DEPTH_CEILING: Final = 500


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What one input record may be (a record: an NDJSON line, a JSON array element or
    document, a YAML list item or document).

    ``max_record_bytes``
        size of one record as written (``--max-record-bytes``). A larger record is rejected
        and skipped without being held in memory (NDJSON, JSON); the records after it go on.
    ``max_depth``
        nesting of objects and arrays (``--max-depth``); a case record needs about 6 levels,
        a transaction Bundle about 12.
    ``max_yaml_document_bytes``
        one YAML document: YAML is composed a document at a time (use NDJSON for large inputs).
    ``max_yaml_values``
        values in one YAML record after its aliases are expanded (against "billion laughs").
    ``max_int_digits``
        digits of an integer (Python refuses to convert more than 4300 anyway).
    """

    max_record_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_yaml_document_bytes: int = 64 * 1024 * 1024
    max_yaml_values: int = 100_000
    max_int_digits: int = 40

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise ConfigError(f"input limit {name} must be at least 1")
        if self.max_depth > MAX_DEPTH_CEILING:
            raise ConfigError(f"input limit max_depth may be at most {MAX_DEPTH_CEILING}")


DEFAULT_LIMITS: Final = InputLimits()

# C0 controls other than tab, LF and CR, and lone surrogates (what json.loads lets through
# from "\ud800"): FHIR strings may not hold them, and UTF-8 writers fail on surrogates.
_FORBIDDEN_CHARS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]{0,63}")


def show_key(key: object) -> str:
    """A key as it may appear in a message: field-like names as they are, others as ``<key>``.

    Messages never quote the input; a field name is not patient data, an arbitrary key may be.
    """
    return key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else "<key>"


_MAX_PATH_CHARS: Final = 120


def short_path(path: str) -> str:
    """A path for a message: very deep ones (a nesting attack) are cut after 120 characters."""
    return path if len(path) <= _MAX_PATH_CHARS else path[: _MAX_PATH_CHARS - 3] + "..."


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _string_problem(text: str) -> str | None:
    found = _FORBIDDEN_CHARS.search(text)
    if found is None:
        return None
    char = ord(found[0])
    if 0xD800 <= char <= 0xDFFF:
        return f"a string holds a lone surrogate (U+{char:04X}): not valid Unicode text"
    return f"a string holds the control character U+{char:04X}"


def _scalar_problem(value: Any, limits: InputLimits) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _string_problem(value)
    if isinstance(value, int):
        # bit_length instead of len(str(value)), which Python refuses above 4300 digits
        if value.bit_length() > limits.max_int_digits * 3.33:
            return f"an integer with more than {limits.max_int_digits} digits"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite (NaN or Infinity)"
    return f"a value of type {type(value).__name__}, which JSON does not have"


def value_problem(value: Any, limits: InputLimits = DEFAULT_LIMITS) -> tuple[str, str] | None:
    """``(path, reason)`` of the first thing ``value`` may not hold, ``None`` when it is fine.

    ``path`` is dotted with ``[i]`` list indexes (``patient.identifier[0].value``); keys that do
    not look like field names are shown as ``<key>``. The top-level object or array is level 1.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        current, path, depth = stack.pop()
        if isinstance(current, dict | list) and depth > limits.max_depth:
            return short_path(path), f"nested deeper than {limits.max_depth} levels (--max-depth)"
        if isinstance(current, dict):
            children = []
            for key, item in current.items():
                if not isinstance(key, str):
                    return path, f"a key that is not a string but {json_kind(key)}"
                if (problem := _string_problem(key)) is not None:
                    return path, f"a key: {problem}"
                children.append((item, _join(path, show_key(key)), depth + 1))
            stack.extend(reversed(children))  # popped in document order
        elif isinstance(current, list):
            stack.extend(
                (current[i], _join(path, i), depth + 1) for i in range(len(current) - 1, -1, -1)
            )
        elif (problem := _scalar_problem(current, limits)) is not None:
            return path, problem
    return None


def json_kind(value: Any) -> str:
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
