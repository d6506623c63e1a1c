"""What a request is called in logs and errors, and the exception an error status becomes.

URLs are shown without user info and query string (a query can carry a patient identifier);
the message of an error comes from the first OperationOutcome issue. Pure; used by
:mod:`fhir_ivc.client._core`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

from fhir_ivc.client._answers import first_issue_text
from fhir_ivc.client._retry import is_retryable_status
from fhir_ivc.exceptions import (
    AuthFailedError,
    ConflictError,
    FhirHttpError,
    NotFoundError,
    RequestError,
    RetryableHttpError,
)

__all__ = ["error_for_status", "origin_of", "outcome_of", "redact_httpx_logs", "redact_url"]

JsonDict = dict[str, Any]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact_url(url: str | httpx.URL) -> str:
    """``url`` without query string and fragment: safe for logs and exception messages."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None))


class _RedactQueryFilter(logging.Filter):
    """Removes query strings from URLs in httpx's own ``HTTP Request: GET <url> …`` lines.

    httpx logs every request URL at INFO on the ``httpx`` logger, query string included, and a
    FHIR search query can carry a patient identifier. The filter rewrites the record's
    arguments; it never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, httpx.URL) for a in args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in args)
        return True


def redact_httpx_logs() -> None:
    """Install :class:`_RedactQueryFilter` on the ``httpx`` logger (idempotent)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQueryFilter) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactQueryFilter())


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


# --------------------------------------------------------------------------------------------
# OperationOutcome → message → exception
# --------------------------------------------------------------------------------------------


def outcome_of(response: httpx.Response) -> JsonDict | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def error_for_status(
    status: int,
    outcome: JsonDict | None,
    *,
    method: str,
    url: str,
    reason: str = "",
    attempts: int = 1,
) -> RequestError:
    """The exception for an error status; the message comes from the first issue.

    404/410 → NotFoundError, 409/412 → ConflictError, 401/403 → AuthFailedError (the auth
    flow has already re-authorised once where it can), 408/429/5xx → RetryableHttpError
    (the retries are exhausted, or the request was not repeatable), anything else
    FhirHttpError.
    """
    where = redact_url(url)
    status_text = f"HTTP {status} {reason}".rstrip()
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    detail = first_issue_text(outcome)
    message = f"{method} {where}: {status_text}{tries}"
    if detail:
        message += f": {detail}"
    request = (method, where)
    if status in (401, 403):
        hint = (
            "the server refused the credentials"
            if status == 401
            else "the credentials are not allowed to do this"
        )
        return AuthFailedError(f"{message} ({hint})", request=request, attempts=attempts)
    cls: type[FhirHttpError]
    if status in (404, 410):
        cls = NotFoundError
    elif status in (409, 412):
        cls = ConflictError
    elif is_retryable_status(status):
        cls = RetryableHttpError
    else:
        cls = FhirHttpError
    return cls(message, status_code=status, outcome=outcome, request=request, attempts=attempts)
