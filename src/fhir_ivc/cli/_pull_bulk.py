"""``fhir-ivc pull --bulk``: one ``$export`` instead of one search (or ``$everything``) per patient.

``pull`` keeps everything it writes and reports (:mod:`fhir_ivc.cli._pull`: case records, loss
report, ``--raw``, ``--tables``, ``--state`` journal, the summary); with ``--bulk`` only the
source of the patients changes. :func:`pull_bulk` takes the place of ``pull_many``:

1. ``Patient/$export`` (or ``Group/[id]/$export`` with ``--group``) with ``_type`` (``--type``)
   and ``_since`` (``--since``), ``Prefer: respond-async``;
2. poll the status URL (Retry-After honoured up to ``--max-poll-wait``, X-Progress shown);
3. stream every output file to disk (a truncated one is fetched again);
4. index them (:class:`fhir_ivc.bulk.regroup.ExportIndex`, SQLite on disk) and hand one
   patient at a time to ``pull``'s writer, read with the same reader as ``pull`` (the same loss
   report), the patients ``--system`` / ``--identifier`` selects.

The job's status URL and the files downloaded so far are kept in an export state file
(``FILE.export.json`` next to ``--state FILE``, else ``OUT/.export-state.json`` or
``<ndjson>.export-state.json``): a run interrupted while the job runs or half-way through the
downloads takes up the same job when run again (or from ``--resume URL``). The state file goes
when the run ends without an error.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from fhir_ivc.bulk.exports import (
    ExportRequest,
    ExportState,
    describe,
    download_outputs,
    error_texts,
    export_types,
    run_export,
)
from fhir_ivc.bulk.regroup import ExportIndex, read_patients
from fhir_ivc.cli._connection import Connection, Credentials
from fhir_ivc.cli._output import Reporter
from fhir_ivc.cli._push_bulk import MaxPollWait
from fhir_ivc.client import FhirClient
from fhir_ivc.exceptions import ConfigError
from fhir_ivc.exchange import PatientPull, PatientQuery
from fhir_ivc.exchange.pull import PullTarget
from fhir_ivc.exchange.report import public_url
from fhir_ivc.io import STDOUT

__all__ = [
    "ExportRequest",
    "ExportTypes",
    "GroupOption",
    "MaxPollWait",
    "PullBulkFlag",
    "PullBulkOptions",
    "ResumeOption",
    "export_state_path",
    "pull_bulk",
]

DEFAULT_STATE: Final = ".fhir-ivc-export-state.json"

PullBulkFlag = Annotated[
    bool,
    typer.Option(
        "--bulk",
        help="Read the patients from one FHIR Bulk Data $export (Patient/$export, or "
        "Group/ID/$export with --group) instead of per-patient requests. See docs/bulk.md.",
    ),
]
GroupOption = Annotated[
    str | None,
    typer.Option("--group", metavar="ID", help="With --bulk: export the members of Group/ID only."),
]
ExportTypes = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="With --bulk: export these resource types (_type; repeatable, or "
        "comma-separated). Default: the types pull reads (Patient and the clinical types "
        "it searches per patient); 'all': no _type, what the server exports for patients.",
        show_default=False,
    ),
]
ResumeOption = Annotated[
    str | None,
    typer.Option(
        "--resume",
        metavar="URL",
        help="With --bulk: take up the export job at this status URL (Content-Location of an "
        "earlier kick-off) instead of starting one.",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class PullBulkOptions:
    """What ``pull --bulk`` takes from ``pull``'s options."""

    group: str | None
    types: tuple[str, ...]
    resume: str | None
    since: str | None
    state: Path
    auth: Credentials | None
    connection: Connection
    max_poll_wait: float = 5.0

    @classmethod
    def of(
        cls, group: str | None, types: list[str] | None, resume: str | None, *rest: Any
    ) -> PullBulkOptions:
        """From the option values (``--type``: :func:`~fhir_ivc.bulk.exports.export_types`)."""
        return cls(group, export_types(types or []), resume, *rest)

    def request(self) -> ExportRequest:
        return ExportRequest(self.group, self.types, self.since)


def export_state_path(state: Path | None, out: Path | None, ndjson: Path | None) -> Path:
    """Where the export state goes: next to ``--state``, in ``--out``, or next to ``--ndjson``."""
    if state is not None:
        return state.with_name(state.name + ".export.json")
    if out is not None:
        return out / ".export-state.json"
    if ndjson is not None and str(ndjson) != STDOUT:
        return ndjson.with_name(ndjson.name + ".export-state.json")
    return Path(DEFAULT_STATE)


def _check_server(fhir: FhirClient, request: ExportRequest) -> None:
    info = fhir.capabilities()
    where = public_url(fhir.base_url)
    resource = "Group" if request.group else "Patient"
    if not info.supports_operation("export", resource):
        raise ConfigError(
            f"the FHIR server at {where} does not offer {resource}/$export "
            "(CapabilityStatement); pull without --bulk"
        )


def pull_bulk(
    fhir: FhirClient,
    query: PatientQuery,
    options: PullBulkOptions,
    reporter: Reporter,
    *,
    on_result: Callable[[PatientPull], None],
    skip: Callable[[PullTarget], bool] | None = None,
) -> None:
    """Export, download, regroup by patient, read: each patient goes to ``on_result``."""
    request = options.request()
    _check_server(fhir, request)
    state = ExportState(options.state)
    http = options.connection.bulk_http(fhir.base_url, options.auth, options.max_poll_wait)

    # the status URL is shown whole: it names the job (HAPI: ?_jobId=…), and --resume needs it
    def started(url: str, resumed: bool) -> None:
        if resumed:
            reporter.info(f"fhir-ivc: taking up the export job {url} ({state.path})")
        else:
            what = request.path + (f" since {request.since}" if request.since else "")
            reporter.info(f"fhir-ivc: {what}: job {url} (state in {state.path})")

    shown: list[str] = []

    def progress(text: str, wait: float) -> None:  # X-Progress, each new text once
        if not shown or shown[-1] != text:
            shown.append(text)
            reporter.info(f"fhir-ivc: export: {' '.join(text.split())}")

    with http:
        manifest = run_export(
            http, request, state, resume=options.resume, on_started=started, on_progress=progress
        )
        reporter.info(
            f"fhir-ivc: export done ({manifest.transaction_time}): {len(manifest.files)} files"
            + (f" ({describe(manifest.files)})" if manifest.files else "")
        )
        for text in error_texts(http, manifest, state):
            reporter.line(f"fhir-ivc: warning: the export reported: {' '.join(text.split())}")
        with (
            tempfile.TemporaryDirectory(prefix="fhir-ivc-export-") as tmp,
            ExportIndex(Path(tmp) / "index.sqlite") as index,
        ):
            for _file, path in download_outputs(http, manifest, state):
                index.add_file(path)
            first = True
            for pulled in read_patients(index, fhir.base_url, query, skip=skip):
                if first:  # the requests of the whole export, once, for the summary
                    pulled.requests = http.requests
                    first = False
                on_result(pulled)
            if index.unselected:
                reporter.info(
                    f"fhir-ivc: {index.unselected} exported patients are not selected by "
                    "--system / --identifier (not read)"
                )
            orphans = index.orphans()
            if index.unreadable:
                reporter.line(
                    f"fhir-ivc: warning: {index.unreadable} exported lines were not FHIR "
                    "resources with a type and an id (not read)"
                )
            if orphans:
                reporter.info(
                    f"fhir-ivc: {orphans} exported resources belong to patients that are "
                    "not in the export (not read)"
                )
    state.remove()
