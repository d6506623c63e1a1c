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
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Final, Self

import anyio
import orjson
import typer
from anyio.abc import ObjectReceiveStream
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from fhir_ivc import __version__
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
from fhir_ivc.cli._output import reject_line
from fhir_ivc.client import (
    OUTCOMES,
    AsyncFhirClient,
    CapabilityInfo,
    CasePushResult,
    Outcome,
)
from fhir_ivc.client.push import PlannedEntry, plan_entries
from fhir_ivc.client.report import (
    JsonReportWriter,
    planned_record,
    public_url,
    rejected_record,
    result_record,
)
from fhir_ivc.exceptions import ConfigError, MappingError, RequestError
from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.io import EXTENSIONS, STDIN, InputFormat, RejectsWriter, iter_inputs

if TYPE_CHECKING:
    from fhir_ivc.cli._app import BundleCheck

__all__ = ["client_options", "push_command"]

#: Extra keyword arguments for :class:`AsyncFhirClient` (``transport=``, ``sleep=``,
#: ``retry=``): the tests put a mock transport here; empty in normal use.
client_options: dict[str, Any] = {}

#: Cases listed one by one in the final table; larger runs list only the cases that were not ok.
TABLE_ROWS: Final = 50
#: Failure lines printed at the end; the report file has all of them.
MAX_FAILURES_SHOWN: Final = 100

_LOGGER = "fhir_ivc.client"


# --- units of work ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One case ready to push: its transaction Bundle and the case element of each entry."""

    index: int
    case_id: str
    source: str
    bundle: Mapping[str, Any]
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Reject:
    """A record that is not sent: ``problems`` are ``(case path, reason)``."""

    index: int
    case_id: str | None
    source: str
    problems: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Skip:
    """A prebuilt collection Bundle (``map`` writes one next to each transaction): not sent."""

    source: str


_Work = _Item | _Reject | _Skip


class _Works:
    """Numbers records, refuses repeated case ids and checks bundles, for both input kinds."""

    def __init__(self, check: BundleCheck | None) -> None:
        self.check = check
        self._index = 0
        self._seen: set[str] = set()

    def _next(self) -> int:
        self._index += 1
        return self._index - 1

    def reject(
        self, case_id: str | None, source: str, problems: Iterable[tuple[str, str]]
    ) -> _Reject:
        return _Reject(self._next(), case_id, source, tuple(problems))

    def item(
        self, case_id: str, source: str, bundle: Mapping[str, Any], sources: Mapping[str, str]
    ) -> _Item | _Reject:
        if case_id in self._seen:
            reason = "duplicate case_id: an earlier record has the same id"
            return self.reject(case_id, source, [("case_id", reason)])
        self._seen.add(case_id)
        if self.check is not None:
            issues = self.check(bundle)
            if issues:
                more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
                path = _entry_source(bundle, sources, issues[0])
                reason = f"transaction bundle is invalid: {issues[0]}{more}"
                return self.reject(case_id, source, [(path, reason)])
        return _Item(self._next(), case_id, source, bundle, sources)


def _entry_source(bundle: Mapping[str, Any], sources: Mapping[str, str], issue: str) -> str:
    """The case element behind the entry that ``issue`` names (``Bundle.entry[3]…``), else ""."""
    prefix = "Bundle.entry["
    if not issue.startswith(prefix):
        return ""
    digits = issue[len(prefix) :].split("]", 1)[0]
    entries = bundle.get("entry")
    if not digits.isdigit() or not isinstance(entries, list) or int(digits) >= len(entries):
        return ""
    entry = entries[int(digits)]
    full_url = entry.get("fullUrl") if isinstance(entry, Mapping) else None
    return sources.get(full_url, "") if isinstance(full_url, str) else ""


def _mapped_works(
    inputs: Sequence[Path], works: _Works, ids: Ids = Ids.CONDITIONAL
) -> Iterator[_Work]:
    """Case records → transaction bundles (``fhir_ivc.bundle.build_bundles``), one at a time."""
    from fhir_ivc.cli._app import _bundle_builder  # late: _app imports this module

    build = _bundle_builder(ids)
    for result in iter_inputs(inputs):
        source = str(result.source)
        if result.case is None:
            yield works.reject(
                result.case_id, source, [(err.path, err.reason) for err in result.errors]
            )
            continue
        case = result.case
        try:
            bundles = build(case)
        except MappingError as exc:
            yield works.reject(exc.case_id or case.case_id, source, [(exc.path, str(exc))])
            continue
        sources = getattr(bundles, "sources", None)
        yield works.item(
            case.case_id,
            source,
            bundles.transaction,
            dict(sources) if isinstance(sources, Mapping) else {},
        )


