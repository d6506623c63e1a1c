"""``fhir-ivc pull --state FILE`` and ``--since INSTANT|last``: resumable and incremental pulls.

The journal is :class:`fhir_ivc.exchange.pull_state.PullJournal` (SQLite). This module checks the
options, decides what ``--since`` means, and after each patient records it in the journal
together with the lengths of the output files, once its lines have reached the operating system
(:class:`Journaling`). docs/pull.md "Resuming and incremental pulls" is the user's view.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from fhir_ivc.cli._options import file_option
from fhir_ivc.cli._pull_outputs import Outputs, ResumableLines
from fhir_ivc.exchange import PatientPull, PatientQuery
from fhir_ivc.exchange.pull import token
from fhir_ivc.exchange.pull_changes import parse_instant
from fhir_ivc.exchange.pull_state import PatientRecord, PullJournal, RunTotals
from fhir_ivc.exchange.report import public_url
from fhir_ivc.io import STDOUT

__all__ = [
    "Journaling",
    "SinceOption",
    "StateOption",
    "check_state_options",
    "fingerprint",
    "patient_record",
    "plus",
    "pull_key",
    "raw_keys",
    "resolve_since",
    "utc_now",
]

StateOption = Annotated[
    Path | None,
    file_option(
        "--state",
        help="Journal of the run (SQLite): a killed pull re-run with the same options goes on "
        "where it stopped, and '--since last' starts where the last completed run started.",
        show_default=False,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="INSTANT|last",
        help="Pull only the patients with resources changed at or after INSTANT "
        "(e.g. 2026-12-01T10:00:00Z), or since the last completed run of --state ('last').",
        show_default=False,
    ),
]


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def check_state_options(
    state: Path | None, since: str | None, ndjson: Path | None, tables: Path | None
) -> None:
    """Refuse what a resumable run cannot do (exit 2)."""
    if since == "last" and state is None:
        raise typer.BadParameter("'--since last' needs --state FILE", param_hint="'--since'")
    if since is not None and since != "last":
        try:
            parse_instant(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--since'") from exc
    if state is None:
        return
    if ndjson is not None and str(ndjson) == STDOUT:
        raise typer.BadParameter(
            "standard output cannot be resumed: give a file with --state",
            param_hint="'--ndjson' / '--state'",
        )
    if tables is not None:
        raise typer.BadParameter(
            "case tables are written when the run ends and cannot be resumed: pull to --out or "
            "--ndjson with --state, then convert (docs/tables.md)",
            param_hint="'--tables' / '--state'",
        )


def resolve_since(since: str | None, journal: PullJournal | None) -> str | None:
    """The instant ``--since`` stands for (``last``: from the journal; ``None``: everything)."""
    if since is None:
        return None
    if since != "last":
        return parse_instant(since)
    last = journal.last_completed() if journal is not None else None
    return parse_instant(last) if last is not None else None


def fingerprint(
    server: str, query: PatientQuery, since: str | None, outputs: Sequence[Path | None]
) -> str:
    """What makes two invocations the same run: server, selection, since and the outputs."""
    doc = {
        "server": public_url(server),
        "identifiers": [list(pair) for pair in query.identifiers],
        "system": query.system,
        "since": since,
        "outputs": [str(p.resolve()) if p is not None else None for p in outputs],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def pull_key(pulled: PatientPull) -> str:
    """The journal key of a result (the same as ``target_key`` of its target)."""
    if pulled.patient is not None:
        return pulled.patient
    return f"identifier:{token(pulled.source_system or '', pulled.case_id or '')}"


def raw_keys(sink: ResumableLines) -> Iterator[str]:
    """``Type/id`` of every resource a resumed ``--raw`` file already holds."""
    with open(sink.partial, "rb") as lines:
        for line in lines:
            resource: Any = orjson.loads(line)
            yield f"{resource.get('resourceType')}/{resource.get('id')}"


def patient_record(pulled: PatientPull, *, written: bool) -> PatientRecord:
    """What the journal (and the run's counts) keep of a pulled patient."""
    return PatientRecord(
        key=pull_key(pulled),
        case_id=pulled.case_id,
        ok=written,
        found=pulled.patient is not None,
        losses=len(pulled.losses),
        resources=len(pulled.resources),
        requests=pulled.requests,
        fetched=pulled.exception is None,
    )


def plus(totals: RunTotals, done: PatientRecord) -> RunTotals:
    """``totals`` with one more patient, summed as :meth:`PullJournal.totals` sums them."""
    return RunTotals(
        patients=totals.patients + 1,
        ok=totals.ok + done.ok,
        not_found=totals.not_found + (not done.found),
        with_losses=totals.with_losses + (done.losses > 0),
        losses=totals.losses + done.losses,
        resources=totals.resources + done.resources,
        requests=totals.requests + done.requests,
        not_fetched=totals.not_fetched + (not done.fetched),
    )


class Journaling:
    """After each written patient: flush the files, record the patient and their lengths."""

    def __init__(self, journal: PullJournal, outputs: Outputs) -> None:
        self.journal = journal
        self.outputs = outputs

    def __call__(self, done: PatientRecord) -> None:
        self.journal.record(done, self.outputs.lengths())
