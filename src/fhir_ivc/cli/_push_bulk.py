"""``fhir-ivc push --bulk DIR``: load a Bulk Data folder (``map --bulk``) into a FHIR server.

With ``$import`` in the server's CapabilityStatement: regroup the folder into parts of whole
cases (:func:`fhir_ivc.bulk.imports.write_parts`, in a temporary folder), serve them from a
loopback endpoint that lives only for the run (:class:`fhir_ivc.bulk.serve.FileServer`), kick
off ``$import``, poll it (Retry-After honoured, capped by ``--max-poll-wait``) and report per
resource type and per case. Without ``$import``: one clear line, then one transaction of
``PUT Type/id`` per case, read from the folder case by case (at most 100 cases in memory).
Either way a re-run leaves the server as it was (upserts by logical id).

Exit codes: 0 every case stored; 1 some cases failed (or the job failed and cannot say which);
2 the run could not be done (options, folder, server unreachable, not FHIR R4).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import typer
from rich.table import Table

from fhir_ivc._version import __version__
from fhir_ivc.bulk.imports import (
    CaseImport,
    ImportResult,
    case_results,
    offers_import,
    run_import,
    write_parts,
)
from fhir_ivc.bulk.ndjson import BulkCase, BulkManifest, iter_case_resources, read_manifest
from fhir_ivc.bulk.serve import FileServer
from fhir_ivc.cli._connection import Connection, Credentials
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error
from fhir_ivc.cli._output import CaseRows, Reporter, now
from fhir_ivc.cli._services import Services
from fhir_ivc.client import AsyncFhirClient, CapabilityInfo
from fhir_ivc.client.smart import DEFAULT_PUSH_SCOPE
from fhir_ivc.exceptions import ConfigError
from fhir_ivc.exchange import OUTCOMES, CasePushResult, PushItem, push_many
from fhir_ivc.exchange.report import JsonReportWriter, public_url

__all__ = ["BulkFlag", "MaxPollWait", "PushBulkOptions", "push_bulk"]

#: cases held at a time by the transaction fallback
WINDOW: Final = 100

BulkFlag = Annotated[
    bool,
    typer.Option(
        "--bulk",
        help="INPUT is a Bulk Data folder ('map --bulk'): load it with the server's $import "
        "(served from 127.0.0.1 during the run), or one transaction per case when the server "
        "offers no $import. See docs/bulk.md.",
    ),
]
MaxPollWait = Annotated[
    float,
    typer.Option(
        "--max-poll-wait",
        min=0.05,
        metavar="S",
        help="With --bulk: longest wait between two polls of the job (Retry-After is honoured "
        "up to this).",
    ),
]


@dataclass(frozen=True)
class PushBulkOptions:
    """What ``push --bulk`` takes from ``push``'s options."""

    server: str | None
    connection: Connection
    concurrency: int = 4
    report: Path | None = None
    max_poll_wait: float = 5.0
    verbose: bool = False
    quiet: bool = False


@dataclass
class _Cases:
    """Per-case results as they come: counts, a bounded table, the failure lines."""

    output: Reporter
    report: JsonReportWriter | None
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    rows: CaseRows = field(
        default_factory=lambda: CaseRows(("case", "resources", "result"), quiet={"ok"})
    )
    failures: list[str] = field(default_factory=list)

    def add(self, case: BulkCase, status: str, detail: str, error: str | None = None) -> None:
        if status == "ok":
            self.ok += 1
        elif status == "unknown":
            self.unknown += 1
        else:
            self.failed += 1
            if len(self.failures) < 100:
                self.failures.append(f"FAIL {case.case_id}: {error or status}")
        if self.report is not None:
            self.report.add(
                {
                    "index": case.index,
                    "case_id": case.case_id,
                    "status": status,
                    "resources": case.counts(),
                    "error": error,
                }
            )
        total = self.ok + self.failed + self.unknown
        self.rows.add(total, case.index, status, [case.case_id, detail, status])

    def show(self, see: str) -> None:
        self.output.rows(self.rows, self.ok + self.failed + self.unknown, see)
        for line in self.failures:
            self.output.line(line)


@dataclass(frozen=True)
class _Target:
    """Where a ``push --bulk`` run loads the folder, with what, and where it tells."""

    server: str
    auth: Credentials | None
    options: PushBulkOptions
    output: Reporter
    cases: _Cases


def _detail(case: BulkCase) -> str:
    return str(sum(case.counts().values()))


def _folder(inputs: Sequence[Path]) -> BulkManifest:
    if len(inputs) != 1 or not inputs[0].is_dir():
        raise typer.BadParameter(
            "with --bulk, give one folder written by 'fhir-ivc map --bulk'", param_hint="INPUT"
        )
    try:
        return read_manifest(inputs[0])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="INPUT") from exc


