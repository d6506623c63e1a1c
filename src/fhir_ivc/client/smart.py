"""SMART Backend Services: OAuth 2.0 client credentials with a signed JWT client assertion.

:class:`SmartBackendAuth` is an ``httpx.Auth`` for both client shells (sync and async). It

* finds the token endpoint: the one given, or ``token_endpoint`` of
  ``[base]/.well-known/smart-configuration`` (read once);
* asks it for an access token with a fresh client assertion (RFC 7523: RS384 or ES384, a new
  ``jti`` each time, ``exp`` at most five minutes ahead, the key's ``kid`` in the header);
* keeps the token and shares it between all concurrent requests: one lock, so a hundred
  workers starting together make one token request, not a hundred (EHRs rate-limit their
  token endpoints); the token is renewed a little before ``expires_in`` runs out;
* on a 401 from the FHIR server gets one new token and sends the request once more. When
  other requests were refused with the same token at the same time, only the first asks for a
  new one. A 401 with a token that was itself just renewed ends it: every later request fails
  at once with the same :class:`~fhir_ivc.exceptions.AuthFailedError`, without asking again;
* turns a refusal by the token endpoint (``invalid_client``, ``invalid_scope``, ...) into one
  :class:`~fhir_ivc.exceptions.AuthError` naming the client, key id, scope and the reason,
  and remembers it: the run stops instead of hammering the endpoint.

Transient token endpoint failures (network errors, 429, 5xx) are tried three times in all,
backing off. The key, the assertions and the tokens never appear in a log line, an exception
message or a ``repr()``; log lines name the client id, key id, scope and token URL only.
Assertions and tokens travel only over https, or plain http to a loopback address.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import orjson

from fhir_ivc.client._core import redact_url
from fhir_ivc.client._smart_keys import (
    ASSERTION_TYPE,
    MAX_ASSERTION_LIFETIME_S,
    SigningKey,
    public_jwks,
)
from fhir_ivc.exceptions import AuthError, AuthFailedError, ConfigError

__all__ = [
    "DEFAULT_PULL_SCOPE",
    "DEFAULT_PUSH_SCOPE",
    "SigningKey",
    "SmartBackendAuth",
    "public_jwks",
]

logger = logging.getLogger("fhir_ivc.client")

#: SMART v2 system scopes: read and search for pull/validate, everything for push.
DEFAULT_PULL_SCOPE = "system/*.rs"
DEFAULT_PUSH_SCOPE = "system/*.cruds"

_MAX_TOKEN_ANSWER_BYTES = 64 * 1024
_TOKEN_ATTEMPTS = 3
_DEFAULT_EXPIRES_IN_S = 300
_LOOPBACK_NAMES = ("localhost",)


def _system_clock() -> float:
    """Wall-clock seconds: assertions carry ``iat``/``exp`` the server checks against its own."""
    return time.time()


@dataclass(frozen=True, repr=False)
class _Token:
    value: str
    expires_at: float
    refresh_at: float
    scope: str
    #: obtained after a 401: if this one is refused as well, the server will not take ours
    renewed: bool

    @property
    def header(self) -> str:
        return f"Bearer {self.value}"


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_secure_url(url: str, what: str) -> str:
    """``url`` if it is https, or http to a loopback address; else ConfigError."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise ConfigError(
        f"{what} {redact_url(url)} is not https: client assertions and tokens travel only "
        "over https (or plain http to this machine)"
    )


def _clean(text: object, limit: int = 200) -> str:
    """A server's text fit for one log line: printable, bounded."""
    value = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    return value[:limit] + ("…" if len(value) > limit else "")


def _bearer_error(response: httpx.Response) -> str:
    """``error`` and ``error_description`` of a ``WWW-Authenticate: Bearer`` header, if any."""
    header = response.headers.get("WWW-Authenticate", "")
    fields: dict[str, str] = {}
    for part in header.removeprefix("Bearer").split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip().strip('"')
    error = fields.get("error", "")
    description = fields.get("error_description", "")
    return _clean(f"{error}: {description}" if error and description else error or description)


#: what a shell sends back into :meth:`SmartBackendAuth._fetch_steps` after a step: the
#: answer and its body, the transport error, or ``None`` after a back-off
_Outcome = tuple[httpx.Response, bytes] | httpx.HTTPError | None
_FetchSteps = Generator[httpx.Request | float, Any, _Token]


