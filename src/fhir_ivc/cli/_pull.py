"""``fhir-ivc pull``: read patients from a FHIR server back into case records, with a loss report.

The engine is :func:`fhir_ivc.exchange.pull_many` (docs/pull.md): it finds the patients,
gathers each one's resources (``$everything`` or type searches) and reads them with
``read_case``. This module only writes what comes back, as it comes back, and reports:

* case records: ``--out DIR`` (``DIR/<case_id>.json``) or ``--ndjson FILE`` (one per line);
* the loss report (``--loss-report``; by default next to the cases): per patient, what could not
  be carried into the case record and why; ``.json`` = one document, otherwise NDJSON;
* ``--raw FILE``: every pulled FHIR resource, once, as NDJSON.

Exit codes (:mod:`fhir_ivc.cli._exit`): 0 every patient was read into a valid case; 1 some were
not (no patient carries an identifier, the data do not make a valid case, a patient's data could
not be fetched); 2 the run could not be done (options, credentials, server unreachable or not
FHIR R4, an output that cannot be written). Messages name cases by id and count things; they
never print resource content, identifiers of other systems or credentials.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final

import typer

from fhir_ivc._version import __version__
from fhir_ivc.cli._connection import DEFAULT_CONNECTION, Connection, with_connection
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error
from fhir_ivc.cli._options import (
    choice_option,
    dir_option,
    file_option,
    ndjson_option,
    server_option,
    side_file,
)
from fhir_ivc.cli._output import Reporter, now, plural
from fhir_ivc.cli._pull_bulk import (
    ExportTypes,
    GroupOption,
    MaxPollWait,
    PullBulkFlag,
    PullBulkOptions,
    ResumeOption,
    export_state_path,
    pull_bulk,
)
from fhir_ivc.cli._pull_outputs import Outputs, ResumableLines, open_outputs
from fhir_ivc.cli._pull_state import (
    Journaling,
    SinceOption,
    StateOption,
    check_state_options,
    fingerprint,
    patient_record,
    plus,
    raw_keys,
    resolve_since,
    utc_now,
)
from fhir_ivc.cli._push_options import ManifestOnlyOption
from fhir_ivc.cli._services import services
from fhir_ivc.client.smart import DEFAULT_PULL_SCOPE
from fhir_ivc.exceptions import AuthError
from fhir_ivc.exchange import PatientPull, PatientQuery, pull_many
from fhir_ivc.exchange._sync import server_time
from fhir_ivc.exchange.pull import parse_identifier, target_key
from fhir_ivc.exchange.pull_state import PullJournal, RunTotals
from fhir_ivc.exchange.report import public_url
from fhir_ivc.io import STDOUT, atomic_write_bytes, dump_json
from fhir_ivc.io.tables import TableWriter

__all__ = ["pull_command"]

#: NOT READ lines printed; the loss report has every patient.
MAX_PROBLEMS_SHOWN: Final = 100
_SAFE_NAME_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
)


class StrategyChoice(StrEnum):
    AUTO = "auto"
    EVERYTHING = "everything"
    SEARCH = "search"


def _query(
    identifiers: Sequence[str], identifiers_file: Path | None, system: str | None
) -> PatientQuery:
    """The patients to pull, from the selection options (exactly one kind)."""
    hint = "'--identifier' / '--identifiers-file' / '--system'"
    texts = list(identifiers)
    if identifiers_file is not None:
        try:
            content = identifiers_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(
                f"cannot read {identifiers_file}: {exc}", param_hint="'--identifiers-file'"
            ) from exc
        for number, line in enumerate(content.splitlines(), start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                try:
                    parse_identifier(line)
                except ValueError as exc:
                    raise typer.BadParameter(
                        f"{identifiers_file}:{number}: {exc}", param_hint="'--identifiers-file'"
                    ) from exc
                texts.append(line)
    if system is not None and (texts or identifiers_file is not None):
        raise typer.BadParameter("give identifiers or a system, not both", param_hint=hint)
    if system is not None:
        if not system.strip() or "|" in system:
            raise typer.BadParameter("expected an identifier system URI", param_hint="'--system'")
        return PatientQuery.by_system(system.strip())
    if not texts:
        if identifiers_file is not None:
            raise typer.BadParameter(
                f"{identifiers_file} lists no identifiers", param_hint="'--identifiers-file'"
            )
        raise typer.BadParameter("say which patients to pull", param_hint=hint)
    try:
        return PatientQuery.by_identifiers(texts)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--identifier'") from exc


def _safe_file_name(case_id: str) -> bool:
    return 0 < len(case_id) <= 64 and set(case_id) <= _SAFE_NAME_CHARS and case_id[0] not in ".-"


# --- what the run writes and tells ------------------------------------------------------------


@dataclass
class _Run:
    """Writes each pulled patient as it arrives and keeps the counts (not the data)."""

    out: Path | None
    outputs: Outputs
    reporter: Reporter
    tables: TableWriter | None = None
    #: ``--state``: records each written patient in the journal
    journal: Journaling | None = None
    #: the patients so far, summed as the journal sums them
    totals: RunTotals = field(default_factory=RunTotals)
    shown: int = 0
    #: patients finished by an earlier, interrupted run of the same ``--state``
    resumed: int = 0
    strategies: set[str] = field(default_factory=set)
    _case_ids: set[str] = field(default_factory=set)
    _raw_keys: set[str] = field(default_factory=set)

    @property
    def not_read(self) -> int:
        return self.totals.patients - self.totals.ok

    def resume(self, journal: PullJournal) -> None:
        """Start from the counts, case ids and raw resources of the finished patients."""
        self.totals = journal.totals()
        self.resumed = self.totals.patients
        self._case_ids.update(journal.case_ids())
        if isinstance(self.outputs.raw, ResumableLines):
            self._raw_keys.update(raw_keys(self.outputs.raw))

    def __call__(self, pulled: PatientPull) -> None:
        # every patient would be refused alike (SMART: the token endpoint refused, the scope
        # is too narrow): one error for the run
        if isinstance(pulled.exception, AuthError) and pulled.exception.ends_run:
            raise pulled.exception
        if pulled.strategy:
            self.strategies.add(pulled.strategy)
        case = pulled.case
        if case is not None and case.case_id in self._case_ids:
            pulled.error = "duplicate case_id: an earlier patient of this run has the same case id"
            case = None
        if case is not None:
            self._case_ids.add(case.case_id)
            record = case.model_dump(mode="json", exclude_none=True)
            if self.out is not None:
                if not _safe_file_name(case.case_id):  # the case model allows only such ids
                    raise ValueError(f"case id {case.case_id!r} cannot be used as a file name")
                atomic_write_bytes(
                    self.out / f"{case.case_id}.json", dump_json(record, pretty=True)
                )
            if self.outputs.cases is not None:
                self.outputs.cases.write(record)
            if self.tables is not None:
                self.tables.write(case)
        else:
            self._problem(pulled)
        done = patient_record(pulled, written=case is not None)
        self.totals = plus(self.totals, done)
        if self.outputs.losses is not None:
            self.outputs.losses.write(pulled.loss_report())
        if self.outputs.raw is not None:
            for resource in pulled.resources:
                key = f"{resource.get('resourceType')}/{resource.get('id')}"
                if key not in self._raw_keys:
                    self._raw_keys.add(key)
                    self.outputs.raw.write(resource)
        if self.journal is not None:
            self.journal(done)
        self.reporter.advance()

    def _problem(self, pulled: PatientPull) -> None:
        self.shown += 1
        if self.shown > MAX_PROBLEMS_SHOWN:
            return
        label = "NOT FOUND" if pulled.patient is None else "NOT READ"
        where = f" ({pulled.patient})" if pulled.patient else ""
        text = f"{label} {pulled.case_id or '<no case id>'}{where}: {pulled.problem}"
        self.reporter.line(" ".join(text.split()))


# --- the command ------------------------------------------------------------------------------


@with_connection(max_pages=True)
def pull_command(
    ctx: typer.Context,
    server: Annotated[str, server_option()],
    identifier: Annotated[
        list[str] | None,
        typer.Option(
            "--identifier",
            "-i",
            metavar="SYSTEM|VALUE",
            help="Pull the patient with this identifier (repeatable).",
            show_default=False,
        ),
    ] = None,
    identifiers_file: Annotated[
        Path | None,
        file_option(
            "--identifiers-file",
            help="Pull the patients listed in FILE, one SYSTEM|VALUE per line ('#' comments).",
            show_default=False,
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            metavar="URI",
            help="Pull every patient with an identifier in this system (the case source system).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        dir_option("--out", "-o", help="Write DIR/<case_id>.json files."),
    ] = None,
    ndjson: Annotated[
        Path | None,
        ndjson_option("Write the case records to one NDJSON file instead ('-' = standard output)."),
    ] = None,
    loss_report: Annotated[
        Path | None,
        file_option(
            "--loss-report",
            help="Where the loss report goes (.json: one document, else NDJSON). Default: "
            "OUT/loss-report.ndjson, or <name>.losses.ndjson next to the --ndjson file.",
            show_default=False,
        ),
    ] = None,
    tables: Annotated[
        Path | None,
        dir_option(
            "--tables", help="Also write the case records as CSV tables to DIR (docs/tables.md)."
        ),
    ] = None,
    raw: Annotated[
        Path | None,
        file_option(
            "--raw", help="Also write every pulled FHIR resource (once) to this NDJSON file."
        ),
    ] = None,
    count: Annotated[
        int,
        typer.Option("--count", min=1, max=1000, metavar="N", help="Page size (_count)."),
    ] = 50,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-j", min=1, max=64, help="Patients pulled at a time."),
    ] = 4,
    strategy: Annotated[
        StrategyChoice,
        choice_option(
            "--strategy",
            help="How each patient's data is gathered: Patient/$everything, type searches, or "
            "auto ($everything when the server's CapabilityStatement offers it).",
        ),
    ] = StrategyChoice.AUTO,
    connection: Connection = DEFAULT_CONNECTION,
    state: StateOption = None,
    since: SinceOption = None,
    manifest_only: ManifestOnlyOption = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar and no summary (problem lines stay)."),
    ] = False,
    bulk: PullBulkFlag = False,
    group: GroupOption = None,
    export_type: ExportTypes = None,
    resume: ResumeOption = None,
    max_poll_wait: MaxPollWait = 5.0,
) -> None:
    """Pull patients from a FHIR server and read them back into case records.

    Exit codes: 0 every patient read into a valid case, 1 some were not, 2 the run could not
    be done.
    """
    started_clock = time.perf_counter()
    query = _query(identifier or [], identifiers_file, system)
    query = query.only_manifest() if manifest_only else query
    if out is not None and ndjson is not None:
        raise typer.BadParameter("give at most one of them", param_hint="'--out' / '--ndjson'")
    if loss_report is None:
        loss_report = side_file(out, ndjson, "loss-report.ndjson", ".losses.ndjson")
    if out is None and ndjson is None and loss_report is None and raw is None and tables is None:
        raise typer.BadParameter(
            "nothing would be written: give --out, --ndjson, --tables, --loss-report or --raw",
            param_hint="'--out' / '--ndjson'",
        )
    files = [p for p in (ndjson, loss_report, raw) if p is not None and str(p) != STDOUT]
    if len({p.resolve() for p in files}) != len(files):
        raise typer.BadParameter(
            "the output files must differ", param_hint="'--ndjson' / '--loss-report' / '--raw'"
        )
    check_state_options(state, since, ndjson, tables)
    if state is not None:  # the journal names the files by their full path
        out, ndjson, loss_report, raw = (
            p.resolve() if p is not None else None for p in (out, ndjson, loss_report, raw)
        )
    reporter = Reporter(quiet=quiet, doing="pulling", unit="patients")
    connection.warn(reporter, "received")
    with exit_on_error():
        auth = connection.credentials(server, DEFAULT_PULL_SCOPE, say=reporter.info)
        with contextlib.ExitStack() as stack:
            journal = stack.enter_context(PullJournal(state)) if state is not None else None
            since_at = resolve_since(since, journal)
            if since == "last" and since_at is None:
                reporter.info(f"fhir-ivc: no completed run in {state} yet: pulling every patient")
            fhir = stack.enter_context(connection.client(services(ctx).fhir_client, server, auth))
            if journal is not None:
                started = server_time(fhir) or utc_now()
                key = fingerprint(server, query, since_at, [out, ndjson, loss_report, raw])
                journal.begin(key, started, since_at)
            outputs = stack.enter_context(
                open_outputs(
                    out,
                    ndjson,
                    loss_report,
                    raw,
                    resume=journal.lengths() if journal is not None and journal.resumed else None,
                    state=journal is not None,
                )
            )
            stack.enter_context(reporter)
            table_writer = stack.enter_context(TableWriter(tables)) if tables is not None else None
            run = _Run(
                out,
                outputs,
                reporter,
                table_writer,
                Journaling(journal, outputs) if journal is not None else None,
            )
            if journal is not None and journal.resumed:
                run.resume(journal)
            skip = (lambda t: journal.is_done(target_key(t))) if journal is not None else None
            if bulk:  # docs/bulk.md: one $export instead of requests per patient (_pull_bulk)
                where = export_state_path(state, out, ndjson)
                how = (since_at, where, auth, connection, max_poll_wait)
                options = PullBulkOptions.of(group, export_type, resume, *how)
                pull_bulk(fhir, query, options, reporter, on_result=run, skip=skip)
            else:
                pull_many(
                    fhir,
                    query,
                    strategy=strategy.value,
                    count=count,
                    concurrency=concurrency,
                    on_result=run,
                    keep=False,  # each patient is written by `run` and dropped
                    skip=skip,
                    since=since_at,
                )
            outputs.complete(
                {
                    "tool": f"fhir-ivc {__version__}",
                    "server": public_url(server),
                    "finished": now(),
                    "patients": run.totals.patients,
                    "cases": run.totals.ok,
                    "not_read": run.not_read,
                    "losses": run.totals.losses,
                }
            )
            if journal is not None and not journal.complete(utc_now()):
                reporter.info(
                    "fhir-ivc: some patients could not be fetched: the next '--since last' "
                    "starts where the run before this one started"
                )
        _summary(run, reporter, started_clock, out, ndjson, loss_report, raw, tables, since_at)
    if run.not_read:
        raise CliExit(ExitCode.SOME_FAILED)


def _summary(
    run: _Run,
    reporter: Reporter,
    started: float,
    out: Path | None,
    ndjson: Path | None,
    loss_report: Path | None,
    raw: Path | None,
    tables: Path | None = None,
    since: str | None = None,
) -> None:
    if run.shown > MAX_PROBLEMS_SHOWN:
        reporter.line(
            f"... and {run.shown - MAX_PROBLEMS_SHOWN} more patients not read "
            "(all of them are in the loss report)"
        )
    elapsed = time.perf_counter() - started
    how = "/".join(sorted(run.strategies)) or "-"
    done = run.totals
    parts = [
        f"pulled {plural(done.patients, 'patient')}: "
        f"{done.ok} read into cases, {run.not_read} not read"
        + (f" ({done.not_found} not found)" if done.not_found else ""),
        f"{done.losses} losses in {done.with_losses} patients",
        f"{done.resources} resources in {done.requests} requests ({how}), {elapsed:.2f} s",
    ]
    if since is not None:
        parts[0] += f" (changed since {since})"
    if run.resumed:
        parts[0] += f" ({run.resumed} of them finished by the interrupted run before)"
    where = [
        f"cases in {dest}"
        for dest in (out, ndjson, tables)
        if dest is not None and str(dest) != STDOUT
    ]
    if loss_report is not None:
        where.append(f"loss report in {loss_report}")
    if raw is not None:
        where.append(f"resources in {raw}")
    reporter.info("; ".join(parts + where))
