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
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from anyio.abc import ObjectReceiveStream

from fhir_ivc._version import __version__
from fhir_ivc.bulk.ids import CLIENT_IDS_REFUSED
from fhir_ivc.cli._connection import DEFAULT_CONNECTION, Connection, with_connection
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error
from fhir_ivc.cli._ids import Ids, IdsOption
from fhir_ivc.cli._inputs import check_inputs
from fhir_ivc.cli._limits import DEFAULT_RECORD_LIMITS, RecordLimits
from fhir_ivc.cli._options import file_option, input_argument, server_option, with_options
from fhir_ivc.cli._output import Reporter, now, plural
from fhir_ivc.cli._push_bulk import BulkFlag, MaxPollWait, PushBulkOptions, push_bulk
from fhir_ivc.cli._push_feed import Feed, check_feed_options, open_feed
from fhir_ivc.cli._push_input import Item, Reject, Work, Works, mapped_works, prebuilt_works
from fhir_ivc.cli._push_options import (
    CorrectionsMode,
    CorrectionsOption,
    DeadLettersOption,
    MaxEntriesOption,
    ReplayOption,
    StateOption,
)
from fhir_ivc.cli._push_replay import replay_works
from fhir_ivc.cli._push_run import PushRun, client_logs
from fhir_ivc.cli._services import services
from fhir_ivc.client import AsyncFhirClient, CapabilityInfo
from fhir_ivc.client.smart import DEFAULT_PUSH_SCOPE
from fhir_ivc.exceptions import AuthError
from fhir_ivc.exchange import OUTCOMES
from fhir_ivc.exchange.pipeline import check_push_server, unusable_server
from fhir_ivc.exchange.push import plan_entries
from fhir_ivc.exchange.report import (
    JsonReportWriter,
    public_url,
)
from fhir_ivc.io import RejectsWriter

__all__ = ["push_command"]


# --- the server -------------------------------------------------------------------------------


async def _check_server(client: AsyncFhirClient, ids: Ids) -> CapabilityInfo:
    """``GET /metadata``: FHIR 4.0.x, the transaction interaction and, for ``--ids logical``,
    no refused ``updateCreate``; else ConfigError (exit 2).

    Raised as exceptions, not ``CliExit``: a ``SystemExit`` must not cross the event loop.
    """
    where = public_url(client.base_url)
    with unusable_server(where):
        info = await client.capabilities()
    check_push_server(info, where, ids=ids.value, pusher="fhir-ivc push")
    return info


async def _pump(
    client: AsyncFhirClient,
    works: Iterator[Work],
    run: PushRun,
    concurrency: int,
    feed: Feed,
) -> None:
    """Feed the cases to ``concurrency`` workers through a channel of ``concurrency`` slots.

    A case ``--state`` holds as confirmed with this very bundle is counted, never queued.
    """
    send, receive = anyio.create_memory_object_stream[Item](max_buffer_size=concurrency)

    async def worker(channel: ObjectReceiveStream[Item]) -> None:
        async with channel:
            async for item in channel:
                result = await feed.push(client, item)  # every error is a failed result
                # an auth error every case would meet (SMART): one error for the run
                if isinstance(result.exception, AuthError) and result.exception.ends_run:
                    raise result.exception
                feed.finished(item, result)
                run.pushed(item, result)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker, receive.clone())
            receive.close()
            async with send:
                for work in works:  # reading and mapping run here, one case at a time
                    if isinstance(work, Item) and feed.confirmed(work):
                        run.already(work)
                    elif isinstance(work, Item):
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