# --- prebuilt bundles -------------------------------------------------------------------------


class _Broken:
    """An NDJSON line or file that does not parse."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


_SNIFF_BYTES: Final = 64 * 1024


def _bundle_values(path: Path) -> Iterator[tuple[str, Any]]:
    """``(source, JSON value)`` of each bundle in one file: NDJSON line by line, JSON whole.

    ``.ndjson``/``.jsonl`` and ``-`` are NDJSON; ``.json`` is one Bundle or an array of Bundles
    (read whole: use NDJSON for large inputs); other names are sniffed like case files.
    """
    name = str(path)
    if name == STDIN:
        yield from _ndjson_values(sys.stdin.buffer, "<stdin>")
        return
    fmt = EXTENSIONS.get(path.suffix.lower())
    with open(path, "rb") as file:
        if fmt is None or fmt is InputFormat.YAML:
            head = file.peek(_SNIFF_BYTES)[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
            first, newline, _ = head.partition(b"\n")
            fmt = InputFormat.JSON
            if head.startswith(b"{") and newline:
                with contextlib.suppress(orjson.JSONDecodeError):
                    orjson.loads(first)
                    fmt = InputFormat.NDJSON
        if fmt is InputFormat.NDJSON:
            yield from _ndjson_values(file, name)
            return
        data = file.read().removeprefix(b"\xef\xbb\xbf")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield f"{name}:{exc.lineno}:{exc.colno}", _Broken(f"broken JSON: {exc.msg}")
        return
    if isinstance(value, list):
        for i, element in enumerate(value):
            yield f"{name}[{i}]", element
    else:
        yield f"{name}:1", value


def _ndjson_values(stream: Iterable[bytes], name: str) -> Iterator[tuple[str, Any]]:
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield f"{name}:{lineno}", orjson.loads(line.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as exc:
            yield f"{name}:{lineno}:{exc.colno}", _Broken(f"broken JSON: {exc.msg}")


def _case_element_sources(bundle: Mapping[str, Any]) -> dict[str, str]:
    """fullUrl → case element, from the ``case-element`` extension every mapped resource has."""
    sources: dict[str, str] = {}
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        resource, full_url = entry.get("resource"), entry.get("fullUrl")
        if not isinstance(resource, Mapping) or not isinstance(full_url, str):
            continue
        for ext in resource.get("extension") or []:
            if not isinstance(ext, Mapping) or ext.get("url") != CASE_ELEMENT_URL:
                continue
            for part in ext.get("extension") or []:
                if isinstance(part, Mapping) and part.get("url") == "path":
                    path = part.get("valueString")
                    if isinstance(path, str):
                        sources[full_url] = path
    return sources


def _bundle_case_id(bundle: Mapping[str, Any], source: str) -> str:
    """The case id of a prebuilt bundle: its Patient's identifier value (the case id)."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and resource.get("resourceType") == "Patient":
            for identifier in resource.get("identifier") or []:
                value = identifier.get("value") if isinstance(identifier, Mapping) else None
                if isinstance(value, str) and value:
                    return value
    return source


def _prebuilt_works(inputs: Sequence[Path], works: _Works) -> Iterator[_Work]:
    """Transaction bundles from files (``fhir-ivc map --ndjson`` / ``--out`` output)."""
    for path in inputs:
        for source, value in _bundle_values(path):
            if isinstance(value, _Broken):
                yield works.reject(None, source, [("", value.reason)])
                continue
            kind = value.get("type") if isinstance(value, dict) else None
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                if kind == "collection":
                    yield _Skip(source)
                    continue
                if kind == "transaction":
                    case_id = _bundle_case_id(value, source)
                    yield works.item(case_id, source, value, _case_element_sources(value))
                    continue
            what = f"a {kind} Bundle" if kind else "not a Bundle"
            yield works.reject(None, source, [("", f"expected a transaction Bundle, got {what}")])


# --- output -----------------------------------------------------------------------------------


class _Output:
    """stderr: progress (terminal only), REJECT/FAIL lines, log records, the table, the summary.

    Standard output carries only the dry-run listing.
    """

    def __init__(self, *, quiet: bool, progress: bool) -> None:
        self.quiet = quiet
        self.console = Console(
            stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True
        )
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if progress and not quiet and sys.stderr.isatty():
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed} cases"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("pushing", total=None, detail="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, detail: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, detail=detail)

    def line(self, text: str) -> None:
        """A line that is always shown (REJECT, FAIL, warnings)."""
        self.console.print(text)

    def info(self, text: str) -> None:
        """A line hidden by ``--quiet``."""
        if not self.quiet:
            self.console.print(text)


