"""``fhir-ivc validate``: check FHIR resources and bundles in JSON / NDJSON files.

Offline by default, with :mod:`fhir_ivc.validation` (structure, the claimed profiles' fixed
values, cardinalities, bindings and invariants); with ``--server URL`` each resource is POSTed to
``[base]/[type]/$validate`` instead and the server's OperationOutcome is reported.

Exit codes: 0 no errors, 1 errors found (or a document that is not a JSON object), 2 the run
could not be done (missing file, bad option, server unreachable or refusing the operation).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import typer

from fhir_ivc.cli._connection import DEFAULT_CONNECTION, Connection, with_connection
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error
from fhir_ivc.cli._inputs import check_inputs
from fhir_ivc.cli._limits import DEFAULT_RECORD_LIMITS, RecordLimits
from fhir_ivc.cli._options import choice_option, input_argument, with_options
from fhir_ivc.cli._services import services
from fhir_ivc.cli._tables import table_documents
from fhir_ivc.client import FhirClient
from fhir_ivc.client.smart import DEFAULT_PULL_SCOPE
from fhir_ivc.exceptions import FhirHttpError
from fhir_ivc.io import InputLimits, Unreadable, iter_json_values
from fhir_ivc.io.tables import is_table_input
from fhir_ivc.validation import (
    SEVERITIES,
    Issue,
    Severity,
    to_operation_outcome,
    validate_resource,
)

__all__ = ["validate_command"]

_STDIN: Final = "-"
_NDJSON_SUFFIXES: Final = frozenset({".ndjson", ".jsonl"})
_ENTRY: Final = re.compile(r"^Bundle\.entry\[(\d+)\]")
#: statuses a server may answer $validate with when the resource is invalid (HAPI: 412)
_INVALID_STATUSES: Final = frozenset({400, 412, 422})
#: OperationOutcome.issue.severity -> Severity (fatal counts as error)
_SERVER_SEVERITIES: Final[dict[str, Severity]] = {
    "fatal": "error",
    "error": "error",
    "warning": "warning",
    "information": "information",
}
#: core extension the HL7 validator uses for the line of an issue in the source document
_LINE_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class SeverityChoice(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


@dataclass(frozen=True)
class _Document:
    """One resource read from a file, at ``line``; ``error`` when it cannot be read."""

    source: str
    line: int | None
    value: Any
    error: str | None = None

    @property
    def where(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


@with_options("record_limits", RecordLimits)
@with_connection(max_pages=True)
def validate_command(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        input_argument(
            "FILE...",
            "Resources or bundles: .json (one, or an array), .ndjson/.jsonl (one per line); "
            "other names are sniffed. '-' reads standard input. A folder or zip of case "
            "tables: the bundles of its cases.",
        ),
    ],
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="POST each resource to [URL]/[type]/$validate and report the server's "
            "OperationOutcome instead of validating offline.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        choice_option(
            "--format",
            help="text: one line per issue; json: a Bundle holding one OperationOutcome per file.",
        ),
    ] = OutputFormat.TEXT,
    severity: Annotated[
        SeverityChoice,
        choice_option(
            "--severity",
            help="The least severe issues to show (information includes what could not be "
            "checked offline).",
        ),
    ] = SeverityChoice.WARNING,
    record_limits: RecordLimits = DEFAULT_RECORD_LIMITS,
    connection: Connection = DEFAULT_CONNECTION,
) -> None:
    """Validate FHIR resources and bundles against the profiles they claim.

    Exit codes: 0 no errors, 1 errors found, 2 the run could not be done.
    """
    check_inputs(files, param_hint="'FILE...'")
    limits = record_limits.input_limits
    level: Severity = severity.value
    counts = dict.fromkeys(SEVERITIES, 0)
    outcomes: list[tuple[str, dict[str, Any]]] = []
    resources = 0
    with exit_on_error():
        auth = connection.credentials(server, DEFAULT_PULL_SCOPE)
        if auth is not None and not server:
            raise typer.BadParameter("credentials are for --server", param_hint="'--server'")
        fhir = services(ctx).fhir_client
        if server and (warning := connection.insecure_warning("sent")) is not None:
            typer.echo(warning, err=True)
        check = _ServerCheck(connection.client(fhir, server, auth)) if server else None
        try:
            for path in files:
                file_issues: list[tuple[_Document, Issue]] = []
                for document in _documents(path, limits):
                    resources += 1
                    found = check(document) if check else _local(document)
                    for issue in _at_least(found, level):
                        counts[issue["severity"]] += 1
                        file_issues.append((document, issue))
                        if output_format is OutputFormat.TEXT:
                            typer.echo(_line(document, issue))
                if output_format is OutputFormat.JSON:
                    outcomes.append((_file_uri(path), _outcome(file_issues)))
        finally:
            if check is not None:
                check.close()
    if output_format is OutputFormat.JSON:
        typer.echo(orjson.dumps(_report(outcomes), option=orjson.OPT_INDENT_2).decode())
    how = f"by {server}" if server else "offline"
    typer.echo(
        f"validated {resources} resource(s) in {len(files)} file(s) {how}: "
        f"{counts['error']} error(s), {counts['warning']} warning(s), "
        f"{counts['information']} information",
        err=True,
    )
    if counts["error"]:
        raise CliExit(ExitCode.SOME_FAILED)


# --- reading ----------------------------------------------------------------------------------


def _documents(path: Path, limits: InputLimits) -> Iterator[_Document]:
    """The resources of one file: a JSON document (an array: each element), or one per
    non-blank NDJSON line, read by :func:`fhir_ivc.io.iter_json_values` within ``limits``; for
    a folder or zip of case tables, the bundles of its cases (``fhir_ivc.cli._tables``)."""
    if is_table_input(path):
        for where, bundle, problem in table_documents(path, limits=limits):
            yield _Document(where, None, bundle, problem)
        return
    values = iter_json_values(path, limits=limits)
    first = next(values, None)
    second = next(values, None)
    # a file that holds one resource is named by the file alone, as before NDJSON existed
    alone = second is None and path.suffix.lower() not in _NDJSON_SUFFIXES
    for source, value in itertools.chain(filter(None, (first, second)), values):
        line = None if alone and source.index is None else source.line
        if isinstance(value, Unreadable):
            at = f" at {value.path}" if value.path else ""
            yield _Document(source.file, line, None, f"cannot be read{at}: {value.reason}")
        else:
            yield _Document(source.file, line, value)


def _file_uri(path: Path) -> str:
    return "urn:fhir-ivc:stdin" if str(path) == _STDIN else path.resolve().as_uri()


# --- validating -------------------------------------------------------------------------------


def _not_a_resource(document: _Document) -> list[Issue] | None:
    if document.error is not None:
        return [_issue("error", "structure", "", document.error)]
    value = document.value
    if not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
        return [_issue("error", "structure", "", "not a FHIR resource (no resourceType)")]
    return None


def _local(document: _Document) -> list[Issue]:
    problem = _not_a_resource(document)
    if problem is not None:
        return problem
    return validate_resource(document.value, min_severity="information")


class _ServerCheck:
    """``$validate`` on a FHIR server, one POST per resource."""

    def __init__(self, client: FhirClient) -> None:
        self._client = client

    def close(self) -> None:
        self._client.close()

    def __call__(self, document: _Document) -> list[Issue]:
        problem = _not_a_resource(document)
        if problem is not None:
            return problem
        resource = document.value
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": resource}],
        }
        path = f"{resource['resourceType']}/$validate"
        try:
            outcome: Mapping[str, Any] = self._client.operation(path, method="POST", body=body)
        except FhirHttpError as exc:
            # a resource that fails validation may come back as 400/412/422 with the outcome;
            # anything else (404 unknown type, 5xx, no outcome) means the check was not done
            if exc.status_code not in _INVALID_STATUSES or not _is_outcome(exc.outcome):
                raise
            outcome = exc.outcome or {}
        if not _is_outcome(outcome):
            return [
                _issue("error", "processing", "", "the server answered without an OperationOutcome")
            ]
        return [
            _from_server(issue)
            for issue in outcome.get("issue") or ()
            if isinstance(issue, Mapping)
        ]


def _is_outcome(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome"


def _from_server(found: Mapping[str, Any]) -> Issue:
    """A server's OperationOutcome.issue as an :class:`Issue` (fatal counts as error)."""
    level = _SERVER_SEVERITIES.get(str(found.get("severity")), "error")
    expressions = found.get("expression") or found.get("location") or []
    where = str(expressions[0]) if expressions else ""
    text = str(found.get("diagnostics") or (found.get("details") or {}).get("text") or "")
    if where and text.startswith(f"{where}: "):
        text = text[len(where) + 2 :]
    return _issue(level, str(found.get("code", "processing")), where, text)