def push_bulk(use: Services, inputs: Sequence[Path], options: PushBulkOptions) -> None:
    """The ``push --bulk`` run (see the module docstring)."""
    started = time.perf_counter()
    manifest = _folder(inputs)
    if options.server is None:
        raise typer.BadParameter("the FHIR server's base URL is required", param_hint="'--server'")
    output = Reporter(quiet=options.quiet, doing="importing", unit="cases", progress=False)
    connection = options.connection
    connection.warn(output, "sent")
    with exit_on_error():
        server = options.server
        auth = connection.credentials(server, DEFAULT_PUSH_SCOPE, say=output.info)
        with connection.client(use.fhir_client, server, auth) as fhir:
            info = fhir.capabilities()
        header = {
            "tool": f"fhir-ivc {__version__}",
            "server": public_url(server),
            "bulk": str(manifest.root),
            "fhir_version": info.fhir_version,
            "started": now(),
        }
        where = public_url(server)
        with contextlib.ExitStack() as stack:
            report = (
                stack.enter_context(JsonReportWriter(options.report, header))
                if options.report is not None
                else None
            )
            cases = _Cases(output, report)
            target = _Target(server, auth, options, output, cases)
            if offers_import(info):
                summary = _import(manifest, target)
            else:
                summary = _transactions(use, manifest, info, target)
            if report is not None:
                code = ExitCode.OK if not (cases.failed or cases.unknown) else ExitCode.SOME_FAILED
                report.finish(
                    {
                        **summary,
                        "cases": cases.ok + cases.failed + cases.unknown,
                        "ok": cases.ok,
                        "failed": cases.failed,
                        "unknown": cases.unknown,
                        "finished": now(),
                        "exit_code": int(code),
                    }
                )
        see = f"; every case is in {options.report}" if options.report else ""
        cases.show(see)
        elapsed = time.perf_counter() - started
        how = summary["method"]
        totals = ", ".join(f"{summary['entries'][o]} {o}" for o in OUTCOMES)
        unknown = f", {cases.unknown} unknown" if cases.unknown else ""
        output.info(
            f"pushed {manifest.resources} resources of {manifest.cases} cases to {where} "
            f"with {how} in {elapsed:.2f} s: {cases.ok} ok, {cases.failed} failed{unknown}; "
            f"entries: {totals}" + (f"; report in {options.report}" if options.report else "")
        )
    if cases.failed or cases.unknown:
        raise CliExit(ExitCode.SOME_FAILED)


# --- $import ------------------------------------------------------------------------------------


def _import(manifest: BulkManifest, target: _Target) -> dict[str, Any]:
    server, options, output = target.server, target.options, target.output
    with tempfile.TemporaryDirectory(prefix="fhir-ivc-import-") as tmp:
        parts = write_parts(manifest, Path(tmp))
        files = {p.name: p.path for p in parts}
        http = options.connection.bulk_http(server, target.auth, options.max_poll_wait)
        with FileServer(files) as served, http:
            output.info(
                f"fhir-ivc: $import of {manifest.resources} resources ({manifest.cases} cases, "
                f"{len(parts)} parts of whole cases) into {public_url(server)}; the server "
                f"fetches them from {served.base.rsplit('/', 2)[0]}/… during the run"
            )

            def progress(text: str, wait: float) -> None:
                if options.verbose:
                    output.line(f"fhir-ivc: job: {text} (next poll in {wait:.1f} s)")

            result = run_import(
                http,
                manifest,
                parts,
                {name: served.url(name) for name in files},
                served.base,
                on_started=lambda url: output.info(f"fhir-ivc: job status: {url}"),
                on_progress=progress,
            )
    _types(result, output)
    for item in case_results(manifest, result):
        _case(item, target.cases)
    if result.failed:
        output.line(f"fhir-ivc: the import job reported errors: {result.message or 'see above'}")
    return {"method": "$import", "status_url": result.status_url, "entries": result.totals()}


def _types(result: ImportResult, output: Reporter) -> None:
    if output.quiet:
        return
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("type", "sent", "failed"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for rtype, counts in result.by_type().items():
        table.add_row(rtype, str(counts["sent"]), str(counts["failed"]))
    output.show(table)


def _case(item: CaseImport, cases: _Cases) -> None:
    error = item.errors[0] if item.errors else None
    if error is not None and len(item.errors) > 1:
        error += f" (and {len(item.errors) - 1} more)"
    if item.status == "unknown":
        error = "the job failed; the server does not say which resources were stored"
    cases.add(item.case, item.status, _detail(item.case), error)


# --- the fallback: one transaction per case ---------------------------------------------------


def _bundle(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"urn:uuid:{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _windows(manifest: BulkManifest) -> Iterator[list[tuple[BulkCase, dict[str, Any]]]]:
    stream = ((case, _bundle(resources)) for case, resources in iter_case_resources(manifest))
    while window := list(islice(stream, WINDOW)):
        yield window


def _transactions(
    use: Services, manifest: BulkManifest, info: CapabilityInfo, target: _Target
) -> dict[str, Any]:
    server, options, cases = target.server, target.options, target.cases
    target.output.line(
        f"fhir-ivc: {public_url(server)} does not offer $import (CapabilityStatement); "
        f"pushing the folder as one transaction per case (PUT Type/id) instead"
    )
    if not info.supports_transaction:
        raise ConfigError(f"the FHIR server at {public_url(server)} offers neither")
    entries = dict.fromkeys(OUTCOMES, 0)
    by_id: dict[str, BulkCase] = {}

    def done(result: CasePushResult) -> None:
        for outcome in OUTCOMES:
            entries[outcome] += result.counts[outcome]
        case = by_id.pop(result.case_id)
        cases.add(case, "ok" if result.ok else "failed", _detail(case), result.error)

    async def run(client: AsyncFhirClient) -> None:
        async with client:
            for window in _windows(manifest):
                by_id.update((case.case_id, case) for case, _ in window)
                items: list[PushItem] = [(c.case_id, bundle, {}) for c, bundle in window]
                await push_many(client, items, concurrency=options.concurrency, on_result=done)

    connection = options.connection
    client = connection.client(use.async_fhir_client, server, target.auth)
    anyio.run(run, client)
    return {"method": "transactions", "entries": entries}
