"""The ``fhir-ivc`` typer app: ``map``, ``schema`` and ``--version``.

Other commands (``push``, ``pull``, ``validate``) register at the bottom of this module with
``app.command("push")(push_command)``. Exit codes come from :mod:`fhir_ivc.cli._exit` only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from fhir_ivc import __version__
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error, fail
from fhir_ivc.cli._ids import Ids, IdsOption
from fhir_ivc.cli._inputs import check_inputs
from fhir_ivc.cli._output import Reporter
from fhir_ivc.exceptions import MappingError, ResourceInvalidError
from fhir_ivc.io import (
    STDOUT,
    BundleDirWriter,
    BundleKind,
    BundleSet,
    BundleWriter,
    CaseRecordResult,
    NdjsonBundleWriter,
    RejectsWriter,
    atomic_write_bytes,
    bundle_of,
    case_json_schema,
    dump_json,
    iter_inputs,
    structural_check,
)
from fhir_ivc.model import Case

__all__ = ["app", "map_command", "schema_command"]

app = typer.Typer(
    name="fhir-ivc",
    help="FHIR R4 / mCODE adapter for leiomyosarcoma of the inferior vena cava.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals would hold case data (PHI)
)

BuildBundles = Callable[[Case], BundleSet]
#: A bundle check: the problems found, empty when the bundle is valid.
BundleCheck = Callable[[Mapping[str, Any]], list[str]]


class KindChoice(StrEnum):
    TRANSACTION = "transaction"
    COLLECTION = "collection"
    BOTH = "both"

    def kinds(self) -> tuple[BundleKind, ...]:
        if self is KindChoice.BOTH:
            return (BundleKind.TRANSACTION, BundleKind.COLLECTION)
        return (BundleKind(self.value),)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fhir-ivc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """FHIR R4 / mCODE adapter for leiomyosarcoma of the inferior vena cava."""


# --- map --------------------------------------------------------------------------------------


@app.command("map")
def map_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            show_default=False,
            metavar="INPUT",
            help="Case files: .json (object or array), .ndjson/.jsonl, .yaml/.yml; "
            "other names are sniffed. '-' reads NDJSON from standard input.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            metavar="DIR",
            help="Folder for <case_id>.<kind>.json files.",
        ),
    ] = None,
    ndjson: Annotated[
        Path | None,
        typer.Option(
            "--ndjson",
            dir_okay=False,
            allow_dash=True,
            metavar="FILE",
            help="Write one NDJSON file, one bundle per line, instead ('-' = standard output).",
        ),
    ] = None,
    kind: Annotated[
        KindChoice, typer.Option("--kind", case_sensitive=False, help="Bundles to write.")
    ] = KindChoice.BOTH,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            dir_okay=False,
            metavar="FILE",
            help="NDJSON file of rejected records. Default: OUT/rejects.ndjson, or "
            "<name>.rejects.ndjson next to the --ndjson file (none for '--ndjson -').",
            show_default=False,
        ),
    ] = None,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate/--no-validate",
            help="Check every bundle before writing it; a case whose bundle fails is rejected.",
        ),
    ] = True,
    ids: IdsOption = Ids.CONDITIONAL,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar and no summary (REJECT lines stay)."),
    ] = False,
) -> None:
    """Map case records to FHIR bundles, streaming: one case in memory at a time.

    Exit codes: 0 every record mapped, 1 some records rejected, 2 the run could not be done.
    """
    started = time.perf_counter()
    if (out is None) == (ndjson is None):
        raise typer.BadParameter(
            "give exactly one of --out DIR or --ndjson FILE", param_hint="'--out' / '--ndjson'"
        )
    check_inputs(inputs)
    kinds = kind.kinds()
    rejects = _default_rejects(out, ndjson) if rejects is None else rejects
    if rejects is not None and ndjson is not None and rejects.resolve() == ndjson.resolve():
        raise typer.BadParameter("must differ from --ndjson", param_hint="'--rejects'")
    build = _bundle_builder(ids)
    check = _bundle_check() if validate else None

    with exit_on_error():
        with contextlib.ExitStack() as stack:
            writer: BundleWriter
            if out is not None:
                writer = stack.enter_context(BundleDirWriter(out, kinds))
            else:
                writer = stack.enter_context(NdjsonBundleWriter(cast(Path, ndjson), kinds))
            rejects_writer = (
                stack.enter_context(RejectsWriter(rejects)) if rejects is not None else None
            )
            reporter = stack.enter_context(Reporter(quiet=quiet))
            run = _MapRun(build, check, kinds, writer, rejects_writer, reporter)
            run.consume(iter_inputs(inputs))
        elapsed = time.perf_counter() - started
        summary = (
            f"mapped {_plural(run.mapped, 'case')}, rejected {run.rejected}, "
            f"wrote {_plural(run.bundles, 'bundle')} to {writer.destination} in {elapsed:.2f} s"
        )
        if run.rejected and rejects is not None:
            summary += f"; rejects in {rejects}"
        reporter.summary(summary)
    if run.rejected:
        raise CliExit(ExitCode.SOME_FAILED)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _default_rejects(out: Path | None, ndjson: Path | None) -> Path | None:
    if out is not None:
        return out / "rejects.ndjson"
    if ndjson is None or str(ndjson) == STDOUT:
        return None
    return ndjson.with_name(f"{ndjson.stem}.rejects.ndjson")


def _bundle_builder(ids: Ids = Ids.CONDITIONAL) -> BuildBundles:
    """``fhir_ivc.bundle.build_bundles``, looked up at run time (tests replace it)."""
    try:
        module = importlib.import_module("fhir_ivc.bundle")
    except ImportError as exc:
        raise fail(f"the bundle builder cannot be imported: {exc}") from exc
    builder = getattr(module, "build_bundles", None)
    if builder is None:
        raise fail("the bundle builder (fhir_ivc.bundle.build_bundles) is not available")
    if ids is not Ids.CONDITIONAL:
        builder = functools.partial(builder, ids=ids.value)
    return cast(BuildBundles, builder)


def _bundle_check() -> BundleCheck:
    """``fhir_ivc.validation.validate_bundle`` when it exists, else the structural check.

    The contract assumed for ``validate_bundle(bundle)``: it returns the problems found (strings
    or OperationOutcome-shaped issue dicts; empty when valid) or raises ResourceInvalidError.
    """
    validation = importlib.import_module("fhir_ivc.validation")
    validate_bundle = getattr(validation, "validate_bundle", None)
    if validate_bundle is None:
        return structural_check

    def check(bundle: Mapping[str, Any]) -> list[str]:
        try:
            issues = validate_bundle(bundle)
        except ResourceInvalidError as exc:
            return [str(exc)] + [_issue_text(issue) for issue in exc.issues]
        return [_issue_text(issue) for issue in issues or ()]

    return check


def _issue_text(issue: object) -> str:
    if isinstance(issue, Mapping):
        return str(issue.get("diagnostics") or issue.get("details") or issue)
    return str(issue)


@dataclass
class _MapRun:
    """One ``map`` run over a stream of records; keeps counts, never the cases or bundles."""

    build: BuildBundles
    check: BundleCheck | None
    kinds: Sequence[BundleKind]
    writer: BundleWriter
    rejects: RejectsWriter | None
    reporter: Reporter
    mapped: int = 0
    rejected: int = 0
    bundles: int = 0

    def __post_init__(self) -> None:
        # the only state that grows with the input: ids seen, to refuse a second case with the
        # same id instead of silently overwriting its bundles
        self._seen: set[str] = set()

    def consume(self, results: Iterable[CaseRecordResult]) -> None:
        for result in results:
            self._one(result)
            self.reporter.record_done()

    def _one(self, result: CaseRecordResult) -> None:
        source = str(result.source)
        if result.case is None:
            self._reject([(err.case_id, err.path, err.reason) for err in result.errors], source)
            return
        case = result.case
        if case.case_id in self._seen:
            reason = "duplicate case_id: an earlier record has the same id"
            self._reject([(case.case_id, "case_id", reason)], source)
            return
        self._seen.add(case.case_id)
        try:
            bundles = self.build(case)
        except MappingError as exc:
            self._reject([(exc.case_id or case.case_id, exc.path, str(exc))], source)
            return
        if self.check is not None:
            problems = self._problems(bundles, self.check)
            if problems:
                self._reject([(case.case_id, *problem) for problem in problems], source)
                return
        self.bundles += self.writer.write(bundles)
        self.mapped += 1

    def _problems(self, bundles: BundleSet, check: BundleCheck) -> list[tuple[str, str]]:
        """``(case path, reason)`` per invalid bundle: its first issue and how many more.

        The case path is that of the element the faulty entry was built from, when the builder
        says (``bundles.sources``: entry fullUrl -> case path) and the issue names the entry.
        """
        problems = []
        for kind in self.kinds:
            bundle = bundle_of(bundles, kind)
            issues = check(bundle)
            if issues:
                more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
                path = _case_path(bundles, bundle, issues[0])
                problems.append((path, f"{kind} bundle is invalid: {issues[0]}{more}"))
        return problems

    def _reject(self, errors: list[tuple[str | None, str, str]], source: str) -> None:
        self.rejected += 1
        for case_id, path, reason in errors:
            self.reporter.reject(case_id, path, reason, source)
            if self.rejects is not None:
                self.rejects.write(case_id, path, reason, source)


_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


def _case_path(bundles: BundleSet, bundle: Mapping[str, Any], issue: str) -> str:
    """The case element behind the entry that ``issue`` names, else ``""``."""
    match = _ENTRY.match(issue)
    sources = getattr(bundles, "sources", None)
    entries = bundle.get("entry")
    if not (match and isinstance(sources, Mapping) and isinstance(entries, list)):
        return ""
    index = int(match[1])
    entry = entries[index] if index < len(entries) else None
    full_url = entry.get("fullUrl") if isinstance(entry, Mapping) else None
    return str(sources.get(full_url, "")) if isinstance(full_url, str) else ""


# --- schema -----------------------------------------------------------------------------------


@app.command("schema")
def schema_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            dir_okay=False,
            metavar="FILE",
            help="Write to this file instead of stdout.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema (2020-12) of a case record."""
    data = dump_json(case_json_schema(), pretty=True)
    if out is None:
        typer.echo(data.decode(), nl=False)
        return
    with exit_on_error():
        atomic_write_bytes(out, data)


# --- commands added by other modules register below -------------------------------------------
app.command("push")(importlib.import_module("fhir_ivc.cli._push").push_command)
app.command("pull")(importlib.import_module("fhir_ivc.cli._pull").pull_command)
app.command("validate")(importlib.import_module("fhir_ivc.cli._validate").validate_command)