def _issue(severity: Severity, code: str, where: str, message: str) -> Issue:
    return Issue(
        severity=severity,
        code=code,
        expression=[where] if where else [],
        diagnostics=f"{where}: {message}" if where else message,
    )


def _at_least(issues: Sequence[Issue], level: Severity) -> list[Issue]:
    limit = SEVERITIES.index(level)
    return [i for i in issues if SEVERITIES.index(i["severity"]) <= limit]


# --- output -----------------------------------------------------------------------------------


def _line(document: _Document, issue: Issue) -> str:
    """``file[:line]: [entry N: ]severity: expression: message[ (from profile)]``."""
    expression = issue["expression"][0] if issue["expression"] else ""
    match = _ENTRY.match(expression)
    entry = f"entry {match[1]}: " if match else ""
    text = f"{document.where}: {entry}{issue['severity']}: {issue['diagnostics']}"
    if issue.get("profile"):
        text += f" (from {issue['profile']})"
    return " ".join(text.split())


def _outcome(found: Sequence[tuple[_Document, Issue]]) -> dict[str, Any]:
    outcome = to_operation_outcome([issue for _, issue in found])
    for (document, _), entry in zip(found, outcome["issue"], strict=False):
        if document.line is not None:
            entry["extension"] = [{"url": _LINE_EXTENSION, "valueInteger": document.line}]
    return outcome


def _report(outcomes: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A collection Bundle: one OperationOutcome per file, fullUrl = the file's URI."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": uri, "resource": outcome} for uri, outcome in outcomes],
    }