class _LogHandler(logging.Handler):
    """``fhir_ivc.client`` records (retries, refused credentials …) as ``fhir-ivc: …`` lines.

    The push engine's own one-line-per-case records are dropped unless ``--verbose``: the
    command prints every failed case itself, with its reason.
    """

    def __init__(self, output: _Output, *, verbose: bool) -> None:
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
def _client_logs(output: _Output, *, verbose: bool) -> Iterator[None]:
    logger = logging.getLogger(_LOGGER)
    handler = _LogHandler(output, verbose=verbose)
    level = logger.level
    logger.addHandler(handler)
    if verbose and (level == logging.NOTSET or level > logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


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

    output: _Output
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

    def reject(self, work: _Reject) -> None:
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

    def pushed(self, item: _Item, result: CasePushResult) -> None:
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

    def planned(self, item: _Item, planned: Sequence[PlannedEntry], *, verbose: bool) -> None:
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
    client: AsyncFhirClient, works: Iterator[_Work], run: _PushRun, concurrency: int
) -> None:
    """Feed the cases to ``concurrency`` workers through a channel of ``concurrency`` slots."""
    send, receive = anyio.create_memory_object_stream[_Item](max_buffer_size=concurrency)

    async def worker(channel: ObjectReceiveStream[_Item]) -> None:
        async with channel:
            async for item in channel:
                # push_many of one case: its isolation turns every error into a failed result
                (result,) = await client.push_many(
                    [(item.case_id, item.bundle, item.sources)], concurrency=1
                )
                run.pushed(item, result)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker, receive.clone())
            receive.close()
            async with send:
                for work in works:  # reading and mapping run here, one case at a time
                    if isinstance(work, _Item):
                        await send.send(work)
                    elif isinstance(work, _Reject):
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
) -> None:
    """Push cases to a FHIR R4 server: one transaction of conditional PUTs per case.

    Re-running is safe: unchanged resources are reported 'unchanged', nothing is duplicated.
    Exit codes: 0 all ok, 1 some cases rejected or failed, 2 the run could not be done.
    """
    from fhir_ivc.cli._app import _bundle_check  # late: _app imports this module

    started = time.perf_counter()
    check_inputs(inputs)
    if server is None and not dry_run:
        raise typer.BadParameter("the FHIR server's base URL is required", param_hint="'--server'")
    if rejects is None and report is not None:
        rejects = report.with_name(f"{report.stem}.rejects.ndjson")
    if report is not None and rejects is not None and report.resolve() == rejects.resolve():
        raise typer.BadParameter("must differ from --report", param_hint="'--rejects'")
    output = _Output(quiet=quiet, progress=not dry_run)
    if insecure:
        output.line(
            "fhir-ivc: warning: --insecure: TLS certificates are NOT verified; anyone on the "
            "network path can read and change what is sent, credentials included"
        )
    with exit_on_error():
        auth = auth_from(auth_token_env, auth_token_file, basic_auth_file)
        if auth is not None:
            output.info(f"fhir-ivc: credentials from {auth.source}")  # the source, never the value
        works = _Works(_bundle_check() if validate else None)
        stream = _prebuilt_works(inputs, works) if prebuilt else _mapped_works(inputs, works, ids)
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
                client = AsyncFhirClient(
                    str(server), auth=auth, timeout=timeout, verify=not insecure, **client_options
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
    stream: Iterator[_Work],
    output: _Output,
    header: Mapping[str, Any],
    report: Path | None,
    rejects: Path | None,
    *,
    verbose: bool,
) -> _PushRun:
    with _writers(header, report, rejects) as (report_writer, rejects_writer):
        run = _PushRun(output, report_writer, rejects_writer)
        for work in stream:
            if isinstance(work, _Item):
                run.planned(work, plan_entries(work.bundle, work.sources), verbose=verbose)
            elif isinstance(work, _Reject):
                run.reject(work)
            else:
                run.skipped += 1
        _close_report(run, report_writer)
    return run


async def _push(
    client: AsyncFhirClient,
    stream: Iterator[_Work],
    output: _Output,
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
    output: _Output,
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
        output.console.print(table)
        listed = len(run.rows)
        if run.cases > listed:
            output.console.print(
                f"({run.cases - listed} more cases that were ok are not listed{see})"
            )
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
