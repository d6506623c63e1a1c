"""The machine-readable push report: one JSON document, written case by case.

:class:`JsonReportWriter` streams the report to a temporary file next to its destination and
moves it into place (``os.replace``) when the run ends, so memory does not grow with the number
of cases and an interrupted run never leaves half a report. The layout (``REPORT_VERSION`` 1)::

    {
      "report_version": 1,
      "tool": "fhir-ivc 0.1.0",
      "server": "http://127.0.0.1:8080/fhir",     (no user info, no query)
      ...run facts given by the caller (fhir_version, software, dry_run, concurrency, started)...
      "cases": [                                   (in completion order; "index" = input order)
        {"index": 0, "case_id": "case-1", "source": "cases.yaml:7", "status": "ok",
         "counts": {"created": 31, "updated": 0, "unchanged": 0, "failed": 0},
         "error": null, "status_code": null,
         "entries": [{"full_url": "urn:uuid:…", "resource_type": "Patient",
                      "source": "patient", "outcome": "created", "status": 201,
                      "location": "Patient/7/_history/1", "version_id": "1",
                      "message": null}, …]},
        {"index": 1, "case_id": "case-7", "source": "cases.yaml:90", "status": "rejected",
         "problems": [{"path": "surgery.blood_loss_ml", "reason": "…"}], …},
        …
      ],
      "summary": {"cases": 2, "ok": 1, "failed": 0, "rejected": 1, "skipped": 0,
                  "entries": {"created": 31, "updated": 0, "unchanged": 0, "failed": 0},
                  "finished": "…", "elapsed_s": 1.23, "exit_code": 1}
    }

With ``--state``, a case the journal holds as confirmed with the same bundle is a
``"status": "confirmed"`` case (index, case_id, source only: nothing was sent), and the summary
gains ``"confirmed"`` (their number) and ``"requests"`` (HTTP requests sent: ``/metadata`` and
each case's manifest search, reads and transactions; a client's retries not counted). Entries
may have the outcome ``deleted`` (corrections, :mod:`fhir_ivc.exchange.manifest`).

A dry run writes ``"status": "planned"`` cases whose entries carry ``method`` and ``url`` (the
conditional URL) instead of an outcome. Nothing in the report is a secret: the server URL is
written without user info, and entries hold identifiers and case element keys, no values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import urlsplit, urlunsplit

import orjson

from fhir_ivc._types import ExcInfo
from fhir_ivc.exchange.push import CasePushResult, EntryResult, PlannedEntry
from fhir_ivc.io.writer import AtomicFile, _file_mode  # the io package's atomic files

__all__ = [
    "REPORT_VERSION",
    "JsonReportWriter",
    "confirmed_record",
    "entry_record",
    "planned_record",
    "public_url",
    "rejected_record",
    "result_record",
]

#: Bumped when a field changes meaning or disappears (new fields do not bump it).
REPORT_VERSION: Final = 1


def public_url(url: str) -> str:
    """``url`` without user info, query and fragment: safe to print and to store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def entry_record(entry: EntryResult) -> dict[str, Any]:
    """One entry's outcome as JSON."""
    return {
        "full_url": entry.full_url,
        "resource_type": entry.resource_type,
        "source": entry.source,
        "outcome": entry.outcome,
        "status": entry.status,
        "location": entry.location,
        "version_id": entry.version_id,
        "message": entry.message,
    }


def result_record(result: CasePushResult, *, index: int, source: str) -> dict[str, Any]:
    """One pushed case (ok or failed) as JSON."""
    return {
        "index": index,
        "case_id": result.case_id,
        "source": source,
        "status": "ok" if result.ok else "failed",
        "counts": dict(result.counts),
        "error": result.error,
        "status_code": result.status_code,
        "entries": [entry_record(entry) for entry in result.entries],
    }


def rejected_record(
    case_id: str | None, problems: Sequence[tuple[str, str]], *, index: int, source: str
) -> dict[str, Any]:
    """A record that was never sent: ``problems`` are ``(case path, reason)`` pairs."""
    return {
        "index": index,
        "case_id": case_id,
        "source": source,
        "status": "rejected",
        "problems": [{"path": path, "reason": reason} for path, reason in problems],
    }


def confirmed_record(case_id: str, *, index: int, source: str) -> dict[str, Any]:
    """A case not sent: ``push --state`` holds its very bundle as confirmed by the server."""
    return {"index": index, "case_id": case_id, "source": source, "status": "confirmed"}


def planned_record(
    case_id: str, planned: Sequence[PlannedEntry], *, index: int, source: str
) -> dict[str, Any]:
    """What a dry run would send for one case."""
    counts: dict[str, int] = {}
    for plan in planned:
        counts[plan.resource_type] = counts.get(plan.resource_type, 0) + 1
    return {
        "index": index,
        "case_id": case_id,
        "source": source,
        "status": "planned",
        "resource_counts": dict(sorted(counts.items())),
        "entries": [
            {
                "full_url": plan.full_url,
                "resource_type": plan.resource_type,
                "source": plan.source,
                "method": plan.method,
                "url": plan.url,
            }
            for plan in planned
        ],
    }


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class JsonReportWriter:
    """Streams ``{…header, "cases": [...], "summary": {...}}`` into ``path``, atomically.

    The temporary file is created on ``__enter__`` (so an unwritable destination fails before
    any work is done); :meth:`finish` writes the summary and moves the file into place. Leaving
    the ``with`` block without :meth:`finish` (an error, an interrupt) removes the temporary
    file and leaves ``path`` as it was.
    """

    def __init__(self, path: str | os.PathLike[str], header: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self._header = dict(header)
        self._atomic = AtomicFile(self.path, mode=None)
        self._first = True
        self.count = 0

    def __enter__(self) -> Self:
        self._atomic.__enter__()
        head = {"report_version": REPORT_VERSION, **self._header}
        # the header object without its closing brace, then the cases array
        self._atomic.file.write(_dumps(head)[:-1] + b',"cases":[')
        return self

    def add(self, record: Mapping[str, Any]) -> None:
        """Append one case record."""
        line = b"\n" + _dumps(record) if self._first else b",\n" + _dumps(record)
        self._atomic.file.write(line)
        self._first = False
        self.count += 1

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Close the cases array, write ``summary`` and move the report into place."""
        self._atomic.file.write(b'\n],"summary":' + _dumps(summary) + b"}\n")
        self._atomic.mode = _file_mode()
        self._atomic.commit()

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        self._atomic.__exit__(*exc_info)
