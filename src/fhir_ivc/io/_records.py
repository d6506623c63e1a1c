"""What the readers yield besides values: where a record is, an unreadable record, a broken file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FileProblemError", "RecordSource", "Unreadable"]


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
class Unreadable:
    """A record that cannot be decoded or is refused by the limits; the records after it go on.

    ``path`` is where inside the record the problem is (``""``: the record as a whole);
    ``value`` is the decoded record when it decoded but was refused (to name its case), else
    ``None``; ``whole_file`` is set when nothing after it in the file could be read.
    """

    reason: str
    path: str = ""
    value: Any = None
    whole_file: bool = False


class FileProblemError(Exception):
    """The file cannot be read any further: reported as one file-level reject."""

    def __init__(self, source: RecordSource, reason: str) -> None:
        super().__init__(reason)
        self.source = source
        self.reason = reason
