"""The push engine: what happened to each entry of one case's transaction Bundle.

Pure functions used by ``push_bundle`` / ``push_many`` of both clients. One case is pushed as
one FHIR transaction (all or nothing). The outcome of every entry is read from the
transaction-response (R4 http.html#transaction-response):

``created``
    ``201 Created``, or a HAPI storage code saying a resource was created.
``updated``
    ``200 OK`` for a write that is not known to be a no-op.
``unchanged``
    the server says it did nothing: HAPI FHIR puts an OperationOutcome into
    ``entry.response.outcome`` whose issue carries ``details.coding`` with system
    :data:`HAPI_STORAGE_CODE_SYSTEM` and a code such as ``SUCCESSFUL_UPDATE_NO_CHANGE`` or
    ``SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE`` (hapi-fhir
    ``StorageResponseCodeEnum``, set in ``BaseStorageDao``), with diagnostics such as
    ``Successfully updated resource "Patient/9481/_history/1" with no changes detected.``
    Without such a code the generic fallback applies (see :func:`classify_entry`).
    GET entries are ``unchanged`` too.
``deleted``
    a correction entry (see :mod:`fhir_ivc.exchange.manifest`): a resource the case no longer
    has was deleted, or marked entered-in-error, in the same transaction.
``failed``
    the entry, or the whole transaction, was rejected. When the server rejects the
    transaction (4xx with an OperationOutcome) every entry is ``failed`` and each issue is
    traced back to the entry it names (``Bundle.entry[3].resource.valueQuantity`` → entry 3)
    and from there to the case element that produced it (``sources[fullUrl]``, for example
    ``surgery.blood_loss_ml``), so the message names the case id and the element.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args
from urllib.parse import unquote

from fhir_ivc.client._answers import (
    EntryResponse,
    first_issue_text,
    issue_text,
    parse_transaction_response,
)
from fhir_ivc.exceptions import FhirHttpError, FhirIvcError

__all__ = [
    "HAPI_NO_CHANGE_CODES",
    "HAPI_STORAGE_CODE_SYSTEM",
    "OUTCOMES",
    "CasePushResult",
    "EntryResult",
    "Outcome",
    "PlannedEntry",
    "PushItem",
    "classify_entry",
    "entry_result",
    "hapi_storage_code",
    "locate_issue",
    "plan_entries",
    "result_from_answer",
    "result_from_error",
    "result_from_http_error",
    "result_from_response",
]

logger = logging.getLogger("fhir_ivc.exchange")

Outcome = Literal["created", "updated", "unchanged", "deleted", "failed"]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)

#: ``(case_id, transaction bundle, sources)``: one unit of work for ``push_many``.
PushItem = tuple[str, Mapping[str, Any], Mapping[str, str] | None]

#: hapi-fhir ``StorageResponseCodeEnum.SYSTEM``.
HAPI_STORAGE_CODE_SYSTEM: Final = (
    "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"
)
#: Codes with which HAPI says "nothing was written" for a write entry.
HAPI_NO_CHANGE_CODES: Final = frozenset(
    {
        "SUCCESSFUL_UPDATE_NO_CHANGE",
        "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE",
        "SUCCESSFUL_CREATE_WITH_CONDITIONAL_MATCH",  # If-None-Exist matched: no action taken
        "SUCCESSFUL_PATCH_NO_CHANGE",
        "SUCCESSFUL_CONDITIONAL_PATCH_NO_CHANGE",
        "SUCCESSFUL_DELETE_ALREADY_DELETED",
        "SUCCESSFUL_DELETE_NOT_FOUND",
    }
)
#: Codes with which HAPI says a new resource was created (its status is 201 anyway).
HAPI_CREATED_CODES: Final = frozenset(
    {
        "SUCCESSFUL_CREATE",
        "SUCCESSFUL_CREATE_NO_CONDITIONAL_MATCH",
        "SUCCESSFUL_UPDATE_AS_CREATE",
        "SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH",
    }
)
_NO_CHANGE_TEXT = re.compile(r"no changes (?:were )?detected", re.IGNORECASE)


@dataclass(frozen=True)
class EntryResult:
    """What happened to one entry of a case's transaction."""

    full_url: str | None
    resource_type: str
    #: the case element that produced the entry (``sources[full_url]``), else the resource type
    source: str
    outcome: Outcome
    #: HTTP status of the entry (``entry.response.status``), or of the whole transaction when
    #: it was rejected; ``None`` when no answer was received
    status: int | None
    location: str | None = None
    version_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class CasePushResult:
    """The result of pushing one case."""

    case_id: str
    ok: bool
    entries: list[EntryResult] = field(default_factory=list)
    #: why the case failed: names the case id and, where known, the element; ``None`` if ok
    error: str | None = None
    #: the HTTP status of a rejected transaction
    status_code: int | None = None
    #: the exception behind ``error`` (not part of equality or repr)
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    #: HTTP requests the engine sent for the case (the manifest search, reads, transactions;
    #: a client's retries not counted); 0 when the case failed before the count was known
    requests: int = field(default=0, compare=False)

    @property
    def counts(self) -> dict[Outcome, int]:
        """Number of entries per outcome; every outcome is present."""
        counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        for entry in self.entries:
            counts[entry.outcome] += 1
        return counts


