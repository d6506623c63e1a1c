"""One ``fhir-ivc push`` run: its counts, the bounded table rows, its writers and its log lines.

Split from :mod:`fhir_ivc.cli._push` (the command) so each stays readable.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import typer

from fhir_ivc.bulk.ids import refuses_client_ids
from fhir_ivc.cli._output import CaseRows, Reporter, plural, reject_line
from fhir_ivc.cli._push_input import Item, Reject
from fhir_ivc.exchange import OUTCOMES, CasePushResult, Outcome
from fhir_ivc.exchange.push import PlannedEntry
from fhir_ivc.exchange.report import (
    JsonReportWriter,
    confirmed_record,
    planned_record,
    rejected_record,
    result_record,
)
from fhir_ivc.io import RejectsWriter

__all__ = ["MAX_FAILURES_SHOWN", "PushRun", "client_logs"]

#: Failure lines printed at the end; the report file has all of them.
MAX_FAILURES_SHOWN: Final = 100

#: the loggers whose records the command shows: the client's (retries, refused credentials)
#: and the engine's (one line per case, with --verbose)
_LOGGERS: Final = ("fhir_ivc.client", "fhir_ivc.exchange")
#: results left out of a long run's table
_QUIET: Final = frozenset({"ok", "confirmed"})


# --- output -----------------------------------------------------------------------------------


class _LogHandler(logging.Handler):
    """Client and engine records (retries, refused credentials …) as ``fhir-ivc: …`` lines.

    The push engine's own one-line-per-case records are dropped unless ``--verbose``: the
    command prints every failed case itself, with its reason.
    """

    def __init__(self, output: Reporter, *, verbose: bool) -> None:
        super().__init__(logging.INFO if verbose else logging.WARNING)
        self.output = output
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        if not self.verbose and str(record.msg).startswith("case %s "):
            return
        try:
            level = record.levelname.lower()
            self.output.line(f"fhir-ivc: {level}: {record.getMessage()}")
        except Exception:  # pragma: no cover - logging must never break the run
            self.handleError(record)


@contextlib.contextmanager
def client_logs(output: Reporter, *, verbose: bool) -> Iterator[None]:
    handler = _LogHandler(output, verbose=verbose)
    with contextlib.ExitStack() as stack:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            level = logger.level
            logger.addHandler(handler)
            stack.callback(logger.setLevel, level)
            stack.callback(logger.removeHandler, handler)
            if verbose and (level == logging.NOTSET or level > logging.INFO):
                logger.setLevel(logging.INFO)
        yield


# --- one run ----------------------------------------------------------------------------------


@dataclass
class PushRun:
    """Counts, the bounded table rows and the writers of one push (or dry) run."""

    output: Reporter
    report: JsonReportWriter | None
    rejects: RejectsWriter | None
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    skipped: int = 0
    planned_entries: int = 0
    entries: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    rows: CaseRows = field(
        default_factory=lambda: CaseRows(
            ("case", *OUTCOMES, "result"), right=OUTCOMES, quiet=_QUIET
        )
    )
    failures: list[tuple[int, str]] = field(default_factory=list)
    #: a failure said the server forbids client-assigned ids (``--ids logical``)
    client_ids_refused: bool = False
    #: cases not sent: ``--state`` holds their very bundle as confirmed
    confirmed: int = 0
    #: requests sent (``GET /metadata`` and each case's), when known
    requests: int | None = None

    @property
    def cases(self) -> int:
        return self.ok + self.failed + self.rejected + self.confirmed

    def _row(
        self, index: int, case_id: str | None, counts: Mapping[Outcome, int] | None, result: str
    ) -> None:
        cells = [str(counts[o]) if counts else "-" for o in OUTCOMES]
        self.rows.add(self.cases, index, result, [case_id or "<no case_id>", *cells, result])

    def _progress(self) -> None:
        parts = [f"{self.ok} ok"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.rejected:
            parts.append(f"{self.rejected} rejected")
        if self.confirmed:
            parts.append(f"{self.confirmed} already confirmed")
        self.output.advance(", ".join(parts))

    def already(self, item: Item) -> None:
        """A case ``--state`` holds as confirmed with this very bundle: not sent."""
        self.confirmed += 1
        if self.report is not None:
            self.report.add(confirmed_record(item.case_id, index=item.index, source=item.source))
        self._row(item.index, item.case_id, None, "confirmed")
        self._progress()

    def reject(self, work: Reject) -> None:
        self.rejected += 1
        for path, reason in work.problems:
            self.output.line(reject_line(work.case_id, path, reason, work.source))
            if self.rejects is not None:
                self.rejects.write(work.case_id, path, reason, work.source)
        if self.report is not None:
            self.report.add(
                rejected_record(work.case_id, work.problems, index=work.index, source=work.source)
            )
        self._row(work.index, work.case_id, None, "rejected")
        self._progress()

    def pushed(self, item: Item, result: CasePushResult) -> None:
        counts = result.counts
        for outcome in OUTCOMES:
            self.entries[outcome] += counts[outcome]
        if result.ok:
            self.ok += 1
            status = "ok"
        else:
            self.failed += 1
            status = "failed"
            if result.status_code is not None:
                status += f" (HTTP {result.status_code})"
            elif result.exception is not None:
                status += f" ({type(result.exception).__name__})"
            if len(self.failures) < MAX_FAILURES_SHOWN:
                error = result.error or f"case {item.case_id!r}: failed"
                self.client_ids_refused |= refuses_client_ids(result.error)
                self.failures.append((item.index, f"FAIL {error} ({item.source})"))
        if self.report is not None:
            self.report.add(result_record(result, index=item.index, source=item.source))
        self._row(item.index, item.case_id, counts, status)
        self._progress()

    def planned(self, item: Item, planned: Sequence[PlannedEntry], *, verbose: bool) -> None:
        self.ok += 1
        self.planned_entries += len(planned)
        record = planned_record(item.case_id, planned, index=item.index, source=item.source)
        by_type = ", ".join(f"{t} {n}" for t, n in _by_count(record["resource_counts"]))
        typer.echo(
            f"{item.case_id}: {plural(len(planned), 'entry', 'entries')}: {by_type} ({item.source})"
        )
        if verbose:
            for plan in planned:
                typer.echo(f"    {plan.method} {plan.url}  <- {plan.source}")
        if self.report is not None:
            self.report.add(record)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "cases": self.cases,
            "ok": self.ok,
            "failed": self.failed,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "entries": dict(self.entries),
        }
        if self.confirmed:
            summary["confirmed"] = self.confirmed
        if self.requests is not None:
            summary["requests"] = self.requests
        return summary


def _by_count(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