@with_options("record_limits", RecordLimits)
@with_connection(max_pages=False)
def push_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path] | None,
        input_argument(
            "INPUT",
            "Case files (as for 'map'), or with --prebuilt transaction bundles "
            "(.json: one Bundle or an array; .ndjson: one per line). '-' reads NDJSON from "
            "standard input. None with --replay.",
        ),
    ] = None,
    server: Annotated[str | None, server_option("Not needed with --dry-run.")] = None,
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
        file_option(
            "--report", help="Write a JSON report: every case and every entry with its outcome."
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        file_option(
            "--rejects",
            help="NDJSON file of rejected records (as 'map' writes). "
            "Default: <report>.rejects.ndjson next to --report; none without --report.",
            show_default=False,
        ),
    ] = None,
    connection: Connection = DEFAULT_CONNECTION,
    ids: IdsOption = Ids.CONDITIONAL,
    corrections: CorrectionsOption = CorrectionsMode.DELETE,
    state: StateOption = None,
    dead_letters: DeadLettersOption = None,
    replay: ReplayOption = None,
    max_entries: MaxEntriesOption = None,
    record_limits: RecordLimits = DEFAULT_RECORD_LIMITS,
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
    inputs = inputs or []
    if bulk:  # docs/bulk.md; the run lives in _push_bulk
        flags = (concurrency, report, max_poll_wait, verbose, quiet)
        push_bulk(services(ctx), inputs, PushBulkOptions(server, connection, *flags))
        return
    check_feed_options(
        inputs, dry_run=dry_run, state=state, dead_letters=dead_letters, replay=replay
    )
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
    connection.warn(output, "sent")
    with exit_on_error(), contextlib.ExitStack() as stack:
        auth = connection.credentials(server, DEFAULT_PUSH_SCOPE, say=output.info)
        use = services(ctx)
        works = Works(use.check_bundle if validate else None)
        limits = record_limits.input_limits
        feed = stack.enter_context(
            open_feed(
                corrections=corrections.value,
                server=server,
                state=state,
                dead_letters=dead_letters,
                replay=replay,
                commit=not dry_run,
                max_entries=max_entries,
            )
        )
        if replay is not None and feed.dead_letters is not None:
            stream = replay_works(replay, works, use.builder(ids), feed.dead_letters)
        elif prebuilt:
            stream = prebuilt_works(inputs, works, limits)
        else:
            stream = mapped_works(inputs, works, use.builder(ids), limits)
        header: dict[str, Any] = {
            "tool": f"fhir-ivc {__version__}",
            "server": public_url(server) if server else None,
            "dry_run": dry_run,
            "prebuilt": prebuilt,
            "concurrency": concurrency,
            "ids": ids.value,
            "corrections": corrections.value,
            "started": now(),
        }
        if dry_run:
            run = _dry_run(stream, output, header, report, rejects, verbose=verbose)
        else:
            with client_logs(output, verbose=verbose):  # first: the client warns when built
                client = connection.client(use.async_fhir_client, str(server), auth)
                run = anyio.run(
                    _push, client, stream, output, header, report, rejects, concurrency, ids, feed
                )
        code = ExitCode.SOME_FAILED if run.failed or run.rejected else ExitCode.OK
        _finish(run, output, started, server, report, rejects, dry_run=dry_run)
        if feed.dead_letters is not None and not dry_run:
            kept = feed.dead_letters.count
            output.info(f"fhir-ivc: {kept} dead letters in {feed.dead_letters.path}")
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
) -> PushRun:
    with _writers(header, report, rejects) as (report_writer, rejects_writer):
        run = PushRun(output, report_writer, rejects_writer)
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
    ids: Ids,
    feed: Feed,
) -> PushRun:
    async with client:
        info = await _check_server(client, ids)
        header = {**header, "fhir_version": info.fhir_version, "software": info.software}
        output.info(
            f"fhir-ivc: pushing to {public_url(client.base_url)} "
            f"(FHIR {info.fhir_version}{', ' + info.software if info.software else ''}), "
            f"{concurrency} at a time"
        )
        with _writers(header, report, rejects) as (report_writer, rejects_writer), output:
            run = PushRun(output, report_writer, rejects_writer)
            await _pump(client, stream, run, concurrency, feed)
            run.requests = 1 + feed.requests  # and GET /metadata
            _close_report(run, report_writer)
    return run


def _close_report(run: PushRun, writer: JsonReportWriter | None) -> None:
    if writer is None:
        return
    code = ExitCode.SOME_FAILED if run.failed or run.rejected else ExitCode.OK
    writer.finish({**run.summary(), "finished": now(), "exit_code": int(code)})


def _finish(
    run: PushRun,
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
    if run.confirmed:
        skipped += f", {run.confirmed} already confirmed (--state, not sent)"
    if dry_run:
        entries = plural(run.planned_entries, "entry", "entries")
        output.info(
            f"dry run: {plural(run.ok, 'case')} would be pushed "
            f"({entries}), rejected {run.rejected}{skipped}; "
            f"nothing was sent{tail}"
        )
        return
    see = f"; every case is in {report}" if report is not None else " (--report FILE lists all)"
    output.rows(run.rows, run.cases, see)
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
