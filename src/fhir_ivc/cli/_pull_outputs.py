"""The line files of ``fhir-ivc pull``, written as the patients arrive and never held in memory.

* :class:`Lines`: one JSON value per line in a temporary file, moved into place when the run ends
  without an error (``-``: standard output).
* :class:`ResumableLines` (``--state``): the lines go to a hidden ``.NAME.partial`` file next to
  ``NAME`` that survives a killed run; a resumed run cuts it back to the length the state file
  confirmed (so no line is written twice) and goes on appending; the file is moved into place
  when the run completes.
* :class:`LossDocument`: the ``.json`` loss report, one JSON document. Its entries are spooled
  to a line file as they come and the document is assembled from the spool at the end, so the
  entries of all patients are never in memory at once. The bytes equal
  ``dump_json({**header, "results": entries}, pretty=True)``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, Self

import orjson

from fhir_ivc._types import ExcInfo
from fhir_ivc.exchange.pull_state import StateError
from fhir_ivc.io import dump_json
from fhir_ivc.io.writer import _atomic_file, _AtomicLines, _file_mode  # the io package's own

__all__ = [
    "LineSink",
    "Lines",
    "LossDocument",
    "Outputs",
    "ResumableLines",
    "open_outputs",
    "partial_path",
]


class LineSink(Protocol):
    """What the run writes a patient's lines to."""

    def write(self, value: Any) -> None: ...

    def flush(self) -> int:
        """Flush to the operating system; the file's length in bytes."""
        ...


class Lines(_AtomicLines):
    """One JSON value per line, the file moved into place when the run ends without an error."""

    def write(self, value: Any) -> None:
        self._write(dump_json(value))

    def flush(self) -> int:
        return 0  # nothing is resumed from an atomic file


def partial_path(path: Path) -> Path:
    """Where :class:`ResumableLines` keeps the lines of ``path`` until the run completes."""
    return path.with_name(f".{path.name}.partial")


class _OneFile:
    """Holds the one open file of a sink (``None`` outside its ``with`` block)."""

    _file: IO[bytes] | None = None

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ResumableLines(_OneFile):
    """Lines appended to ``.NAME.partial``, cut back to ``offset`` when a run resumes.

    ``offset=None`` starts afresh (an existing partial file is emptied). The file is moved to
    ``path`` by :meth:`complete` only; an error or a kill leaves the partial file for the next
    run. Lines reach the operating system at each :meth:`flush`, which survives ``kill -9`` of
    the process (not a power loss: there is no fsync).
    """

    def __init__(self, path: Path, offset: int | None) -> None:
        self.path = path
        self.partial = partial_path(path)
        self.offset = offset

    def __enter__(self) -> Self:
        if self.offset is None:
            self._file = open(self.partial, "wb")
            return self
        if not self.partial.exists() and self.path.exists():
            # the earlier run was killed after moving the file into place, before it was done
            os.replace(self.path, self.partial)
        try:
            file = open(self.partial, "r+b")
        except FileNotFoundError as exc:
            raise StateError(
                f"{self.partial} is missing: the state file says {self.offset} bytes of it were "
                "written; start afresh with a new state file"
            ) from exc
        size = file.seek(0, os.SEEK_END)
        if size < self.offset:
            file.close()
            raise StateError(
                f"{self.partial} has {size} bytes, the state file says {self.offset} were "
                "written; start afresh with a new state file"
            )
        file.truncate(self.offset)
        file.seek(self.offset)
        self._file = file
        return self

    def write(self, value: Any) -> None:
        if self._file is None:
            raise RuntimeError("ResumableLines is used outside its 'with' block")
        self._file.write(dump_json(value))

    def flush(self) -> int:
        if self._file is None:
            raise RuntimeError("ResumableLines is used outside its 'with' block")
        self._file.flush()
        return self._file.tell()

    def complete(self) -> None:
        """Close the file and move it to its destination."""
        self.__exit__(None, None, None)
        os.replace(self.partial, self.path)


