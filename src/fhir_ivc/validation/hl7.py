"""Bridge to the HL7 validation engine (HAPI FHIR's FhirInstanceValidator, in servers/hapi).

The engine is the authority; :mod:`fhir_ivc.validation` is the fast offline check. This module
runs ``scripts/fhir-validate`` (one JVM for all files: startup costs ~20 s, each bundle then a
fraction of a second) and turns its JSON report into the same :class:`Issue` shape as
:mod:`fhir_ivc.validation`, with expressions in the same form (``Bundle.entry[3].resource.
valueCodeableConcept``). It needs a source checkout (the script, servers/hapi, profiles/) and a Java
17 JDK plus Maven; docs/conformance.md describes the validation chain and its known gaps.

    report = run_hl7_engine(["out/bundles"])           # the engine's raw JSON report
    issues = validate_files_hl7(["out/bundles/case-1.collection.json"])
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NotRequired

from fhir_ivc.validation._issues import Issue, Severity

__all__ = [
    "Hl7EngineError",
    "Hl7EngineUnavailableError",
    "Hl7Issue",
    "engine_script",
    "hl7_expression",
    "issues_from_report",
    "run_hl7_engine",
    "validate_files_hl7",
]

#: the wrapper, from the repository root of this source checkout
_ROOT: Final = Path(__file__).resolve().parents[3]
_SCRIPT: Final = _ROOT / "scripts" / "fhir-validate"
#: fatal counts as error (Issue severities are error / warning / information)
_SEVERITY: Final[dict[str, Severity]] = {
    "fatal": "error",
    "error": "error",
    "warning": "warning",
    "information": "information",
}
_COMMENT: Final = re.compile(r"/\*.*?\*/")
_OF_TYPE: Final = re.compile(r"\.([A-Za-z]+)\.ofType\(([A-Za-z]+)\)")


class Hl7EngineError(RuntimeError):
    """The engine could not be run, or its report could not be read."""


class Hl7EngineUnavailableError(Hl7EngineError):
    """No Java (or no source checkout with scripts/fhir-validate) to run the engine with."""


class Hl7Issue(Issue):
    """An :class:`Issue` from the HL7 engine, with the engine's own identifiers kept."""

    #: the core validator's message id (``Terminology_TX_NoValid_1_CC``, ``Reference_REF_...``)
    message_id: NotRequired[str]
    #: line of the resource in an NDJSON input (1-based)
    line: NotRequired[int]


def engine_script() -> Path:
    """``scripts/fhir-validate`` of this checkout, or :class:`Hl7EngineUnavailableError`."""
    java = os.environ.get("JAVA", "java")
    if shutil.which(java) is None:
        raise Hl7EngineUnavailableError(
            f"the HL7 validation engine needs Java 17 ('{java}' is not on PATH; set JAVA or "
            "install a JDK, and Maven to build servers/hapi)"
        )
    if not _SCRIPT.is_file():
        raise Hl7EngineUnavailableError(
            f"{_SCRIPT} not found: the HL7 engine runs from a source checkout of fhir_ivc"
        )
    return _SCRIPT


def run_hl7_engine(
    paths: Iterable[str | os.PathLike[str]],
    *,
    extra_args: Sequence[str] = (),
    timeout: float = 1800,
) -> dict[str, Any]:
    """Run the engine once over ``paths`` (files or folders); its JSON report.

    The report has ``files`` (per file, per resource, per bundle entry: issues with severity,
    code, location, message, messageId), ``packages`` (what was loaded and the checks of
    profiles/), ``totals``, ``timingMs`` and, under ``stderr``, the engine's log. Raises
    :class:`Hl7EngineError` when the run fails (exit status 2 or no report); issues found (exit
    status 1) are a normal result.
    """
    script = engine_script()
    bash = shutil.which("bash")
    if bash is None:
        raise Hl7EngineUnavailableError("the HL7 engine's wrapper script needs bash")
    inputs = [os.fspath(p) for p in paths]
    if not inputs:
        raise ValueError("no files to validate")
    with tempfile.TemporaryDirectory(prefix="fhir-ivc-hl7-") as tmp:
        out = Path(tmp) / "results.json"
        try:
            proc = subprocess.run(  # noqa: S603 - our own script, arguments are paths/options
                [bash, os.fspath(script), "--out", os.fspath(out), *extra_args, *inputs],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Hl7EngineError(f"the HL7 engine did not finish within {timeout:.0f} s") from exc
        if proc.returncode not in (0, 1) or not out.is_file():
            tail = "\n".join(proc.stderr.splitlines()[-40:])
            raise Hl7EngineError(f"the HL7 engine failed (exit {proc.returncode}):\n{tail}")
        try:
            report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise Hl7EngineError(f"unreadable engine report: {exc}") from exc
    report["stderr"] = proc.stderr
    return report


def hl7_expression(location: str) -> str:
    """The engine's location in :mod:`fhir_ivc.validation`'s form.

    ``Bundle.entry[1].resource/*Condition/ab12*/.value.ofType(CodeableConcept)`` becomes
    ``Bundle.entry[1].resource.valueCodeableConcept`` (the ``/*...*/`` comments name the
    resource; ``ofType`` is written as the JSON property name of the choice).
    """
    text = _COMMENT.sub("", location)
    return _OF_TYPE.sub(lambda m: f".{m.group(1)}{m.group(2)[0].upper()}{m.group(2)[1:]}", text)


def _issue(raw: Mapping[str, Any], line: int | None) -> Hl7Issue:
    expression = hl7_expression(str(raw.get("location", "")))
    message = str(raw.get("message", ""))
    issue = Hl7Issue(
        severity=_SEVERITY.get(str(raw.get("severity")), "error"),
        code=str(raw.get("code", "processing")),
        expression=[expression],
        diagnostics=f"{expression}: {message}" if expression else message,
    )
    if raw.get("messageId"):
        issue["message_id"] = str(raw["messageId"])
    if line is not None:
        issue["line"] = line
    return issue


def issues_from_report(report: Mapping[str, Any]) -> dict[Path, list[Hl7Issue]]:
    """File -> every issue the report lists for it (the resource's, then each entry's)."""
    out: dict[Path, list[Hl7Issue]] = {}
    for file in report.get("files", []):
        issues = out.setdefault(Path(file["path"]), [])
        for resource in file.get("resources", []):
            line = resource.get("line")
            issues.extend(_issue(i, line) for i in resource.get("issues", []))
            for entry in resource.get("entries", []):
                issues.extend(_issue(i, line) for i in entry.get("issues", []))
    return out


def validate_files_hl7(
    paths: Iterable[str | os.PathLike[str]], *, min_severity: Severity = "warning"
) -> dict[Path, list[Hl7Issue]]:
    """Validate JSON / NDJSON files (or folders of them) with the HL7 engine, in one JVM run.

    Every file gets a key, with an empty list when it has no issue at ``min_severity`` or above.
    Raises :class:`Hl7EngineUnavailableError` without Java, :class:`Hl7EngineError` when the engine
    fails; a file that is not JSON is reported as an ``error`` issue, not raised.
    """
    report = run_hl7_engine(paths, extra_args=("--min-severity", min_severity))
    result = issues_from_report(report)
    for message in report.get("inputErrors", []):
        path = Path(str(message).split(": ", 1)[0])
        result.setdefault(path, []).append(
            Hl7Issue(severity="error", code="not-found", expression=[""], diagnostics=str(message))
        )
    return result
