"""``$import`` of a Bulk Data folder: the parts served, the request, what the report says.

HAPI FHIR's ``$import`` (JPA server, batch2 job ``BULK_IMPORT_PULL``; the "import by
manifest" of the Bulk Import proposal, with a Parameters body) takes the URL of every NDJSON
input, fetches the inputs itself, and stores their resources in batches of up to 800, each a
``batch`` Bundle of ``PUT Type/id`` tried as one transaction first: an upsert by logical id,
so a second import of the same folder changes nothing. Batches of one job run in any order
and in parallel, and HAPI refuses a reference to a resource that is not stored yet; so the
inputs are not the folder's type files but :func:`write_parts`: whole cases, one batch each.

The status URL answers ``202`` while the job runs and, at the end, an OperationOutcome whose
text is the job report: per input URL the storage outcomes (``SUCCESSFUL_UPDATE_AS_CREATE:
12``, ``SUCCESSFUL_UPDATE_NO_CHANGE: …``) and the errors (:func:`parse_report`).
:func:`case_results` attributes the errors to cases by the ``Type/id`` they name.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from fhir_ivc.bulk.http import BulkHttp, BulkJobError, Progress
from fhir_ivc.bulk.ndjson import (
    NDJSON_TYPE,
    BulkCase,
    BulkManifest,
    iter_case_resources,
    iter_cases,
)
from fhir_ivc.client import CapabilityInfo
from fhir_ivc.exchange import OUTCOMES, Outcome
from fhir_ivc.fhir.ids import ID_PATTERN, TYPE_PATTERN

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RESOURCES",
    "CaseImport",
    "ImportResult",
    "Part",
    "SourceOutcome",
    "case_results",
    "import_parameters",
    "offers_import",
    "outcome_of_code",
    "parse_report",
    "report_text",
    "run_import",
    "write_parts",
]

_KEY: Final = re.compile(rf"\b({TYPE_PATTERN})/({ID_PATTERN})\b")
_PATH: Final = re.compile(rf"in path: ({TYPE_PATTERN})\.")
#: HAPI's default and maximum ``maxBatchResourceCount`` (BulkImportAppCtx: "avoid the 1000
#: SQL parameter limit") and its batch size limit (2 MB of characters), with a margin
MAX_BATCH_RESOURCES: Final = 800
MAX_BATCH_BYTES: Final = 1_900_000


def offers_import(info: CapabilityInfo) -> bool:
    """Whether the CapabilityStatement lists the system operation ``$import``."""
    return "import" in info.system_operations


@dataclass(frozen=True, slots=True)
class Part:
    """One served input of the job: whole cases, at most one storage batch of HAPI's."""

    name: str
    path: Path
    cases: int
    resources: int
    bytes: int