# --------------------------------------------------------------------------------------------
# Planning: what the request bundle asks for
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedEntry:
    index: int
    full_url: str | None
    resource_type: str
    source: str
    method: str
    url: str
    #: the entry removes (or marks entered-in-error) a resource the case no longer has
    correction: bool = False

    @property
    def conditional(self) -> bool:
        return "?" in self.url


def plan_entries(
    bundle: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    corrections: Collection[int] | Mapping[int, str] = (),
) -> list[PlannedEntry]:
    """The entries of a transaction Bundle with their source element; ``ValueError`` if not one.

    ``corrections``: the indexes of correction entries (a mapping also gives their source).
    """
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise ValueError(
            f"expected a transaction Bundle, got {bundle.get('resourceType')}/{bundle.get('type')}"
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise ValueError("Bundle.entry is not a list")
    sources = sources or {}
    planned: list[PlannedEntry] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(f"Bundle.entry[{index}] is not an object")
        request = entry.get("request")
        if not isinstance(request, Mapping) or not request.get("method"):
            raise ValueError(f"Bundle.entry[{index}].request.method is missing")
        url = str(request.get("url", ""))
        resource = entry.get("resource")
        resource_type = (
            resource.get("resourceType") if isinstance(resource, Mapping) else None
        ) or re.split(r"[/?]", url, maxsplit=1)[0]
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        source = (sources.get(full_url) if full_url else None) or str(resource_type)
        if isinstance(corrections, Mapping) and index in corrections:
            source = corrections[index]
        planned.append(
            PlannedEntry(
                index=index,
                full_url=full_url,
                resource_type=str(resource_type),
                source=source,
                method=str(request["method"]).upper(),
                url=url,
                correction=index in corrections,
            )
        )
    return planned


# --------------------------------------------------------------------------------------------
# Success: classify each entry of the transaction-response
# --------------------------------------------------------------------------------------------


def hapi_storage_code(outcome: Mapping[str, Any] | None) -> str | None:
    """The HAPI ``StorageResponseCodeEnum`` code in an entry's outcome, if any."""
    if not outcome or outcome.get("resourceType") != "OperationOutcome":
        return None
    for issue in outcome.get("issue") or []:
        details = issue.get("details") if isinstance(issue, Mapping) else None
        if not isinstance(details, Mapping):
            continue
        for coding in details.get("coding") or []:
            if (
                isinstance(coding, Mapping)
                and coding.get("system") == HAPI_STORAGE_CODE_SYSTEM
                and isinstance(coding.get("code"), str)
            ):
                return str(coding["code"])
    return None


def _says_no_change(outcome: Mapping[str, Any] | None) -> bool:
    """HAPI versions that predate the storage codes say it in the diagnostics only."""
    if not outcome or outcome.get("resourceType") != "OperationOutcome":
        return False
    return any(
        isinstance(issue, Mapping)
        and issue.get("severity") == "information"
        and _NO_CHANGE_TEXT.search(str(issue.get("diagnostics", "")))
        for issue in outcome.get("issue") or []
    )


def classify_entry(planned: PlannedEntry, response: EntryResponse) -> tuple[Outcome, str | None]:
    """Outcome and message of one entry, in this order of evidence:

    1. status >= 300 → ``failed``;
    2. a HAPI no-change storage code (or HAPI's "no changes detected" diagnostics) →
       ``unchanged``;
    3. a correction entry (``PlannedEntry.correction``) → ``deleted``;
       ``201`` or a HAPI "created" code → ``created``;
    4. GET/HEAD entries → ``unchanged`` (reads write nothing);
    5. generic fallback, only where it is provable: a **PUT** (update or conditional update)
       answered **200** (R4 http.html#update: 200 = an existing resource was updated, 201 =
       created, so nothing was created) whose new version id is **"1"** (the resource is
       still at its first version, so no new version was written), and no HAPI code telling
       otherwise → ``unchanged``. This relies on the server numbering versions 1, 2, 3 …
       as HAPI does; on servers with opaque version ids "1" never appears and the entry is
       reported ``updated`` (the safe side);
    6. otherwise → ``updated``.
    """
    if response.status >= 300:
        return "failed", first_issue_text(response.outcome) or response.status_line
    code = hapi_storage_code(response.outcome)
    if code in HAPI_NO_CHANGE_CODES or (code is None and _says_no_change(response.outcome)):
        return "unchanged", first_issue_text(response.outcome)
    if planned.correction:
        if planned.method == "DELETE":
            return "deleted", "no longer in the case: deleted"
        return "deleted", "no longer in the case: marked entered-in-error"
    if response.status == 201 or code in HAPI_CREATED_CODES:
        return "created", None
    if planned.method in ("GET", "HEAD"):
        return "unchanged", None
    if (
        code is None
        and planned.method == "PUT"
        and response.status == 200
        and response.version_id == "1"
    ):
        return "unchanged", "no new version written (200 OK, still version 1)"
    return "updated", None


def entry_result(plan: PlannedEntry, response: EntryResponse) -> EntryResult:
    """The result of one entry the server answered."""
    outcome, message = classify_entry(plan, response)
    return EntryResult(
        full_url=plan.full_url,
        resource_type=response.resource_type or plan.resource_type,
        source=plan.source,
        outcome=outcome,
        status=response.status,
        location=response.location,
        version_id=response.version_id,
        message=message,
    )


def result_from_response(
    case_id: str, planned: Sequence[PlannedEntry], responses: Sequence[EntryResponse]
) -> CasePushResult:
    """The result of a transaction the server accepted."""
    entries = [entry_result(p, r) for p, r in zip(planned, responses, strict=True)]
    failed = [e for e in entries if e.outcome == "failed"]
    error = None
    if failed:
        error = f"case {case_id!r}: " + "; ".join(f"{e.source}: {e.message}" for e in failed)
    result = CasePushResult(case_id=case_id, ok=not failed, entries=entries, error=error)
    _log(result)
    return result


def result_from_answer(
    case_id: str, planned: Sequence[PlannedEntry], answer: Mapping[str, Any]
) -> CasePushResult:
    """The result of a transaction-response Bundle (``answer``) to ``planned``."""
    entries = parse_transaction_response(answer, expected_entries=len(planned))
    return result_from_response(case_id, planned, entries)


# --------------------------------------------------------------------------------------------
# Failure: trace OperationOutcome issues back to entries and case elements
# --------------------------------------------------------------------------------------------

_ENTRY_PATH = re.compile(r"Bundle\.entry\s*[\[(]\s*(\d+)\s*[\])](.*)")
_FHIRPATH_COMMENT = re.compile(r"/\*.*?\*/")
_CHOICE = re.compile(r"(\w+)\.ofType\((\w+)\)")


def _element_path(rest: str, resource_type: str) -> str | None:
    """``.resource.ofType(Observation).value.ofType(Quantity)`` → ``Observation.valueQuantity``."""
    rest = _FHIRPATH_COMMENT.sub("", rest).strip()
    if not rest.startswith(".resource"):
        return None
    rest = rest[len(".resource") :]
    rest = re.sub(r"^\.ofType\(\w+\)", "", rest)
    rest = _CHOICE.sub(lambda m: m.group(1) + m.group(2)[:1].upper() + m.group(2)[1:], rest)
    rest = rest.strip(".")
    return f"{resource_type}.{rest}" if rest else resource_type


def locate_issue(
    issue: Mapping[str, Any], planned: Sequence[PlannedEntry]
) -> tuple[int | None, str | None]:
    """``(entry index, element path)`` an OperationOutcome issue is about, as far as known.

    Evidence, strongest first: ``expression`` / ``location`` (``Bundle.entry[3].resource…``,
    FHIRPath indexes from 0); an entry index written in the diagnostics; the conditional URL of
    an entry quoted in the diagnostics (HAPI's 412 "Failed to UPDATE resource with match URL
    "Observation?identifier=…" because this search matched 2 resources"); an entry's
    ``fullUrl`` quoted in the diagnostics.
    """
    paths = [
        p
        for key in ("expression", "location")
        for p in (issue.get(key) or [])
        if isinstance(p, str)
    ]
    for path in paths:
        if m := _ENTRY_PATH.search(path):
            index = int(m.group(1))
            if index < len(planned):
                return index, _element_path(m.group(2), planned[index].resource_type)
    text = str(issue.get("diagnostics") or "")
    if m := _ENTRY_PATH.search(text):
        index = int(m.group(1))
        if index < len(planned):
            return index, None
    if text:
        decoded = unquote(text)
        for plan in planned:
            if plan.conditional and (plan.url in text or plan.url in decoded):
                return plan.index, None
        for plan in planned:
            if plan.full_url and plan.full_url in text:
                return plan.index, None
    return None, None


_STATUS_WORDS: Final[Mapping[int, str]] = {
    400: "invalid request",
    401: "not authorised",
    403: "forbidden",
    404: "not found",
    409: "conflict",
    413: "payload too large: the server caps the size of a transaction; send the case in "
    "parts with --max-entries N",
    412: "precondition failed: a conditional update matched more than one resource "
    "or a version check failed",
    422: "validation failed",
}
_MAX_PARTS = 10


def result_from_http_error(
    case_id: str, planned: Sequence[PlannedEntry], exc: FhirHttpError
) -> CasePushResult:
    """The result of a transaction the server rejected as a whole: every entry ``failed``."""
    status = exc.status_code
    issues = [i for i in ((exc.outcome or {}).get("issue") or []) if isinstance(i, Mapping)]
    serious = [i for i in issues if i.get("severity") in ("fatal", "error")] or issues
    per_entry: dict[int, list[str]] = {}
    parts: list[str] = []
    for issue in serious:
        index, element = locate_issue(issue, planned)
        text = issue_text(issue)
        if index is None:
            parts.append(text)
            continue
        plan = planned[index]
        where = f"{plan.source} ({element or plan.resource_type})"
        per_entry.setdefault(index, []).append(f"{element or plan.resource_type}: {text}")
        parts.append(f"{where}: {text}")
    if not parts:
        parts.append(str(exc))
    if len(parts) > _MAX_PARTS:
        parts = [*parts[:_MAX_PARTS], f"… and {len(parts) - _MAX_PARTS} more issues"]
    kind = _STATUS_WORDS.get(status, "rejected")
    error = f"case {case_id!r}: transaction rejected with HTTP {status} ({kind}): " + "; ".join(
        parts
    )
    rolled_back = f"not written: the transaction was rolled back (HTTP {status})"
    messages = {index: "; ".join(texts) for index, texts in per_entry.items()}
    entries = _failed_entries(planned, status, messages, rolled_back)
    result = CasePushResult(
        case_id=case_id,
        ok=False,
        entries=entries,
        error=error,
        status_code=status,
        exception=exc,
    )
    _log(result)
    return result


def result_from_error(
    case_id: str,
    bundle: Mapping[str, Any],
    sources: Mapping[str, str] | None,
    exc: BaseException,
) -> CasePushResult:
    """The result of a case that could not be pushed at all (transport, auth, bad bundle …)."""
    if isinstance(exc, FhirHttpError):
        try:
            return result_from_http_error(case_id, plan_entries(bundle, sources), exc)
        except ValueError:
            pass
    try:
        planned = plan_entries(bundle, sources)
    except ValueError:
        planned = []
    if isinstance(exc, FhirIvcError):
        error = f"case {case_id!r}: {exc}"
    else:
        error = f"case {case_id!r}: unexpected {type(exc).__name__}: {exc}"
    entries = _failed_entries(planned, None, {}, "not written: the case could not be pushed")
    result = CasePushResult(case_id=case_id, ok=False, entries=entries, error=error, exception=exc)
    _log(result)
    return result


def _failed_entries(
    planned: Sequence[PlannedEntry],
    status: int | None,
    messages: Mapping[int, str],
    default: str,
) -> list[EntryResult]:
    """Every planned entry ``failed``: its own message (by index) where known, else ``default``."""
    return [
        EntryResult(
            full_url=plan.full_url,
            resource_type=plan.resource_type,
            source=plan.source,
            outcome="failed",
            status=status,
            message=messages.get(plan.index, default),
        )
        for plan in planned
    ]


def _log(result: CasePushResult) -> None:
    """One line per case: case id, counts, status and failing element keys; no values."""
    counts = result.counts
    if result.ok:
        logger.info(
            "case %s pushed: %d created, %d updated, %d unchanged, %d deleted",
            result.case_id,
            counts["created"],
            counts["updated"],
            counts["unchanged"],
            counts["deleted"],
        )
        return
    if result.status_code:
        reason = f"HTTP {result.status_code}"
    elif result.exception is not None:
        reason = type(result.exception).__name__
    else:
        reason = "entries failed"
    elements = sorted(
        {
            e.source
            for e in result.entries
            if e.outcome == "failed" and e.message and not e.message.startswith("not written")
        }
    )
    logger.warning(
        "case %s failed: %s%s",
        result.case_id,
        reason,
        f" at {', '.join(elements)}" if elements else "",
    )
