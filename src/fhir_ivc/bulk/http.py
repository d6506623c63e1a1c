"""The asynchronous-request pattern of FHIR Bulk Data, over HTTP: kick off, poll, download.

``$import`` and ``$export`` both answer a kick-off (``Prefer: respond-async``) with ``202
Accepted`` and a status URL in ``Content-Location``, then ``202`` to every poll until the job
is done (``200`` with the result) or failed (``4xx``/``5xx`` with an OperationOutcome). This
module moves those requests; :mod:`fhir_ivc.bulk.imports` and :mod:`fhir_ivc.bulk.exports`
decide what to send and what the answers mean.

* **Polling** honours ``Retry-After`` (seconds or an HTTP date) on ``202``, ``429`` and ``503``,
  capped by ``max_wait`` (HAPI FHIR says 120 s whatever the job), and reports ``X-Progress``.
  A ``429``/``502``/``503``/``504`` or a transport error while polling is retried (the job goes
  on on the server), up to ``max_transient`` times in a row.
* **Downloads** are streamed to a file, never held in memory. A body shorter than its
  ``Content-Length``, a connection cut mid-body or a last line that is not complete JSON is a
  truncated download: it is fetched again (up to ``download_attempts`` times).
* **Bounds** (a hostile or broken server gets one clear error, not our memory, disk or time):
  every JSON answer (kick-off, poll, error) is read streamed within the client's
  :class:`~fhir_ivc.client.ResponseLimits` (``max_body_bytes`` and ``deadline`` per request,
  read by the client's own :class:`~fhir_ivc.client._core.BodyReader`); a download is cut at
  ``max_file_bytes`` (a larger ``Content-Length`` is refused before a byte is written), all
  downloads together at ``max_total_bytes``, and an NDJSON line at ``max_body_bytes``; the
  partial file is removed. Waiting for a job ends after ``job_deadline`` seconds, one
  download after ``download_deadline`` (the read ``timeout`` alone lets a drip go on).
* **Files** downloaded are created ``0600``: an export holds patients' data.
* **Credentials** go only to the server's own origin: an output file on another host (object
  storage, say) is fetched without them, and ``requiresAccessToken`` files elsewhere are refused.

Errors are the project's exceptions (:mod:`fhir_ivc.exceptions`); messages and log lines carry
URLs without their query string and never a body.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self

import httpx
import orjson

from fhir_ivc._types import ExcInfo
from fhir_ivc.bulk.ndjson import NDJSON_TYPE
from fhir_ivc.client import FHIR_JSON, USER_AGENT
from fhir_ivc.client._answers import first_issue_text
from fhir_ivc.client._core import DEFAULT_RESPONSE_LIMITS, BodyReader, RequestSpec, ResponseLimits
from fhir_ivc.client._errors import error_for_status, origin_of, outcome_of, redact_url
from fhir_ivc.client._retry import DEFAULT_RETRY
from fhir_ivc.exceptions import ConfigError, FhirHttpError, RequestError, TransportError

__all__ = [
    "DEFAULT_DOWNLOAD_DEADLINE",
    "DEFAULT_JOB_DEADLINE",
    "DEFAULT_MAX_FILE_BYTES",
    "BulkHttp",
    "BulkJobError",
    "JobStatus",
    "Progress",
]

logger = logging.getLogger("fhir_ivc.bulk")

_TRANSIENT: Final = frozenset({429, 502, 503, 504})
_CHUNK: Final = 64 * 1024

#: the largest output file downloaded (servers split an export into many smaller files)
DEFAULT_MAX_FILE_BYTES: Final = 4 * 1024**3
#: the longest wait for one job (kick-off to the end of polling), in seconds
DEFAULT_JOB_DEADLINE: Final = 24 * 3600.0
#: the longest download of one file, in seconds (4 GiB at ~1.2 MB/s)
DEFAULT_DOWNLOAD_DEADLINE: Final = 3600.0

#: called with the X-Progress text (or the status) and the seconds until the next poll
Progress = Callable[[str, float], None]


class BulkJobError(RequestError):
    """The server says the bulk job failed (or no longer knows it)."""

    def __init__(
        self, message: str, *, status_code: int | None, outcome: Mapping[str, Any] | None
    ) -> None:
        self.status_code = status_code
        self.outcome = dict(outcome) if outcome is not None else None
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """The answer to one poll."""

    status_code: int
    body: Any
    retry_after: float | None
    progress: str | None

    @property
    def done(self) -> bool:
        return self.status_code == 200


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


class BulkHttp:
    """An ``httpx.Client`` for one FHIR server's bulk operations (a context manager).

    ``sleep`` and ``transport`` are for tests. ``max_wait`` caps every wait between polls;
    ``min_wait`` is the wait when the server gives no ``Retry-After``. ``limits`` bound every
    JSON answer (the FHIR client's :class:`~fhir_ivc.client.ResponseLimits`; its
    ``max_body_bytes`` also bounds one line of a downloaded file), ``max_file_bytes`` one
    downloaded file, ``max_total_bytes`` (``None``: no bound) all downloads of this client
    together, ``job_deadline`` (seconds) a :meth:`wait` given no ``timeout`` of its own,
    ``download_deadline`` (seconds) one download, measured on ``limits.clock``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 60.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        min_wait: float = 1.0,
        max_wait: float = 10.0,
        max_transient: int = 10,
        download_attempts: int = 3,
        limits: ResponseLimits = DEFAULT_RESPONSE_LIMITS,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_total_bytes: int | None = None,
        job_deadline: float = DEFAULT_JOB_DEADLINE,
        download_deadline: float = DEFAULT_DOWNLOAD_DEADLINE,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"FHIR base URL must be an absolute http(s) URL, got {base_url!r}")
        if max_file_bytes < 1 or (max_total_bytes is not None and max_total_bytes < 1):
            raise ConfigError("the download limits must be positive")
        if job_deadline <= 0 or download_deadline <= 0:
            raise ConfigError("the job and download deadlines must be positive")
        self.limits = limits
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.job_deadline = job_deadline
        self.download_deadline = download_deadline
        #: bytes of the files downloaded so far (counted against ``max_total_bytes``)
        self.downloaded = 0
        self.base_url = str(url).rstrip("/")
        self._origin = origin_of(url)
        self._auth = auth
        self._sleep = sleep
        self.min_wait = min_wait
        self.max_wait = max_wait
        self.max_transient = max_transient
        self.download_attempts = download_attempts
        self.requests = 0
        headers = {"Accept": FHIR_JSON, "User-Agent": USER_AGENT}
        self._http = httpx.Client(
            timeout=timeout,
            verify=verify,
            transport=transport,
            headers=headers,
            follow_redirects=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        self._http.close()

    # -- plumbing ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    def _same_origin(self, url: str) -> bool:
        return origin_of(httpx.URL(url)) == self._origin

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        auth = self._auth if self._same_origin(str(request.url)) else None
        self.requests += 1
        try:
            return self._http.send(request, auth=auth, stream=stream)
        except httpx.HTTPError as exc:
            raise _transport_error(request, f"{type(exc).__name__}: {exc}") from exc

    def _receive(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; its answer with the body read within :attr:`limits`."""
        return self._read(request, self._send(request, stream=True))

    def _read(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        """The body of a streamed ``response``, read within :attr:`limits` (it is closed)."""
        body = BodyReader(RequestSpec(request.method, str(request.url)), self.limits)
        try:
            body.check_headers(response)
            for chunk in response.iter_bytes(_CHUNK):
                body.feed(chunk)
        except httpx.HTTPError as exc:
            raise _transport_error(
                request, f"{type(exc).__name__} while reading the answer"
            ) from exc
        finally:
            response.close()
        return body.response(response)

    def _error(self, request: httpx.Request, response: httpx.Response) -> RequestError:
        return error_for_status(
            response.status_code,
            outcome_of(response),
            method=request.method,
            url=str(request.url),
            reason=response.reason_phrase,
        )

    def _retry_after(self, response: httpx.Response) -> float | None:
        return DEFAULT_RETRY.parse_retry_after(response.headers.get("Retry-After"))

    def _wait(self, retry_after: float | None) -> float:
        return min(self.max_wait, retry_after if retry_after is not None else self.min_wait)

    # -- the asynchronous request pattern ------------------------------------------------------

    def kick_off(
        self,
        path: str,
        *,
        method: str = "GET",
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> str:
        """Send the kick-off request; the status URL (``Content-Location`` of the 202)."""
        headers = {"Prefer": "respond-async"}
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["Content-Type"] = FHIR_JSON
        request = self._http.build_request(
            method, self.url(path), params=params, headers=headers, content=content
        )
        for attempt in range(self.max_transient + 1):
            response = self._receive(request)
            if response.status_code == 429 and attempt < self.max_transient:
                # nothing was started: a 429 refuses the request (Bulk Data IG "rate limiting")
                delay = self._wait(self._retry_after(response))
                logger.info("%s: HTTP 429, trying again in %.1f s", redact_url(request.url), delay)
                self._sleep(delay)
                continue
            break
        if response.status_code != 202:
            if response.is_success:
                raise FhirHttpError(
                    f"{method} {redact_url(request.url)}: expected 202 Accepted to an "
                    f"asynchronous request, got HTTP {response.status_code}",
                    status_code=response.status_code,
                    request=(method, redact_url(request.url)),
                )
            raise self._error(request, response)
        location = response.headers.get("Content-Location")
        if not location:
            raise FhirHttpError(
                f"{method} {redact_url(request.url)}: 202 Accepted without a Content-Location "
                "(the status URL)",
                status_code=202,
                request=(method, redact_url(request.url)),
            )
        return self.url(location)

    def poll(self, status_url: str) -> JobStatus:
        """One ``GET`` of the status URL; raises :class:`BulkJobError` when the job failed."""
        request = self._http.build_request("GET", status_url)
        response = self._receive(request)
        status = response.status_code
        retry_after = self._retry_after(response)
        progress = response.headers.get("X-Progress")
        if status in (200, 202) or status in _TRANSIENT:
            return JobStatus(
                status, _json(response) if status == 200 else None, retry_after, progress
            )
        body = _json(response)
        outcome = body if isinstance(body, dict) else None
        detail = first_issue_text(outcome) if outcome else None
        if status in (404, 410):
            what = "no longer knows the job (expired, deleted or cancelled)"
        else:
            what = f"says the job failed (HTTP {status})"
        raise BulkJobError(
            f"the server {what}{': ' + detail if detail else ''}",
            status_code=status,
            outcome=outcome,
        )

    def wait(
        self,
        status_url: str,
        *,
        on_progress: Progress | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Any:
        """Poll ``status_url`` until the job is done; its final JSON body.

        ``timeout`` (seconds, default :attr:`job_deadline`) bounds the whole wait.
        """
        if timeout is None:
            timeout = self.job_deadline
        started = clock()
        transient = 0
        while True:
            try:
                answer = self.poll(status_url)
            except TransportError as exc:
                answer = None
                error: RequestError | None = exc
            else:
                error = None
            if answer is not None and answer.done:
                return answer.body
            if error is not None or (answer is not None and answer.status_code != 202):
                transient += 1
                if transient > self.max_transient:
                    if error is not None:
                        raise error
                    code = answer.status_code if answer is not None else None
                    raise BulkJobError(
                        f"polling {redact_url(status_url)}: HTTP {code} "
                        f"{self.max_transient + 1} times in a row",
                        status_code=code,
                        outcome=None,
                    )
            else:
                transient = 0
            delay = self._wait(answer.retry_after if answer is not None else None)
            if error is not None:
                delay = min(self.max_wait, self.min_wait * 2 ** min(transient, 6))
            if clock() - started + delay > timeout:
                raise BulkJobError(
                    f"the job did not finish within {timeout:.0f} s "
                    f"(status URL {redact_url(status_url)}; resume with it)",
                    status_code=None,
                    outcome=None,
                )
            if on_progress is not None:
                text = (
                    (answer.progress or f"HTTP {answer.status_code}")
                    if answer is not None
                    else f"transport error ({type(error).__name__})"
                )
                on_progress(text, delay)
            self._sleep(delay)

    def cancel(self, status_url: str) -> None:
        """``DELETE`` the status URL (ends the job and its files); errors are ignored."""
        with contextlib.suppress(RequestError):
            self._send(self._http.build_request("DELETE", status_url), stream=True).close()

    # -- downloads -----------------------------------------------------------------------------

    def download(self, url: str, dest: Path, *, requires_token: bool = True) -> int:
        """Stream one output file to ``dest``; returns its size in bytes.

        A truncated body is fetched again up to ``download_attempts`` times; then
        ``TransportError``. A file larger than ``max_file_bytes`` (or than what is left of
        ``max_total_bytes``), with a line longer than ``limits.max_body_bytes``, or still
        coming after ``download_deadline`` seconds, is a ``RequestError`` at once (not fetched
        again); the partial file is removed.
        """
        if requires_token and self._auth is not None and not self._same_origin(url):
            raise ConfigError(
                f"an output file is on another host ({redact_url(url)}) and requires the "
                "access token: fhir-ivc sends credentials only to the FHIR server itself"
            )
        problem = ""
        for attempt in range(1, self.download_attempts + 1):
            try:
                size = self._download_once(url, dest)
            except TransportError as exc:
                problem = str(exc)
                logger.warning(
                    "download %s attempt %d failed: %s", redact_url(url), attempt, problem
                )
                if attempt < self.download_attempts:
                    self._sleep(min(self.max_wait, self.min_wait * attempt))
            else:
                self.downloaded += size
                return size
        raise TransportError(
            f"GET {redact_url(url)}: the download failed {self.download_attempts} times "
            f"(last: {problem})",
            request=("GET", redact_url(url)),
            attempts=self.download_attempts,
        )

    def _download_once(self, url: str, dest: Path) -> int:
        request = self._http.build_request("GET", url, headers={"Accept": NDJSON_TYPE})
        response = self._send(request, stream=True)
        where = redact_url(url)
        tmp = dest.with_name(f".{dest.name}.part")  # created 0600: exported data is PHI
        cap, limit = self.max_file_bytes, f"the limit of {self.max_file_bytes} bytes per file"
        if self.max_total_bytes is not None and self.max_total_bytes - self.downloaded < cap:
            cap = max(0, self.max_total_bytes - self.downloaded)
            limit = (
                f"what is left ({cap}) of the limit of {self.max_total_bytes} bytes for all files"
            )
        max_line = self.limits.max_body_bytes
        clock, ends = self.limits.clock, self.limits.clock() + self.download_deadline
        try:
            if response.status_code != 200:
                raise self._error(request, self._read(request, response))
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) > cap:
                raise self._too_large(where, limit, f"{expected} bytes announced; not read")
            size = 0
            tail = bytearray()  # the bytes after the last newline so far (at most max_line)
            try:
                tmp.unlink(missing_ok=True)  # a killed run's, of whatever mode
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                with os.fdopen(os.open(tmp, flags, 0o600), "wb") as file:
                    for chunk in response.iter_bytes(_CHUNK):
                        size += len(chunk)
                        if size > cap:
                            raise self._too_large(where, limit, "cut off there")
                        if clock() > ends:
                            raise RequestError(
                                f"GET {where}: not downloaded within {self.download_deadline:g} "
                                f"s (the server is too slow or drips the file); cut off after "
                                f"{size} bytes",
                                request=("GET", where),
                            )
                        newline = chunk.rfind(b"\n")
                        if newline < 0:
                            line = len(tail) + len(chunk)
                        else:
                            # the line the chunk ends, the one it begins, and (only if a chunk
                            # may hold one too long) the lines inside it
                            first = chunk.find(b"\n")
                            line = max(len(tail) + first, len(chunk) - newline - 1)
                            if len(chunk) > max_line and first < newline:
                                inside = chunk[first + 1 : newline].split(b"\n")
                                line = max(line, *map(len, inside))
                        if line > max_line:
                            raise RequestError(
                                f"GET {where}: a line is longer than {max_line} bytes (the "
                                "largest answer: max_body_bytes, --max-response-bytes); not read",
                                request=("GET", where),
                            )
                        if newline >= 0:
                            tail = bytearray(chunk[newline + 1 :])
                        else:
                            tail += chunk
                        file.write(chunk)
            except httpx.HTTPError as exc:
                raise TransportError(
                    f"GET {where}: cut off after {size} bytes ({type(exc).__name__})",
                    request=("GET", where),
                ) from exc
            if expected is not None and expected.isdigit() and int(expected) != size:
                raise TransportError(
                    f"GET {where}: {size} of {expected} bytes (truncated)", request=("GET", where)
                )
            if tail.strip() and not _is_json(bytes(tail)):
                raise TransportError(
                    f"GET {where}: the last line is not complete JSON (truncated)",
                    request=("GET", where),
                )
            os.replace(tmp, dest)
            return size
        finally:
            response.close()
            if tmp.exists():
                tmp.unlink()

    @staticmethod
    def _too_large(where: str, limit: str, detail: str) -> RequestError:
        return RequestError(
            f"GET {where}: the file is larger than {limit} ({detail})", request=("GET", where)
        )


def _transport_error(request: httpx.Request, problem: str) -> TransportError:
    """``request`` failed on the wire (sending it, or reading its answer) with ``problem``."""
    where = redact_url(request.url)
    return TransportError(f"{request.method} {where}: {problem}", request=(request.method, where))


def _is_json(line: bytes) -> bool:
    """Whether a last line without a final newline is still a whole JSON value."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True
