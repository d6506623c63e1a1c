"""Sans-I/O core shared by :class:`AsyncFhirClient` and :class:`FhirClient`.

Everything here is pure: it builds requests, reads responses that have already been received,
maps status codes and OperationOutcomes to the exception tree, and decides whether and when to
retry (what the answers *say* is read in :mod:`fhir_ivc.client._answers`). The two client
shells only move bytes and sleep. This is the **one** place where
``httpx`` exceptions are translated into :mod:`fhir_ivc.exceptions` (always ``raise ... from exc``).

Logging goes to ``fhir_ivc.client`` and carries no PHI: methods, URLs without their query
string, status codes and attempt counts. Never bodies, never headers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import orjson

from fhir_ivc._version import __version__
from fhir_ivc.client._errors import (
    error_for_status,
    origin_of,
    outcome_of,
    redact_httpx_logs,
    redact_url,
)
from fhir_ivc.client._retry import (
    DEFAULT_RETRY,
    RetryPolicy,
    is_repeatable,
    is_repeatable_transaction,
    is_retryable_status,
)
from fhir_ivc.exceptions import (
    ConfigError,
    FhirHttpError,
    RequestError,
    TransportError,
)
from fhir_ivc.fhir.ids import is_id, is_resource_type

__all__ = [
    "DEFAULT_RESPONSE_LIMITS",
    "DEFAULT_RETRY",
    "FHIR_JSON",
    "USER_AGENT",
    "BodyReader",
    "ClientCore",
    "JsonDict",
    "QueryParams",
    "RequestSpec",
    "ResponseLimits",
    "RetryPolicy",
    "RetryState",
    "error_for_status",
    "is_repeatable",
    "is_repeatable_transaction",
    "redact_httpx_logs",
    "redact_url",
]

logger = logging.getLogger("fhir_ivc.client")

JsonDict = dict[str, Any]
QueryValue = str | int | float | bool
QueryParams = Mapping[str, QueryValue | Sequence[QueryValue]]

#: Media type sent in ``Accept`` and ``Content-Type``; pins the FHIR version to R4 (4.0).
FHIR_JSON: Final = "application/fhir+json; fhirVersion=4.0"
USER_AGENT: Final = f"fhir-ivc/{__version__}"

# --------------------------------------------------------------------------------------------
# Bounds on answers: size, time, pages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ResponseLimits:
    """What one answer of a server may cost; a hostile or broken server hits these.

    ``max_body_bytes``
        the body, after decompression (so a gzip bomb is cut too). A larger
        ``Content-Length`` is refused before a byte of the body is read; a body that grows
        past the limit while streaming is dropped there.
    ``deadline``
        seconds for one attempt, from sending the request to the last byte of the answer. The
        ``timeout`` of the client bounds each read; this bounds a server that drips a byte at
        a time and so never lets a read time out.
    ``max_pages``
        pages of one search or ``$everything`` (next links that never end).

    ``clock`` is injectable for tests.
    """

    max_body_bytes: int = 64 * 1024 * 1024
    deadline: float = 300.0
    max_pages: int = 1000
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.max_pages < 1 or self.deadline <= 0:
            raise ConfigError("ResponseLimits must be positive")


DEFAULT_RESPONSE_LIMITS: Final = ResponseLimits()

#: media types of FHIR JSON answers (R4 §3.1.0.1.10); "+json" suffixes are accepted as JSON
_JSON_TYPES: Final = frozenset({"application/fhir+json", "application/json"})


class BodyReader:
    """Collects one streamed answer within :class:`ResponseLimits` (the shells feed it).

    Use::

        body = core.body_reader(spec)           # starts the deadline
        response = send(request, stream=True)
        body.check_headers(response)
        for chunk in response.iter_bytes():
            body.feed(chunk)
        response = body.response(response)      # the answer with its body, read
    """

    def __init__(self, spec: RequestSpec, limits: ResponseLimits) -> None:
        self._spec = spec
        self._limits = limits
        self._ends = limits.clock() + limits.deadline
        self._chunks: list[bytes] = []
        self._size = 0

    def _error(self, problem: str) -> RequestError:
        where = redact_url(self._spec.url)
        return RequestError(
            f"{self._spec.method} {where}: {problem}", request=(self._spec.method, where)
        )

    def _check_time(self) -> None:
        if self._limits.clock() > self._ends:
            where = redact_url(self._spec.url)
            raise TransportError(
                f"{self._spec.method} {where}: no complete answer within "
                f"{self._limits.deadline:g} s (the server is too slow or drips its answer)",
                request=(self._spec.method, where),
            )

    def check_headers(self, response: httpx.Response) -> None:
        """Refuse a declared body over the limit, and an answer past the deadline."""
        self._check_time()
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._limits.max_body_bytes:
            raise self._too_large()

    def _too_large(self) -> RequestError:
        return self._error(
            f"the answer is larger than {self._limits.max_body_bytes} bytes; not read"
        )

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limits.max_body_bytes:
            self._chunks.clear()
            raise self._too_large()
        self._check_time()
        self._chunks.append(chunk)

    def response(self, streamed: httpx.Response) -> httpx.Response:
        """The answer with its (decoded) body in memory, as a non-streaming response."""
        headers = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=b"".join(self._chunks),
            request=streamed.request,
            extensions=streamed.extensions,
        )


# --------------------------------------------------------------------------------------------
# Requests and the per-request retry state machine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSpec:
    """Everything a shell needs to build one ``httpx.Request`` (possibly several times)."""

    method: str
    url: str
    params: QueryParams | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    repeatable: bool = False

    @property
    def full_url(self) -> str:
        """The URL with ``params`` merged in, as httpx will send it."""
        url = httpx.URL(self.url)
        if self.params:
            url = url.copy_merge_params(dict(self.params))
        return str(url)


# httpx transport errors that may be retried at all; ConnectError/ConnectTimeout/PoolTimeout
# happen before a single byte of the request left this machine, so they are retried even for
# requests that are not repeatable.
_RETRYABLE_TRANSPORT: Final = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RetryState:
    """Drives one logical request through its attempts; the shells feed it what happened.

    Use::

        state = core.start(spec)
        while True:
            try:
                response = send(build(spec))
            except httpx.HTTPError as exc:
                delay = state.after_exception(exc)   # raises the translated error when final
            else:
                delay = state.after_response(response)  # raises the mapped error when final
                if delay is None:
                    return response
            sleep(delay)
    """

    def __init__(self, spec: RequestSpec, policy: RetryPolicy) -> None:
        self.spec = spec
        self.policy = policy
        self.attempts = 0
        self._where = redact_url(spec.url)

    def begin_attempt(self) -> int:
        self.attempts += 1
        return self.attempts

    def _can_retry(self) -> bool:
        return self.attempts < self.policy.max_attempts

    def after_response(self, response: httpx.Response) -> float | None:
        """``None`` on success, a delay in seconds to retry, or raises the mapped error."""
        status = response.status_code
        logger.debug(
            "%s %s -> %d (attempt %d)", self.spec.method, self._where, status, self.attempts
        )
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            raise self._redirect(response)
        if is_retryable_status(status) and self.spec.repeatable and self._can_retry():
            delay = self.policy.delay(
                self.attempts, status=status, retry_after=response.headers.get("Retry-After")
            )
            logger.warning(
                "%s %s: HTTP %d, retrying in %.2fs (attempt %d of %d)",
                self.spec.method,
                self._where,
                status,
                delay,
                self.attempts + 1,
                self.policy.max_attempts,
            )
            return delay
        if is_retryable_status(status) and not self.spec.repeatable:
            logger.warning(
                "%s %s: HTTP %d, not retried: the request is not safe to repeat",
                self.spec.method,
                self._where,
                status,
            )
        raise error_for_status(
            status,
            outcome_of(response),
            method=self.spec.method,
            url=self.spec.url,
            reason=response.reason_phrase,
            attempts=self.attempts,
        )

    def _redirect(self, response: httpx.Response) -> FhirHttpError:
        """Redirects are never followed: credentials must not travel to where they point.

        The message names the target's origin only (its path and query may carry data).
        """
        location = response.headers.get("Location", "")
        try:
            target = httpx.URL(self.spec.url).join(location) if location else None
        except httpx.InvalidURL:
            target = None
        to = "an unreadable location"
        if target is not None and target.host:
            scheme, host, port = origin_of(target)
            same = origin_of(target) == origin_of(httpx.URL(self.spec.url))
            to = f"{scheme}://{host}:{port}" + (" (same server)" if same else " (another host)")
        return FhirHttpError(
            f"{self.spec.method} {self._where}: HTTP {response.status_code} redirect to {to} "
            "not followed: redirects are refused so that credentials never follow them "
            "(give the final base URL)",
            status_code=response.status_code,
            request=(self.spec.method, self._where),
            attempts=self.attempts,
        )

    def after_exception(self, exc: httpx.HTTPError) -> float:
        """A delay in seconds to retry after a transport failure, or raises the translation."""
        kind = type(exc).__name__
        retryable = isinstance(exc, _RETRYABLE_TRANSPORT) and (
            self.spec.repeatable or isinstance(exc, _NOT_SENT)
        )
        if retryable and self._can_retry():
            delay = self.policy.backoff(self.attempts)
            logger.warning(
                "%s %s: %s, retrying in %.2fs (attempt %d of %d)",
                self.spec.method,
                self._where,
                kind,
                delay,
                self.attempts + 1,
                self.policy.max_attempts,
            )
            return delay
        raise self.translate(exc) from exc

    def translate(self, exc: httpx.HTTPError) -> RequestError:
        """The exception tree's equivalent of an ``httpx`` error, the most specific one."""
        request = (self.spec.method, self._where)
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        prefix = f"{self.spec.method} {self._where}: "
        if isinstance(exc, httpx.TransportError):
            what = _TRANSPORT_WORDS.get(type(exc), "transport error")
            detail = str(exc).strip()
            message = f"{prefix}{what}{tries}" + (f" ({detail})" if detail else "")
            return TransportError(message, request=request, attempts=self.attempts)
        message = f"{prefix}{type(exc).__name__}{tries}: {exc}"
        return RequestError(message, request=request, attempts=self.attempts)


