"""The one exception tree of fhir_ivc.

::

    FhirIvcError
    ├── ConfigError                      bad settings / options / credentials files
    ├── CaseInputError (.case_id, .path, .reason)
    │                                    a case record that cannot be read or validated
    ├── MappingError (.case_id, .path)   a valid case that cannot be mapped
    │   └── UnmappedCodeError (.system, .code)
    ├── ResourceInvalidError (.issues)   an emitted/pulled resource failed validation
    └── RequestError (.request, .attempts)
                                         anything that went wrong talking to a server
        ├── AuthError
        │   └── AuthFailedError          401/403 after re-authorisation
        ├── TransportError               connect/read/write/timeout; retryable
        └── FhirHttpError (.response, .status_code, .outcome)
            ├── NotFoundError            404/410
            ├── ConflictError            409/412
            └── RetryableHttpError       408/429/5xx after retries were exhausted

``httpx`` exceptions are translated in exactly one place, ``fhir_ivc.client._core``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "AuthFailedError",
    "CaseInputError",
    "ConfigError",
    "ConflictError",
    "FhirHttpError",
    "FhirIvcError",
    "MappingError",
    "NotFoundError",
    "RequestError",
    "ResourceInvalidError",
    "RetryableHttpError",
    "TransportError",
    "UnmappedCodeError",
]


class FhirIvcError(Exception):
    """Base class of every error raised by fhir_ivc."""


class ConfigError(FhirIvcError):
    """Invalid configuration: options, URLs, credential files."""


class CaseInputError(FhirIvcError):
    """A case record could not be read or does not satisfy the case model.

    ``path`` is the dotted field path inside the case (``surgery.blood_loss_ml``), or ``""``
    when the record as a whole is unreadable (broken JSON, not an object).
    """

    def __init__(self, case_id: str | None, path: str, reason: str) -> None:
        self.case_id = case_id
        self.path = path
        self.reason = reason
        where = f"case {case_id!r}" if case_id else "case <unknown id>"
        at = f" at {path}" if path else ""
        super().__init__(f"{where}{at}: {reason}")


class MappingError(FhirIvcError):
    """A valid case record could not be mapped to FHIR (or back)."""

    def __init__(self, message: str, *, case_id: str | None = None, path: str = "") -> None:
        self.case_id = case_id
        self.path = path
        super().__init__(message)


class UnmappedCodeError(MappingError):
    """A code has no entry in the terminology tables: never replaced by a placeholder."""

    def __init__(self, system: str, code: str, *, path: str = "") -> None:
        self.system = system
        self.code = code
        super().__init__(f"no mapping for code {system}|{code}", path=path)


class ResourceInvalidError(FhirIvcError):
    """A resource failed validation; ``issues`` are OperationOutcome-shaped dicts."""

    def __init__(self, message: str, issues: list[dict[str, Any]] | None = None) -> None:
        self.issues = issues or []
        super().__init__(message)


class RequestError(FhirIvcError):
    """Base of all errors talking to a FHIR server.

    ``request`` is ``(method, url)`` with the query string removed (queries can carry patient
    identifiers); ``attempts`` is how many times the request was sent, retries included.
    """

    def __init__(
        self, message: str, *, request: tuple[str, str] | None = None, attempts: int = 1
    ) -> None:
        self.request = request
        self.attempts = attempts
        super().__init__(message)


class AuthError(RequestError):
    """Authentication could not be set up or was refused.

    ``ends_run`` is true when every other request of the run would be refused the same way
    (SMART: the token endpoint refused the client, a renewed token was refused, the token's
    scope does not allow the request): push and pull then stop with this one error instead
    of failing case after case.
    """

    def __init__(
        self,
        message: str,
        *,
        request: tuple[str, str] | None = None,
        attempts: int = 1,
        ends_run: bool = False,
    ) -> None:
        self.ends_run = ends_run
        super().__init__(message, request=request, attempts=attempts)


class AuthFailedError(AuthError):
    """The server refused the credentials (401/403) after one re-authorisation."""


class TransportError(RequestError):
    """Network-level failure (connect, read, write, timeout). Safe operations are retried."""


class FhirHttpError(RequestError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        outcome: dict[str, Any] | None = None,
        request: tuple[str, str] | None = None,
        attempts: int = 1,
    ) -> None:
        self.status_code = status_code
        self.outcome = outcome
        super().__init__(message, request=request, attempts=attempts)


class NotFoundError(FhirHttpError):
    """404 Not Found or 410 Gone."""


class ConflictError(FhirHttpError):
    """409 Conflict or 412 Precondition Failed (e.g. several matches of a conditional update)."""


class RetryableHttpError(FhirHttpError):
    """408/429/5xx that was still failing when the retry budget ran out."""
