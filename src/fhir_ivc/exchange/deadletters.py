"""Dead letters: the cases a push could not deliver, kept so they can be sent again.

A dead-letter file is NDJSON, one case per line::

    {"dead_letter_version": 1, "case_id": "case-2", "source": "cases.yaml:90",
     "record": {...the case record...}            (or "bundle": {...a prebuilt bundle...}),
     "error": "case 'case-2': transaction rejected with HTTP 422 …",
     "element": "surgery.blood_loss_ml",           (the case element the error points at, or null)
     "status_code": 422, "attempts": 1, "time": "2026-12-02T14:40:00+00:00"}

A case lands here when the server refused it or it failed after the client's retries (4xx such
as 412 or 422, 5xx/transport errors after the last attempt). Records rejected *before* sending
(unreadable, invalid) go to the rejects file instead: sending them again cannot help.

``fhir-ivc push --replay FILE`` sends the letters again; what succeeds leaves the file, what
fails again stays with its new error and the attempts added up. The file is rewritten
atomically (a temporary file moved into place), so an interrupted replay leaves it as it was.
The record of a letter is case data: the file must be kept like the input it came from. A new
dead-letter file is created ``0600`` (owner read/write only; :data:`NEW_FILE_MODE`), by a push
run as by a replay; a replay keeps the mode of the file it rewrites, so what an operator set
(wider or narrower) stays.
"""

from __future__ import annotations

import datetime
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Self

import orjson

from fhir_ivc._types import ExcInfo
from fhir_ivc.exceptions import RequestError
from fhir_ivc.exchange.push import CasePushResult
from fhir_ivc.io.writer import AtomicFile

__all__ = [
    "DEAD_LETTER_VERSION",
    "NEW_FILE_MODE",
    "DeadLetter",
    "DeadLetterWriter",
    "failing_element",
    "read_dead_letters",
]

DEAD_LETTER_VERSION: Final = 1
#: the mode of a dead-letter file this module creates (it holds raw case records)
NEW_FILE_MODE: Final = 0o600


def failing_element(result: CasePushResult) -> str | None:
    """The case element the failure points at: the first entry blamed by the server."""
    for entry in result.entries:
        if (
            entry.outcome == "failed"
            and entry.message
            and not entry.message.startswith("not written")
        ):
            return entry.source
    return None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One undelivered case: its record (or prebuilt bundle) and why it failed."""

    case_id: str
    source: str
    record: Mapping[str, Any] | None
    bundle: Mapping[str, Any] | None
    error: str
    element: str | None
    status_code: int | None
    attempts: int
    time: str

    @classmethod
    def of(
        cls,
        result: CasePushResult,
        *,
        source: str,
        record: Mapping[str, Any] | None = None,
        bundle: Mapping[str, Any] | None = None,
        earlier_attempts: int = 0,
    ) -> DeadLetter:
        """The letter of a failed push result (``earlier_attempts``: of an earlier letter)."""
        exc = result.exception
        attempts = exc.attempts if isinstance(exc, RequestError) else 1
        return cls(
            case_id=result.case_id,
            source=source,
            record=record,
            bundle=None if record is not None else bundle,
            error=result.error or f"case {result.case_id!r}: failed",
            element=failing_element(result),
            status_code=result.status_code,
            attempts=earlier_attempts + attempts,
            time=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        )

    def as_json(self) -> dict[str, Any]:
        letter: dict[str, Any] = {
            "dead_letter_version": DEAD_LETTER_VERSION,
            "case_id": self.case_id,
            "source": self.source,
        }
        if self.record is not None:
            letter["record"] = self.record
        else:
            letter["bundle"] = self.bundle
        letter.update(
            error=self.error,
            element=self.element,
            status_code=self.status_code,
            attempts=self.attempts,
            time=self.time,
        )
        return letter

    @classmethod
    def from_json(cls, value: Any) -> DeadLetter:
        """``ValueError`` for a line that is not a dead letter this version can read."""
        if not isinstance(value, Mapping) or not isinstance(value.get("case_id"), str):
            raise ValueError("not a dead letter (no case_id)")
        if value.get("dead_letter_version") != DEAD_LETTER_VERSION:
            raise ValueError(f"dead_letter_version {value.get('dead_letter_version')!r}")
        record, bundle = value.get("record"), value.get("bundle")
        if not isinstance(record, Mapping) and not isinstance(bundle, Mapping):
            raise ValueError("a dead letter holds neither a record nor a bundle")
        attempts = value.get("attempts")
        status = value.get("status_code")
        return cls(
            case_id=value["case_id"],
            source=str(value.get("source", "")),
            record=record if isinstance(record, Mapping) else None,
            bundle=bundle if isinstance(bundle, Mapping) else None,
            error=str(value.get("error", "")),
            element=value.get("element") if isinstance(value.get("element"), str) else None,
            status_code=status if isinstance(status, int) else None,
            attempts=attempts if isinstance(attempts, int) and attempts >= 0 else 0,
            time=str(value.get("time", "")),
        )


def read_dead_letters(
    path: str | os.PathLike[str],
) -> Iterator[tuple[int, bytes, DeadLetter | str]]:
    """``(line number, line, letter)`` per line; ``letter`` is a reason if the line is not one."""
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                yield number, line, DeadLetter.from_json(orjson.loads(line))
            except (orjson.JSONDecodeError, ValueError) as exc:
                yield number, line, f"not a dead letter: {exc}"


class DeadLetterWriter:
    """Writes letters to ``path``: appended (a push run), or the file replaced (a replay).

    ``replace=True`` writes into a temporary file next to ``path`` that :meth:`commit` moves
    into place (``os.replace``); leaving the ``with`` block without ``commit`` keeps ``path`` as
    it was. Every letter is flushed as it is written, so a killed run keeps what it wrote.
    A file created here is ``0600``; a replaced file keeps the mode it had.
    """

    def __init__(self, path: str | os.PathLike[str], *, replace: bool = False) -> None:
        self.path = Path(path)
        self.replace = replace
        self.count = 0
        self._atomic = AtomicFile(self.path, mode=_mode_of(self.path)) if replace else None
        self._file: IO[bytes] | None = None

    def __enter__(self) -> Self:
        if self._atomic is not None:
            self._file = self._atomic.__enter__().file
        else:
            # O_CREAT's mode applies only to a new file: an existing one keeps its own
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            self._file = os.fdopen(os.open(self.path, flags, NEW_FILE_MODE), "ab")
        return self

    def _out(self) -> IO[bytes]:
        if self._file is None:
            raise RuntimeError("DeadLetterWriter used outside its 'with' block")
        return self._file

    def write(self, letter: DeadLetter) -> None:
        out = self._out()
        out.write(orjson.dumps(letter.as_json()) + b"\n")
        out.flush()
        self.count += 1

    def keep(self, line: bytes) -> None:
        """Copy a line that could not be read as it is (a replay never drops data)."""
        self._out().write(line.rstrip(b"\n") + b"\n")
        self.count += 1

    def commit(self) -> None:
        """Move the rewritten file into place (``replace=True``); a no-op when appending."""
        self._close()
        if self._atomic is not None:
            self._atomic.commit()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        self._close()
        if self._atomic is not None:
            self._atomic.__exit__(*exc_info)


def _mode_of(path: Path) -> int:
    """The mode a rewritten ``path`` gets: its own, or :data:`NEW_FILE_MODE` if there is none."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return NEW_FILE_MODE