def write_parts(
    manifest: BulkManifest,
    folder: Path,
    *,
    max_resources: int = MAX_BATCH_RESOURCES,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[Part]:
    """Regroup the folder's resources into parts of whole cases (streaming, case by case).

    HAPI stores each input in batches of ``maxBatchResourceCount`` resources (and < 2 MB), one
    ``batch`` Bundle each, tried as a transaction first; references between resources of one
    transaction resolve, between two batches they do not (a batch may run before the one
    holding the target, and the write is refused: HAPI-1094). So a part holds whole cases, in
    type order, and never more than one batch; a case larger than a batch gets a part alone
    (and is split by the server: docs/bulk.md, limits).
    """
    parts: list[Part] = []
    current: list[bytes] = []
    state = {"cases": 0, "resources": 0, "bytes": 0}

    def flush() -> None:
        if not current:
            return
        name = f"part-{len(parts) + 1:05d}.ndjson"
        path = folder / name
        path.write_bytes(b"".join(current))
        parts.append(Part(name, path, state["cases"], state["resources"], state["bytes"]))
        current.clear()
        state.update(cases=0, resources=0, bytes=0)

    for _case, resources in iter_case_resources(manifest):
        lines = [orjson.dumps(r) + b"\n" for r in resources]
        size = sum(len(line) for line in lines)
        if current and (
            state["resources"] + len(lines) > max_resources or state["bytes"] + size > max_bytes
        ):
            flush()
        current.extend(lines)
        state["cases"] += 1
        state["resources"] += len(lines)
        state["bytes"] += size
    flush()
    return parts


def import_parameters(
    parts: Sequence[Part], url_of: Mapping[str, str], source: str, *, batch: int
) -> dict[str, Any]:
    """The ``$import`` Parameters (HAPI's form): one ``input`` (type, url) per part.

    A part holds several resource types; HAPI reads any resource from any input and uses the
    ``type`` only to order the inputs, so each says ``Patient`` (what it starts with).
    """
    parameter: list[dict[str, Any]] = [
        {"name": "inputFormat", "valueCode": NDJSON_TYPE},
        {"name": "inputSource", "valueUri": source},
        {
            "name": "storageDetail",
            "part": [
                {"name": "type", "valueCode": "https"},
                {"name": "maxBatchResourceCount", "valueString": str(batch)},
            ],
        },
    ]
    for part in parts:
        parameter.append(
            {
                "name": "input",
                "part": [
                    {"name": "type", "valueCode": "Patient"},
                    {"name": "url", "valueUri": url_of[part.name]},
                ],
            }
        )
    return {"resourceType": "Parameters", "parameter": parameter}


def outcome_of_code(code: str) -> Outcome:
    """HAPI's storage response code (``SUCCESSFUL_UPDATE_NO_CHANGE`` …) as a push outcome."""
    code = code.upper()
    if not code.startswith("SUCCESSFUL"):
        return "failed"
    if "NO_CHANGE" in code:
        return "unchanged"
    if "CREATE" in code:
        return "created"
    return "updated"


@dataclass
class SourceOutcome:
    """What the job report says about one input URL: outcome counts and errors."""

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    errors: list[str] = field(default_factory=list)


def report_text(body: Any) -> str:
    """The job report in the final OperationOutcome (HAPI: ``{"reportMsg": …}`` as diagnostics)."""
    if not isinstance(body, Mapping):
        return ""
    texts = []
    for issue in body.get("issue") or []:
        text = issue.get("diagnostics") if isinstance(issue, Mapping) else None
        if not isinstance(text, str) or not text:
            continue
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(text)
            if isinstance(value, dict) and isinstance(value.get("reportMsg"), str):
                text = value["reportMsg"]
        texts.append(text)
    return "\n".join(texts)


def parse_report(text: str) -> dict[str, SourceOutcome]:
    """Per input URL (``Source:``), the outcome counts and errors of HAPI's import report."""
    found: dict[str, SourceOutcome] = {}
    current: SourceOutcome | None = None
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Source:"):
            current = found.setdefault(line.removeprefix("Source:").strip(), SourceOutcome())
            section = ""
        elif line in ("Outcomes:", "Errors:"):
            section = line
        elif current is not None and line.startswith("* "):
            item = line[2:]
            if section == "Outcomes:":
                code, _, count = item.rpartition(":")
                if count.strip().isdigit():
                    current.counts[outcome_of_code(code.strip())] += int(count)
            elif section == "Errors:":
                current.errors.append(item)
    return found


def _failing_type(error: str) -> str | None:
    """The type of the resource an error is about (HAPI: "... specified in path: Type.x")."""
    match = _PATH.search(error)
    return match[1] if match else None


@dataclass
class ImportResult:
    """One ``$import`` job: status URL, outcome totals, errors, per type what failed."""

    status_url: str
    failed: bool
    message: str | None
    report: str
    sources: dict[str, SourceOutcome]
    sent: dict[str, int]

    @property
    def errors(self) -> list[str]:
        return [e for s in self.sources.values() for e in s.errors]

    def totals(self) -> dict[Outcome, int]:
        out: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        for source in self.sources.values():
            for key in OUTCOMES:
                out[key] += source.counts[key]
        return out

    def by_type(self) -> dict[str, dict[str, int]]:
        """Per resource type: resources sent, and failed as far as the errors tell."""
        failed: dict[str, int] = {}
        for error in self.errors:
            rtype = _failing_type(error)
            if rtype is not None:
                failed[rtype] = failed.get(rtype, 0) + 1
        return {
            rtype: {"sent": count, "failed": failed.get(rtype, 0)}
            for rtype, count in self.sent.items()
        }


def run_import(
    http: BulkHttp,
    manifest: BulkManifest,
    parts: Sequence[Part],
    url_of: Mapping[str, str],
    source: str,
    *,
    batch: int = MAX_BATCH_RESOURCES,
    on_started: Callable[[str], None] | None = None,
    on_progress: Progress | None = None,
    timeout: float | None = None,
) -> ImportResult:
    """Kick off ``$import`` of ``parts`` (served at ``url_of``) and wait for the job's end.

    A job the server reports as failed is returned (``failed``, with the report's errors); a
    failure to talk to the server raises.
    """
    body = import_parameters(parts, url_of, source, batch=batch)
    status_url = http.kick_off("$import", method="POST", body=body)
    if on_started is not None:
        on_started(status_url)
    sent = {f.type: f.count for f in manifest.files}
    try:
        final = http.wait(status_url, on_progress=on_progress, timeout=timeout)
    except BulkJobError as exc:
        text = report_text(exc.outcome)
        message = str(exc).split("\n", 1)[0]
        return ImportResult(status_url, True, message, text, parse_report(text), sent)
    text = report_text(final)
    sources = parse_report(text)
    failed = any(s.errors or s.counts["failed"] for s in sources.values())
    return ImportResult(status_url, failed, None, text, sources, sent)


@dataclass(frozen=True, slots=True)
class CaseImport:
    """One case after the job: ``ok``; ``failed`` (an error names one of its resources);
    ``unknown`` (the job failed without naming resources)."""

    case: BulkCase
    status: str
    errors: tuple[str, ...] = ()


def _named(errors: Iterable[str]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for error in errors:
        for match in _KEY.finditer(error):
            named.setdefault(f"{match[1]}/{match[2]}", []).append(error)
    return named


def case_results(manifest: BulkManifest, result: ImportResult) -> Iterator[CaseImport]:
    """Each case of the folder with its status (streaming over ``cases.ndjson``).

    Cases never reference each other, so the ``Type/id`` an error names (the failing resource
    or its missing target) belongs to the case that failed.
    """
    named = _named(result.errors)
    stored = sum(result.totals().values()) - result.totals()["failed"]
    anonymous = result.failed and (not named or not stored)
    for case in iter_cases(manifest):
        errors = tuple(dict.fromkeys(e for key in case.keys for e in named.get(key, ())))
        if errors:
            yield CaseImport(case, "failed", errors)
        elif anonymous:
            yield CaseImport(case, "unknown")
        else:
            yield CaseImport(case, "ok")