_TRANSPORT_WORDS: Final[Mapping[type[Exception], str]] = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "timed out waiting for a pooled connection",
    httpx.ConnectError: "connection failed",
    httpx.ReadError: "connection error while reading the response",
    httpx.WriteError: "connection error while sending the request",
    httpx.CloseError: "connection error while closing",
    httpx.RemoteProtocolError: "server broke the HTTP protocol (connection dropped?)",
    httpx.LocalProtocolError: "invalid HTTP request",
    httpx.UnsupportedProtocol: "unsupported URL scheme",
    httpx.ProxyError: "proxy error",
}


class ClientCore:
    """Request building and response reading for one FHIR base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        retry: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        limits: ResponseLimits = DEFAULT_RESPONSE_LIMITS,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigError(f"invalid FHIR base URL {base_url!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"FHIR base URL must be an absolute http(s) URL, got {base_url!r}")
        if url.query or url.fragment:
            raise ConfigError("FHIR base URL must not carry a query string or fragment")
        self.base_url = str(url).rstrip("/")
        self._base = httpx.URL(self.base_url + "/")
        self.origin = origin_of(url)
        self.retry = retry
        self.limits = limits
        self.headers: dict[str, str] = {"Accept": FHIR_JSON, "User-Agent": USER_AGENT}
        self.headers.update(headers or {})
        redact_httpx_logs()

    def warn_if_insecure(self, *, has_auth: bool, verify: object) -> None:
        """Log (never block) setups that expose credentials or trust any certificate."""
        scheme, host, _ = self.origin
        if verify is False and scheme == "https":
            logger.warning("TLS certificate verification is OFF for %s", self.base_url)
        if has_auth and scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
            logger.warning("credentials will be sent unencrypted to %s (plain http)", self.base_url)

    # -- requests ------------------------------------------------------------------------------

    def url(self, path: str = "") -> str:
        """``base_url/path``; ``path`` is relative to the base (``Patient/1``, ``metadata``)."""
        if "://" in path or path.startswith("//"):
            raise ValueError(f"expected a path relative to the base URL, got {path!r}")
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams | None = None,
        body: Any = None,
    ) -> RequestSpec:
        method = method.upper()
        headers = dict(self.headers)
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = FHIR_JSON
        return RequestSpec(
            method=method,
            url=url,
            params=params,
            headers=headers,
            content=content,
            repeatable=is_repeatable(method, body),
        )

    def start(self, spec: RequestSpec) -> RetryState:
        return RetryState(spec, self.retry)

    def body_reader(self, spec: RequestSpec) -> BodyReader:
        """A reader for the answer to one attempt of ``spec``: its deadline starts now."""
        return BodyReader(spec, self.limits)

    def check_pages(self, pages: int, next_url: str, label: str) -> None:
        """Refuse to fetch page ``pages + 1`` when ``pages`` is already the limit."""
        if pages >= self.limits.max_pages:
            where = redact_url(next_url)
            raise RequestError(
                f"{label}: more than {self.limits.max_pages} pages, the server's next links "
                f"do not end (next: GET {where})",
                request=("GET", where),
            )

    @staticmethod
    def check_type(resource_type: str) -> str:
        if not is_resource_type(resource_type):
            raise ValueError(f"not a FHIR resource type: {resource_type!r}")
        return resource_type

    @staticmethod
    def check_id(resource_id: str) -> str:
        if not is_id(resource_id):
            raise ValueError(f"not a FHIR id ([A-Za-z0-9-.]{{1,64}}): {resource_id!r}")
        return resource_id

    def operation_path(self, path: str) -> str:
        """Validate an operation path such as ``Patient/123/$everything`` or ``$meta``."""
        parts = path.strip("/").split("/")
        if not parts[-1].startswith("$") or len(parts[-1]) < 2:
            raise ValueError(f"operation path must end in $name, got {path!r}")
        if len(parts) > 1:
            self.check_type(parts[0])
        if len(parts) == 3:
            self.check_id(parts[1])
        if len(parts) > 3:
            raise ValueError(f"operation path has too many segments: {path!r}")
        return self.url("/".join(parts))

    # -- responses -----------------------------------------------------------------------------

    @staticmethod
    def json_body(response: httpx.Response, spec: RequestSpec) -> JsonDict:
        """The JSON object of a successful response (``{}`` when there is no body)."""
        if not response.content:
            return {}
        content_type = response.headers.get("Content-Type", "")
        media = content_type.partition(";")[0].strip().lower()
        if media and media not in _JSON_TYPES and not media.endswith("+json"):
            raise RequestError(
                f"{spec.method} {redact_url(spec.url)}: HTTP {response.status_code} answer is "
                f"not JSON but {media[:60]!r} (expected application/fhir+json)",
                request=(spec.method, redact_url(spec.url)),
            )
        try:
            # orjson: a clean error, not a RecursionError, for a deeply nested answer, and
            # refuses lone surrogates and NaN, which no FHIR resource may hold
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise RequestError(
                f"{spec.method} {redact_url(spec.url)}: HTTP {response.status_code} answer is "
                f"not JSON ({exc.msg}; Content-Type {content_type[:60] or 'none'})",
                request=(spec.method, redact_url(spec.url)),
            ) from exc
        if not isinstance(body, dict):
            raise RequestError(
                f"{spec.method} {redact_url(spec.url)}: expected a JSON object",
                request=(spec.method, redact_url(spec.url)),
            )
        return body

    @staticmethod
    def expect_bundle(body: JsonDict, bundle_type: str, spec: RequestSpec) -> JsonDict:
        if body.get("resourceType") != "Bundle" or body.get("type") != bundle_type:
            got = f"{body.get('resourceType')}/{body.get('type')}"
            raise RequestError(
                f"{spec.method} {redact_url(spec.url)}: expected a {bundle_type} Bundle, got {got}",
                request=(spec.method, redact_url(spec.url)),
            )
        return body

    def next_link(self, page: Mapping[str, Any]) -> str | None:
        """Absolute URL of ``Bundle.link[relation=next]``, resolved against the base URL.

        Refuses a link to another scheme, host or port than the base URL: following it would
        send our credentials to a server we were never configured to talk to.
        """
        for link in page.get("link") or []:
            if not isinstance(link, Mapping) or link.get("relation") != "next":
                continue
            raw = link.get("url")
            if not isinstance(raw, str) or not raw:
                return None
            try:
                target = self._base.join(raw)
            except httpx.InvalidURL as exc:
                raise RequestError(f"search next link is not a valid URL: {exc}") from exc
            if origin_of(target) != self.origin:
                scheme, host, port = origin_of(target)
                raise RequestError(
                    f"refusing to follow search next link to {scheme}://{host}:{port}: "
                    f"it is not the FHIR server at {self.base_url} "
                    "(credentials would be sent to another origin)",
                    request=("GET", redact_url(target)),
                )
            return str(target)
        return None