class LossDocument(_OneFile):
    """The loss report as one JSON document, its entries spooled to ``spool`` as they come
    (without one, to a temporary file of its own)."""

    def __init__(self, path: Path, spool: LineSink | None = None) -> None:
        self.path = path
        self._spool = spool

    def __enter__(self) -> Self:
        if self._spool is None:
            self._file = tempfile.TemporaryFile(prefix="fhir-ivc-losses-")
        return self

    def write(self, value: Any) -> None:
        if self._file is not None:
            self._file.write(dump_json(value))
        elif self._spool is not None:
            self._spool.write(value)

    def flush(self) -> int:
        return self._spool.flush() if self._spool is not None else 0

    def finish(self, header: Mapping[str, Any], spool_file: Path | None = None) -> None:
        """Write the document atomically: ``header``'s keys, then ``"results"``: every entry."""
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
            self._assemble(header, self._file)
        elif spool_file is not None:
            with open(spool_file, "rb") as lines:
                self._assemble(header, lines)
        else:
            raise RuntimeError("LossDocument.finish needs the spool file")

    def _assemble(self, header: Mapping[str, Any], lines: IO[bytes]) -> None:
        head = dump_json({**header, "results": []}, pretty=True)
        marker = b'"results": []\n}\n'
        if not head.endswith(marker):  # orjson's layout; checked by the tests
            raise RuntimeError("unexpected JSON layout of the loss report header")
        with _atomic_file(self.path, _file_mode()) as out:
            out.write(head[: -len(marker)] + b'"results": [')
            first = True
            for line in lines:
                entry = dump_json(_loads(line), pretty=True).rstrip(b"\n")
                out.write(b"\n" if first else b",\n")
                out.write(b"\n".join(b"    " + part for part in entry.split(b"\n")))
                first = False
            out.write(b"]\n}\n" if first else b"\n  ]\n}\n")


def _loads(line: bytes) -> Any:
    return orjson.loads(line)


@dataclass
class Outputs:
    """The line files of one run (``None``: not asked for) and, with ``--state``, their lengths."""

    cases: LineSink | None = None
    losses: LineSink | None = None
    raw: LineSink | None = None
    #: the files of a ``--state`` run: moved into place by :meth:`complete`
    resumable: list[ResumableLines] = field(default_factory=list)
    #: the spool of a ``.json`` loss report in a ``--state`` run
    spool: ResumableLines | None = None

    def lengths(self) -> dict[str, int]:
        """Flush every resumable file; ``{path: length}`` for the journal."""
        return {str(sink.path): sink.flush() for sink in self.resumable}

    def complete(self, header: Mapping[str, Any]) -> None:
        """The run is done: write the ``.json`` loss report, move the partial files into place."""
        if isinstance(self.losses, LossDocument):
            if self.spool is not None:
                self.spool.flush()
                self.losses.finish(header, spool_file=self.spool.partial)
            else:
                self.losses.finish(header)
        for sink in self.resumable:
            if sink is self.spool:
                sink.__exit__(None, None, None)
                sink.partial.unlink(missing_ok=True)
            else:
                sink.complete()


@contextlib.contextmanager
def open_outputs(
    out: Path | None,
    ndjson: Path | None,
    loss_report: Path | None,
    raw: Path | None,
    *,
    resume: Mapping[str, int] | None = None,
    state: bool = False,
) -> Iterator[Outputs]:
    """The run's line files: atomic ones, or with ``state`` resumable ones.

    ``resume`` (a resumed ``--state`` run) maps each file to the length the journal confirmed;
    a file it does not name is cut back to nothing. Without ``resume`` a ``--state`` run starts
    its files afresh. A ``.json`` loss report is a :class:`LossDocument` (``complete`` writes it).
    """
    outputs = Outputs()
    with contextlib.ExitStack() as stack:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

        def lines(path: Path) -> LineSink:
            if not state or str(path) == "-":
                return stack.enter_context(Lines(path))
            offset = None if resume is None else resume.get(str(path), 0)
            sink = stack.enter_context(ResumableLines(path, offset))
            outputs.resumable.append(sink)
            return sink

        outputs.cases = lines(ndjson) if ndjson is not None else None
        if loss_report is not None and loss_report.suffix.lower() == ".json":
            if state:
                spool = lines(loss_report.with_name(f"{loss_report.name}.entries"))
                outputs.spool = spool if isinstance(spool, ResumableLines) else None
            outputs.losses = stack.enter_context(LossDocument(loss_report, outputs.spool))
        elif loss_report is not None:
            outputs.losses = lines(loss_report)
        outputs.raw = lines(raw) if raw is not None else None
        yield outputs
