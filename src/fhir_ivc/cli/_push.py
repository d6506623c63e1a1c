"""``fhir-ivc push``: map case records (or read prebuilt bundles) and push them to a FHIR server.

The pipeline streams: one producer reads a record, maps it to its transaction Bundle and checks
it, then hands it to ``--concurrency`` workers over a channel that holds at most that many
bundles. Each worker pushes one case at a time with the async client's ``push_many`` (a list of
one: its isolation turns any error into a failed result). So at most ``2 × concurrency + 1``
bundles are in memory, whatever the size of the input; the report file is written case by case.
What the run keeps per case is its id (to refuse a second record with the same id) and, for the
final table, a bounded number of rows.

Exit codes (:mod:`fhir_ivc.cli._exit`): 0 every case pushed and every entry ok; 1 some cases
were rejected (bad record, mapping or validation) or failed on the server; 2 the run could not
be done (bad options, unreadable credentials or input, server unreachable, not FHIR 4.0.x, no
transaction support). Nothing printed or written carries a secret or a case value: cases are
named by id, entries by the case element they came from.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import typer
from anyio.abc import ObjectReceiveStream
from rich.table import Table

from fhir_ivc._version import __version__
from fhir_ivc.bulk.ids import CLIENT_IDS_REFUSED, refuses_client_ids
from fhir_ivc.cli._connection import (
    AuthTokenEnv,
    AuthTokenFile,
    BasicAuthFile,
    Insecure,
    Timeout,
    auth_from,
)
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error
from fhir_ivc.cli._ids import Ids, IdsOption
from fhir_ivc.cli._inputs import check_inputs
from fhir_ivc.cli._limits import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_RECORD_BYTES,
    MaxDepth,
    MaxRecordBytes,
    limits_from,
)
from fhir_ivc.cli._output import Reporter, reject_line
from fhir_ivc.cli._push_bulk import BulkFlag, MaxPollWait, PushBulkOptions, push_bulk
from fhir_ivc.cli._push_input import Item, Reject, Work, Works, mapped_works, prebuilt_works
from fhir_ivc.cli._services import services
from fhir_ivc.client import AsyncFhirClient, CapabilityInfo
from fhir_ivc.exceptions import ConfigError, RequestError
from fhir_ivc.exchange import OUTCOMES, CasePushResult, Outcome, push_many
from fhir_ivc.exchange.push import PlannedEntry, plan_entries
from fhir_ivc.exchange.report import (
    JsonReportWriter,
    planned_record,
    public_url,
    rejected_record,
    result_record,
)
from fhir_ivc.io import RejectsWriter

__all__ = ["push_command"]

#: Cases listed one by one in the final table; larger runs list only the cases that were not ok.
TABLE_ROWS: Final = 50
#: Failure lines printed at the end; the report file has all of them.
MAX_FAILURES_SHOWN: Final = 100

#: the loggers whose records the command shows: the client's (retries, refused credentials)
#: and the engine's (one line per case, with --verbose)
_LOGGERS: Final = ("fhir_ivc.client", "fhir_ivc.exchange")


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
def _client_logs(output: Reporter, *, verbose: bool) -> Iterator[None]:
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
class _Row:
    index: int
    case_id: str | None
    counts: Mapping[Outcome, int] | None
    result: str


@dataclass
class _PushRun:
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
    rows: list[_Row] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    #: a failure said the server forbids client-assigned ids (``--ids logical``)
    client_ids_refused: bool = False

    @property
    def cases(self) -> int:
        return self.ok + self.failed + self.rejected

    def _row(self, row: _Row) -> None:
        if self.cases > TABLE_ROWS:  # too many to list: keep only the cases that were not ok
            self.rows = [r for r in self.rows if r.result != "ok"]
            if row.result == "ok":
                return
        if len(self.rows) < TABLE_ROWS:
            self.rows.append(row)

    def _progress(self) -> None:
        parts = [f"{self.ok} ok"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.rejected:
            parts.append(f"{self.rejected} rejected")
        self.output.advance(", ".join(parts))

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
        self._row(_Row(work.index, work.case_id, None, "rejected"))
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
        self._row(_Row(item.index, item.case_id, counts, status))
        self._progress()

    def planned(self, item: Item, planned: Sequence[PlannedEntry], *, verbose: bool) -> None:
        self.ok += 1
        self.planned_entries += len(planned)
        record = planned_record(item.case_id, planned, index=item.index, source=item.source)
        by_type = ", ".join(f"{t} {n}" for t, n in _by_count(record["resource_counts"]))
        typer.echo(f"{item.case_id}: {_entries(len(planned))}: {by_type} ({item.source})")
        if verbose:
            for plan in planned:
                typer.echo(f"    {plan.method} {plan.url}  <- {plan.source}")
        if self.report is not None:
            self.report.add(record)

    def table(self) -> Table | None:
        if not self.rows:
            return None
        table = Table(title=None, show_edge=False, pad_edge=False, box=None)
        table.add_column("case")
        for outcome in OUTCOMES:
            table.add_column(outcome, justify="right")
        table.add_column("result")
        for row in sorted(self.rows, key=lambda r: r.index):
            counts = [str(row.counts[o]) if row.counts else "-" for o in OUTCOMES]
            table.add_row(row.case_id or "<no case_id>", *counts, row.result)
        return table

    def summary(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "ok": self.ok,
            "failed": self.failed,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "entries": dict(self.entries),
        }


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def _by_count(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# --- the server -------------------------------------------------------------------------------


async def _check_server(client: AsyncFhirClient) -> CapabilityInfo:
    """``GET /metadata``: FHIR 4.0.x and the transaction interaction, else ConfigError (exit 2).

    Raised as exceptions, not ``CliExit``: a ``SystemExit`` must not cross the event loop.
    """
    where = public_url(client.base_url)
    try:
        info = await client.capabilities()
    except (RequestError, ConfigError) as exc:
        raise ConfigError(f"cannot use the FHIR server at {where}: {exc}") from exc
    if not info.supports_transaction:
        raise ConfigError(
            f"the FHIR server at {where} does not declare the "
            "'transaction' interaction (CapabilityStatement.rest.interaction); "
            "fhir-ivc push sends one transaction per case"
        )
    return info


async def _pump(
    client: AsyncFhirClient, works: Iterator[Work], run: _PushRun, concurrency: int
) -> None:
    """Feed the cases to ``concurrency`` workers through a channel of ``concurrency`` slots."""
    send, receive = anyio.create_memory_object_stream[Item](max_buffer_size=concurrency)

    async def worker(channel: ObjectReceiveStream[Item]) -> None:
        async with channel:
            async for item in channel:
                # push_many of one case: its isolation turns every error into a failed result
                (result,) = await push_many(
                    client, [(item.case_id, item.bundle, item.sources)], concurrency=1
                )
                run.pushed(item, result)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker, receive.clone())
            receive.close()
            async with send:
                for work in works:  # reading and mapping run here, one case at a time
                    if isinstance(work, Item):
                        await send.send(work)
                    elif isinstance(work, Reject):
                        run.reject(work)
                    else:
                        run.skipped += 1
    except BaseExceptionGroup as group:  # a writer failed (disk full …): raise the first cause
        first: BaseException = group
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from group


# --- the command ------------------------------------------------------------------------------


def push_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path],
        typer.Argument(
            show_default=False,
            metavar="INPUT",
            help="Case files (as for 'map'), or with --prebuilt transaction bundles "
            "(.json: one Bundle or an array; .ndjson: one per line). '-' reads NDJSON from "
            "standard input.",
        ),
    ],
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="FHIR_IVC_SERVER",
            metavar="URL",
            help="FHIR R4 base URL, e.g. http://127.0.0.1:8080/fhir. Not needed with --dry-run.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-j", min=1, max=64, help="Transactions in flight at a time."
        ),
    ] = 4,
    prebuilt: Annotated[
        bool,
        typer.Option("--prebuilt", help="INPUT holds transaction bundles, not case records."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Map and validate, list what would be sent (stdout); no network at all.",
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            dir_okay=False,
            metavar="FILE",
            help="Write a JSON report: every case and every entry with its outcome.",
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            dir_okay=False,
            metavar="FILE",
            help="NDJSON file of rejected records (as 'map' writes). "
            "Default: <report>.rejects.ndjson next to --report; none without --report.",
            show_default=False,
        ),
    ] = None,
    auth_token_env: AuthTokenEnv = None,
    auth_token_file: AuthTokenFile = None,
    basic_auth_file: BasicAuthFile = None,
    timeout: Timeout = 60.0,
    insecure: Insecure = False,
    ids: IdsOption = Ids.CONDITIONAL,
    max_record_bytes: MaxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
    max_depth: MaxDepth = DEFAULT_MAX_DEPTH,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate/--no-validate",
            help="Check each bundle before sending it; a case whose bundle fails is rejected.",
        ),
    ] = True,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="With --dry-run: list every entry's conditional URL; otherwise one log line "
            "per case.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress, table or summary (REJECT/FAIL lines stay)."
        ),
    ] = False,
    bulk: BulkFlag = False,
    max_poll_wait: MaxPollWait = 5.0,
) -> None:
    """Push cases to a FHIR R4 server: one transaction of conditional PUTs per case.

    Re-running is safe: unchanged resources are reported 'unchanged', nothing is duplicated.
    Exit codes: 0 all ok, 1 some cases rejected or failed, 2 the run could not be done.
    """
    started = time.perf_counter()
    if bulk:  # docs/bulk.md; the run lives in _push_bulk
        secrets = (auth_token_env, auth_token_file, basic_auth_file)
        flags = (concurrency, report, timeout, insecure, max_poll_wait, verbose, quiet)
        push_bulk(services(ctx), inputs, PushBulkOptions(server, secrets, *flags))
        return
    check_inputs(inputs, tables=not prebuilt)  # case tables hold cases, not bundles
    if server is None and not dry_run:
        raise typer.BadParameter("the FHIR server's base URL is required", param_hint="'--server'")
    if rejects is None and report is not None:
        rejects = report.with_name(f"{report.stem}.rejects.ndjson")
    if report is not None and rejects is not None and report.resolve() == rejects.resolve():
        raise typer.BadParameter("must differ from --report", param_hint="'--rejects'")
    output = Reporter(
        quiet=quiet, doing="pushing", unit="cases", progress=None if not dry_run else False
    )
    if insecure:
        output.line(
            "fhir-ivc: warning: --insecure: TLS certificates are NOT verified; anyone on the "
            "network path can read and change what is sent, credentials included"
        )
    with exit_on_error():
        auth = auth_from(auth_token_env, auth_token_file, basic_auth_file)
        if auth is not None:
            output.info(f"fhir-ivc: credentials from {auth.source}")  # the source, never the value
        use = services(ctx)
        works = Works(use.check_bundle if validate else None)
        limits = limits_from(max_record_bytes, max_depth)
        stream = (
            prebuilt_works(inputs, works, limits)
            if prebuilt
            else mapped_works(inputs, works, use.builder(ids), limits)
        )
        header: dict[str, Any] = {
            "tool": f"fhir-ivc {__version__}",
            "server": public_url(server) if server else None,
            "dry_run": dry_run,
            "prebuilt": prebuilt,
            "concurrency": concurrency,
            "ids": ids.value,
            "started": _now(),
        }
        if dry_run:
            run = _dry_run(stream, output, header, report, rejects, verbose=verbose)
        else:
            with _client_logs(output, verbose=verbose):  # first: the client warns when built
                client = use.async_fhir_client(
                    str(server), auth=auth, timeout=timeout, verify=not insecure
                )
                run = anyio.run(
                    _push, client, stream, output, header, report, rejects, concurrency, ids
                )
        code = ExitCode.SOME_FAILED if run.failed or run.rejected else ExitCode.OK
        _finish(run, output, started, server, report, rejects, dry_run=dry_run)
    if code is not ExitCode.OK:
        raise CliExit(code)


@contextlib.contextmanager
def _writers(
    header: Mapping[str, Any], report: Path | None, rejects: Path | None
) -> Iterator[tuple[JsonReportWriter | None, RejectsWriter | None]]:
    with contextlib.ExitStack() as stack:
        report_writer = (
            stack.enter_context(JsonReportWriter(report, header)) if report is not None else None
        )
        rejects_writer = stack.enter_context(RejectsWriter(rejects)) if rejects else None
        yield report_writer, rejects_writer


def _dry_run(
    stream: Iterator[Work],
    output: Reporter,
    header: Mapping[str, Any],
    report: Path | None,
    rejects: Path | None,
    *,
    verbose: bool,
) -> _PushRun:
    with _writers(header, report, rejects) as (report_writer, rejects_writer):
        run = _PushRun(output, report_writer, rejects_writer)
        for work in stream:
            if isinstance(work, Item):
                run.planned(work, plan_entries(work.bundle, work.sources), verbose=verbose)
            elif isinstance(work, Reject):
                run.reject(work)
            else:
                run.skipped += 1
        _close_report(run, report_writer)
    return run


async def _push(
    client: AsyncFhirClient,
    stream: Iterator[Work],
    output: Reporter,
    header: dict[str, Any],
    report: Path | None,
    rejects: Path | None,
    concurrency: int,
    ids: Ids = Ids.CONDITIONAL,
) -> _PushRun:
    async with client:
        info = await _check_server(client)
        if ids is Ids.LOGICAL and info.no_update_create:
            refused = ", ".join(sorted(info.no_update_create))
            raise ConfigError(f"{CLIENT_IDS_REFUSED} (CapabilityStatement: {refused})")
        header = {**header, "fhir_version": info.fhir_version, "software": info.software}
        output.info(
            f"fhir-ivc: pushing to {public_url(client.base_url)} "
            f"(FHIR {info.fhir_version}{', ' + info.software if info.software else ''}), "
            f"{concurrency} at a time"
        )
        with _writers(header, report, rejects) as (report_writer, rejects_writer), output:
            run = _PushRun(output, report_writer, rejects_writer)
            await _pump(client, stream, run, concurrency)
            _close_report(run, report_writer)
    return run


def _close_report(run: _PushRun, writer: JsonReportWriter | None) -> None:
    if writer is None:
        return
    code = ExitCode.SOME_FAILED if run.failed or run.rejected else ExitCode.OK
    writer.finish({**run.summary(), "finished": _now(), "exit_code": int(code)})


def _finish(
    run: _PushRun,
    output: Reporter,
    started: float,
    server: str | None,
    report: Path | None,
    rejects: Path | None,
    *,
    dry_run: bool,
) -> None:
    elapsed = time.perf_counter() - started
    files = []
    if report is not None:
        files.append(f"report in {report}")
    if rejects is not None and run.rejected:
        files.append(f"rejects in {rejects}")
    tail = "".join(f"; {f}" for f in files)
    skipped = f", skipped {run.skipped} collection bundles" if run.skipped else ""
    if dry_run:
        output.info(
            f"dry run: {run.ok} {'case' if run.ok == 1 else 'cases'} would be pushed "
            f"({_entries(run.planned_entries)}), rejected {run.rejected}{skipped}; "
            f"nothing was sent{tail}"
        )
        return
    see = f"; every case is in {report}" if report is not None else " (--report FILE lists all)"
    table = run.table()
    if table is not None and not output.quiet:
        output.show(table)
        listed = len(run.rows)
        if run.cases > listed:
            output.info(f"({run.cases - listed} more cases that were ok are not listed{see})")
    for _, line in sorted(run.failures):
        output.line(line)
    if run.client_ids_refused:
        output.line(f"fhir-ivc: {CLIENT_IDS_REFUSED}")
    if run.failed > len(run.failures):
        output.line(f"… and {run.failed - len(run.failures)} more failed cases{see}")
    entries = ", ".join(f"{run.entries[o]} {o}" for o in OUTCOMES)
    output.info(
        f"pushed to {public_url(server or '')} in {elapsed:.2f} s: {run.ok} ok, "
        f"{run.failed} failed, {run.rejected} rejected{skipped}; entries: {entries}{tail}"
    )
