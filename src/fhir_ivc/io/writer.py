"""Writing bundles and rejects.

* :class:`BundleDirWriter`: one file per case and bundle kind, ``OUT/<case_id>.<kind>.json``
  (pretty JSON). Every file is written atomically (temporary file in the same folder, then
  ``os.replace``): an interrupted run leaves each file either as it was or complete, never half
  written, and a re-run with the same input rewrites identical bytes.
* :class:`NdjsonBundleWriter`: one bundle per line in one file (or standard output). The file
  appears, atomically, only when the writer is closed without an error.
* :class:`RejectsWriter`: one NDJSON line per rejected record,
  ``{"case_id", "path", "reason", "source"}``; atomic like the NDJSON writer. Written even when
  empty, so a re-run never leaves the rejects of an earlier run behind.

Atomicity protects against interrupted runs, not against power loss (there is no fsync).
JSON is serialised with orjson, keeping the key order the bundle builder chose. The bundle
writers serialise through their :class:`BundleEncoder` (``writer.encoder``), which ``map -j N``
runs in its workers: :meth:`~EncodedBundleWriter.write_encoded` then writes those bytes, the same
bytes ``write`` would have written.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final, Protocol, Self

import orjson

from fhir_ivc._types import ExcInfo

__all__ = [
    "STDOUT",
    "AtomicFile",
    "BundleDirWriter",
    "BundleEncoder",
    "BundleKind",
    "BundleSet",
    "BundleWriter",
    "EncodedBundleWriter",
    "NdjsonBundleWriter",
    "RejectsWriter",
    "atomic_write_bytes",
    "bundle_of",
    "dump_json",
]

#: The ``--ndjson`` path that means standard output.
STDOUT: Final = "-"

#: Case ids become file names: the case model allows exactly these.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BundleKind(StrEnum):
    """The two bundles built for each case."""

    TRANSACTION = "transaction"
    COLLECTION = "collection"


class BundleSet(Protocol):
    """What the writers need from ``fhir_ivc.bundle.CaseBundles``."""

    @property
    def case_id(self) -> str: ...

    @property
    def transaction(self) -> Mapping[str, Any]: ...

    @property
    def collection(self) -> Mapping[str, Any]: ...


def bundle_of(bundles: BundleSet, kind: BundleKind) -> Mapping[str, Any]:
    """The bundle of one kind."""
    return bundles.transaction if kind is BundleKind.TRANSACTION else bundles.collection


def dump_json(value: Any, *, pretty: bool = False) -> bytes:
    """orjson bytes with a final newline; ``pretty`` indents by two spaces."""
    option = orjson.OPT_APPEND_NEWLINE | (orjson.OPT_INDENT_2 if pretty else 0)
    return orjson.dumps(value, option=option)


def _file_mode() -> int:
    """Mode of new files: what ``open()`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicFile:
    """A temporary file next to ``path`` (``.file``, binary) that :meth:`commit` moves into place.

    Leaving the ``with`` block without ``commit`` (an error, an interrupt) removes the temporary
    file and leaves ``path`` as it was. ``mode``: the file's mode once in place; ``None`` keeps
    the temporary file's (``mkstemp``: 0600).
    """

    def __init__(self, path: str | os.PathLike[str], *, mode: int | None) -> None:
        self.path = Path(path)
        self.mode = mode
        self._file: IO[bytes] | None = None
        self._tmp: str | None = None

    @property
    def file(self) -> IO[bytes]:
        if self._file is None:
            raise RuntimeError(f"{self.path.name}: written outside its 'with' block")
        return self._file

    def __enter__(self) -> Self:
        fd, self._tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        self._file = os.fdopen(fd, "wb")
        return self

    def commit(self) -> None:
        """Close the file and move it into place (once; later calls do nothing)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            if self.mode is not None:
                os.chmod(self._tmp, self.mode)
            os.replace(self._tmp, self.path)
            self._tmp = None

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


@contextlib.contextmanager
def _atomic_file(path: Path, mode: int) -> Iterator[IO[bytes]]:
    """A temporary file next to ``path`` that replaces ``path`` if the block succeeds."""
    with AtomicFile(path, mode=mode) as atomic:
        yield atomic.file
        atomic.commit()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    with _atomic_file(Path(path), _file_mode()) as file:
        file.write(data)


class BundleWriter(Protocol):
    """Where ``fhir-ivc map`` puts bundles; used as a context manager."""

    #: the folder or file written, for messages
    destination: str

    def write(self, bundles: BundleSet) -> int:
        """Write the bundles of one case; returns how many bundles were written."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: *ExcInfo) -> None: ...


@dataclass(frozen=True, slots=True)
class BundleEncoder:
    """A case's bundles as a writer puts them down: one JSON document per kind, in ``kinds``
    order, indented (``pretty``, the files of :class:`BundleDirWriter`) or one line each
    (:class:`NdjsonBundleWriter`). Picklable, so another process can run it."""

    kinds: tuple[BundleKind, ...]
    pretty: bool = False

    def __call__(self, bundles: BundleSet) -> tuple[bytes, ...]:
        return tuple(dump_json(bundle_of(bundles, kind), pretty=self.pretty) for kind in self.kinds)


class EncodedBundleWriter(BundleWriter, Protocol):
    """A :class:`BundleWriter` that also takes bundles serialised by its ``encoder``."""

    @property
    def encoder(self) -> BundleEncoder: ...

    def write_encoded(self, case_id: str, documents: Sequence[bytes]) -> int:
        """Write what ``encoder`` made of one case's bundles; returns how many were written."""
        ...


def _check_count(case_id: str, documents: Sequence[bytes], kinds: Sequence[BundleKind]) -> None:
    if len(documents) != len(kinds):
        raise ValueError(f"{case_id}: {len(documents)} bundles for {len(kinds)} kinds")


class BundleDirWriter:
    """``OUT/<case_id>.transaction.json`` and ``OUT/<case_id>.collection.json``, atomically."""

    def __init__(self, out_dir: str | os.PathLike[str], kinds: Sequence[BundleKind]) -> None:
        self.out_dir = Path(out_dir)
        self.kinds = tuple(kinds)
        self.encoder = BundleEncoder(self.kinds, pretty=True)
        self.destination = str(self.out_dir)
        self._mode = _file_mode()

    def path_for(self, case_id: str, kind: BundleKind) -> Path:
        if not _SAFE_NAME.match(case_id):
            raise ValueError(f"case id {case_id!r} cannot be used as a file name")
        return self.out_dir / f"{case_id}.{kind}.json"

    def write(self, bundles: BundleSet) -> int:
        return self.write_encoded(bundles.case_id, self.encoder(bundles))

    def write_encoded(self, case_id: str, documents: Sequence[bytes]) -> int:
        _check_count(case_id, documents, self.kinds)
        for kind, data in zip(self.kinds, documents, strict=True):
            with _atomic_file(self.path_for(case_id, kind), self._mode) as file:
                file.write(data)
        return len(self.kinds)

    def __enter__(self) -> Self:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        return None


class _AtomicLines:
    """Lines written to a temporary file, moved into place on a clean exit (``-``: stdout)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.destination = os.fspath(path)
        self._stack = contextlib.ExitStack()
        self._file: IO[bytes] | None = None

    def __enter__(self) -> Self:
        if self.destination == STDOUT:
            self._file = sys.stdout.buffer
        else:
            path = Path(self.destination)
            self._file = self._stack.enter_context(_atomic_file(path, _file_mode()))
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if self.destination == STDOUT and self._file is not None:
            self._file.flush()
        self._file = None
        self._stack.__exit__(*exc_info)

    def _write(self, line: bytes) -> None:
        if self._file is None:
            raise RuntimeError(f"{type(self).__name__} is used outside its 'with' block")
        self._file.write(line)


class NdjsonBundleWriter(_AtomicLines):
    """One bundle per line (compact JSON): all of a case's kinds, in ``kinds`` order."""

    def __init__(self, path: str | os.PathLike[str], kinds: Sequence[BundleKind]) -> None:
        super().__init__(path)
        self.kinds = tuple(kinds)
        self.encoder = BundleEncoder(self.kinds)

    def write(self, bundles: BundleSet) -> int:
        return self.write_encoded(bundles.case_id, self.encoder(bundles))

    def write_encoded(self, case_id: str, documents: Sequence[bytes]) -> int:
        _check_count(case_id, documents, self.kinds)
        for line in documents:
            self._write(line)
        return len(self.kinds)


class RejectsWriter(_AtomicLines):
    """``{"case_id", "path", "reason", "source"}`` per line, for records that were rejected."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.count = 0

    def write(self, case_id: str | None, path: str, reason: str, source: str) -> None:
        record = {"case_id": case_id, "path": path, "reason": reason, "source": source}
        self._write(dump_json(record))
        self.count += 1