class _Steps:
    """Drives the steps of :meth:`SmartBackendAuth._fetch_steps` for either shell.

    ``next`` is the step to carry out (a request, or a back-off in seconds), ``None`` once the
    token is there; ``after(outcome)`` hands the step's outcome back (an error is thrown in).
    """

    def __init__(self, steps: _FetchSteps) -> None:
        self._steps = steps
        self._token: _Token | None = None
        self.next: httpx.Request | float | None = self._move(lambda: next(steps))

    def _move(self, move: Callable[[], httpx.Request | float]) -> httpx.Request | float | None:
        try:
            return move()
        except StopIteration as done:
            self._token = done.value
            return None

    def after(self, outcome: _Outcome) -> None:
        if isinstance(outcome, httpx.HTTPError):
            self.next = self._move(lambda: self._steps.throw(outcome))
        else:
            self.next = self._move(lambda: self._steps.send(outcome))

    def token(self) -> _Token:
        if self._token is None:
            raise RuntimeError("the token steps have not finished")
        return self._token


class SmartBackendAuth(httpx.Auth):
    """SMART Backend Services credentials for :class:`~fhir_ivc.client.FhirClient` and its
    async twin; give ``token_url``, or ``fhir_base_url`` to discover it.

    ``transport``/``async_transport`` (tests) carry the token and discovery requests;
    ``clock``, ``sleep`` and ``asleep`` replace ``time.time`` and the back-off sleeps (tests).
    ``token_requests`` counts the token requests sent.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        client_id: str,
        key: SigningKey,
        scope: str,
        *,
        token_url: str | None = None,
        fhir_base_url: str | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        assertion_lifetime_s: int = 240,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not client_id.strip():
            raise ConfigError("SMART client id is empty")
        if not scope.split():
            raise ConfigError("SMART scope is empty")
        if token_url is None and fhir_base_url is None:
            raise ConfigError("SMART auth needs a token URL or the FHIR base URL to discover it")
        if not 1 <= assertion_lifetime_s <= MAX_ASSERTION_LIFETIME_S:
            raise ConfigError(f"assertion lifetime must be 1..{MAX_ASSERTION_LIFETIME_S} s")
        self.client_id = client_id.strip()
        self.key = key
        self.scope = " ".join(scope.split())
        self._token_url = check_secure_url(token_url, "token URL") if token_url else None
        self._base = fhir_base_url.rstrip("/") if fhir_base_url else None
        #: the token and discovery requests' client settings, the same in both shells
        self._http_options: dict[str, Any] = {
            "timeout": timeout,
            "verify": verify,
            "follow_redirects": False,
        }
        self._lifetime = assertion_lifetime_s
        self._transport = transport
        self._async_transport = async_transport
        self._clock = clock or _system_clock
        self._sleep = sleep
        self._asleep = asleep
        self._token: _Token | None = None
        self._failure: AuthError | None = None
        self._lock = threading.Lock()
        self._async_lock: anyio.Lock | None = None
        self.token_requests = 0

    def __repr__(self) -> str:
        return (
            f"SmartBackendAuth(client_id={self.client_id!r}, kid={self.key.kid!r}, "
            f"alg={self.key.alg!r}, scope={self.scope!r})"
        )

    @property
    def source(self) -> str:
        """What to show about these credentials (never a secret)."""
        return f"SMART client {self.client_id!r} (key {self.key.kid}, {self.key.alg})"

    # -- the decisions, shared by both shells ----------------------------------------------------

    def _usable(self, refused: _Token | None) -> _Token | None:
        """The held token if it can be sent (not near expiry, not the refused one)."""
        failure = self._failure
        if failure is not None:
            raise type(failure)(
                str(failure), request=failure.request, attempts=failure.attempts, ends_run=True
            )
        token = self._token
        if token is None or token is refused or self._clock() >= token.refresh_at:
            return None
        return token

    def _token_request(self, token_url: str) -> httpx.Request:
        assertion = self.key.assertion(
            client_id=self.client_id,
            token_url=token_url,
            now=self._clock(),
            lifetime_s=self._lifetime,
        )
        self.token_requests += 1
        return httpx.Request(
            "POST",
            token_url,
            data={
                "grant_type": "client_credentials",
                "scope": self.scope,
                "client_id": self.client_id,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
            headers={"Accept": "application/json"},
        )

    def _refusal(self, token_url: str, status: int, body: Any) -> AuthError:
        error = description = ""
        if isinstance(body, dict):
            error = _clean(body.get("error", ""), 60)
            description = _clean(body.get("error_description", ""))
        hints = {
            "invalid_client": (
                f"the server does not accept client {self.client_id!r} with key "
                f"{self.key.kid!r}: an unknown or revoked client, a key it has not registered, "
                "or an assertion it finds expired (check this machine's clock)"
            ),
            "invalid_scope": f"scope {self.scope!r} is not granted to client {self.client_id!r}",
            "unauthorized_client": (
                f"client {self.client_id!r} may not use the client_credentials grant"
            ),
        }
        text = f"HTTP {status}" + (f" {error}" if error else "")
        if description:
            text += f": {description}"
        hint = hints.get(error)
        return AuthError(
            f"SMART token request to {redact_url(token_url)} refused: {text}"
            + (f" ({hint})" if hint else ""),
            request=("POST", redact_url(token_url)),
        )

    def _accept(
        self, token_url: str, response: httpx.Response, body: bytes, renewed: bool
    ) -> _Token:
        """The token of a 200 answer, else raise the refusal (remembered)."""
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        if response.status_code != 200:
            raise self._remember(self._refusal(token_url, response.status_code, parsed))
        where = redact_url(token_url)
        if not isinstance(parsed, dict):
            raise self._remember(AuthError(f"SMART token endpoint {where}: answer is not JSON"))
        value = parsed.get("access_token")
        kind = str(parsed.get("token_type", "")).lower()
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise self._remember(AuthError(f"SMART token endpoint {where}: no usable access_token"))
        if kind != "bearer":
            raise self._remember(
                AuthError(
                    f"SMART token endpoint {where}: token_type {_clean(kind, 30)!r}, not Bearer"
                )
            )
        expires_in = parsed.get("expires_in", _DEFAULT_EXPIRES_IN_S)
        if not isinstance(expires_in, int | float) or expires_in <= 0:
            expires_in = _DEFAULT_EXPIRES_IN_S
        now = self._clock()
        granted = _clean(parsed.get("scope", self.scope), 500)
        if granted.split() != self.scope.split():
            logger.info("SMART token: granted scope %r (asked for %r)", granted, self.scope)
        # renew ahead of expiry: a quarter of the lifetime, at most a minute
        margin = min(60.0, float(expires_in) / 4)
        logger.info(
            "SMART token for client %r from %s, expires in %d s", self.client_id, where, expires_in
        )
        token = _Token(value, now + expires_in, now + expires_in - margin, granted, renewed)
        self._token = token
        return token

    def _remember(self, error: AuthError) -> AuthError:
        """Keep the refusal: every later request fails with it, without asking again (the
        caller raises it; it is not logged here, so the run shows it once)."""
        error.ends_run = True
        self._failure = error
        return error

    def _transient(self, token_url: str, attempt: int, why: str) -> float:
        """Back-off before the next attempt; raises (remembered) after the last one."""
        if attempt >= _TOKEN_ATTEMPTS:
            raise self._remember(
                AuthError(
                    f"SMART token endpoint {redact_url(token_url)}: {why} after {attempt} attempts",
                    request=("POST", redact_url(token_url)),
                    attempts=attempt,
                )
            )
        delay = 0.5 * 2.0 ** (attempt - 1)
        logger.warning(
            "SMART token endpoint %s: %s, retrying in %.1fs", redact_url(token_url), why, delay
        )
        return delay

    def _discovered(self, response: httpx.Response, body: bytes, url: str) -> str:
        where = redact_url(url)
        try:
            parsed: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if response.status_code != 200 or not isinstance(parsed, dict):
            raise self._remember(
                AuthError(
                    f"SMART discovery {where}: HTTP {response.status_code}, no JSON "
                    "configuration (give the token URL with --token-url)"
                )
            )
        endpoint = parsed.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise self._remember(AuthError(f"SMART discovery {where}: no token_endpoint"))
        methods = parsed.get("token_endpoint_auth_methods_supported")
        if isinstance(methods, list) and "private_key_jwt" not in methods:
            logger.warning("SMART discovery %s: private_key_jwt is not listed", where)
        self._token_url = check_secure_url(endpoint, "token endpoint")
        logger.info("SMART token endpoint %s (from %s)", redact_url(endpoint), where)
        return self._token_url

    def _grow(self, request: httpx.Request, body: bytearray, chunk: bytes) -> None:
        """Add ``chunk`` to the answer read so far; ``AuthError`` past 64 KiB."""
        body += chunk
        if len(body) > _MAX_TOKEN_ANSWER_BYTES:
            where = redact_url(str(request.url))
            raise self._remember(AuthError(f"{where}: answer larger than 64 KiB, not a token"))

    def _discovery_request(self) -> httpx.Request:
        url = f"{self._base}/.well-known/smart-configuration"
        return httpx.Request("GET", url, headers={"Accept": "application/json"})

    def _refused_with(
        self, token: _Token, request: httpx.Request, response: httpx.Response
    ) -> None:
        """A FHIR request was refused (401 after renewal, or 403): raise the one clear error."""
        where = f"{request.method} {redact_url(str(request.url))}"
        detail = _bearer_error(response)
        if response.status_code == 403:
            raise AuthFailedError(
                f"{where}: HTTP 403 {detail or 'forbidden'} (the access token's scope "
                f"{token.scope!r} does not allow this request; see --scope)",
                request=(request.method, redact_url(str(request.url))),
                # the scope is the run's: every request of this kind is refused alike
                ends_run=detail.startswith("insufficient_scope"),
            )
        raise self._remember(
            AuthFailedError(
                f"{where}: HTTP 401 {detail or 'unauthorized'} with a new access token: "
                f"the FHIR server does not accept the tokens client {self.client_id!r} gets",
                request=(request.method, redact_url(str(request.url))),
                attempts=2,
            )
        )

    def _fetch_steps(self, renewed: bool) -> _FetchSteps:
        """Discovery (once) and the token request with its retries, as steps for a shell:
        it yields a request (and is sent back ``(response, body)``, or thrown the
        ``httpx.HTTPError``) or a back-off in seconds (and is sent ``None``)."""
        token_url = self._token_url
        if token_url is None:
            discovery = self._discovery_request()
            try:
                response, body = yield discovery
            except httpx.HTTPError as exc:
                where = redact_url(str(discovery.url))
                raise self._remember(
                    AuthError(f"SMART discovery {where}: {type(exc).__name__}")
                ) from exc
            token_url = self._discovered(response, body, str(discovery.url))
        attempt = 0
        while True:
            attempt += 1
            try:
                response, body = yield self._token_request(token_url)
            except httpx.HTTPError as exc:
                yield self._transient(token_url, attempt, type(exc).__name__)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                yield self._transient(token_url, attempt, f"HTTP {response.status_code}")
                continue
            return self._accept(token_url, response, body, renewed)

    def _renews(self, request: httpx.Request, response: httpx.Response, token: _Token) -> bool:
        """Whether the FHIR server's answer calls for one renewal of the token (a first 401)."""
        if response.status_code != 401 or token.renewed:
            return False
        logger.info(
            "%s %s: HTTP 401, renewing the SMART token once",
            request.method,
            redact_url(str(request.url)),
        )
        return True

    def _answered(self, token: _Token, request: httpx.Request, response: httpx.Response) -> None:
        """The FHIR server's last answer: raise if it still refuses (401 after renewal, 403)."""
        if response.status_code in (401, 403):
            self._refused_with(token, request, response)

    # -- the shells: each only moves the steps' bytes and sleeps ---------------------------------
    # What differs between them is the I/O; the loop over the steps is :class:`_Steps`.

    def _step_sync(self, http: httpx.Client, step: httpx.Request | float) -> _Outcome:
        if isinstance(step, float):
            self._sleep(step)
            return None
        body = bytearray()
        try:
            response = http.send(step, stream=True)
            try:
                for chunk in response.iter_bytes():
                    self._grow(step, body, chunk)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            return exc
        return response, bytes(body)

    def _fetch_sync(self, renewed: bool) -> _Token:
        steps = _Steps(self._fetch_steps(renewed))
        with httpx.Client(transport=self._transport, **self._http_options) as http:
            while (step := steps.next) is not None:
                steps.after(self._step_sync(http, step))
        return steps.token()

    def _current_sync(self, refused: _Token | None = None) -> _Token:
        with self._lock:
            token = self._usable(refused)
            if token is not None:
                return token
            # a refused token that is still the held one: this request renews it
            return self._fetch_sync(renewed=refused is not None)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current_sync()
        request.headers["Authorization"] = token.header
        response = yield request
        if self._renews(request, response, token):
            token = self._current_sync(refused=token)
            request.headers["Authorization"] = token.header
            response = yield request
        self._answered(token, request, response)

    async def _step_async(self, http: httpx.AsyncClient, step: httpx.Request | float) -> _Outcome:
        if isinstance(step, float):
            await self._asleep(step)
            return None
        body = bytearray()
        try:
            response = await http.send(step, stream=True)
            try:
                async for chunk in response.aiter_bytes():
                    self._grow(step, body, chunk)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            return exc
        return response, bytes(body)

    async def _fetch_async(self, renewed: bool) -> _Token:
        steps = _Steps(self._fetch_steps(renewed))
        async with httpx.AsyncClient(transport=self._async_transport, **self._http_options) as http:
            while (step := steps.next) is not None:
                steps.after(await self._step_async(http, step))
        return steps.token()

    async def _current_async(self, refused: _Token | None = None) -> _Token:
        if self._async_lock is None:
            self._async_lock = anyio.Lock()
        async with self._async_lock:
            token = self._usable(refused)
            if token is not None:
                return token
            return await self._fetch_async(renewed=refused is not None)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current_async()
        request.headers["Authorization"] = token.header
        response = yield request
        if self._renews(request, response, token):
            token = await self._current_async(refused=token)
            request.headers["Authorization"] = token.header
            response = yield request
        self._answered(token, request, response)
