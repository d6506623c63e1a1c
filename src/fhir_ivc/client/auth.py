"""Credentials for a FHIR server: ``httpx.Auth`` subclasses for bearer tokens and HTTP basic,
and (from :mod:`fhir_ivc.client.smart`) SMART Backend Services, which gets its bearer tokens
from an OAuth 2.0 token endpoint with a signed client assertion.

One ``auth_flow`` generator serves both client shells (httpx drives it synchronously or
asynchronously). Secrets are read from an environment variable or a file and are never
printed: ``repr()`` masks them, log lines name only where a secret came from, and exception
messages never contain one.

Re-authorisation: on a 401 answer, credentials loaded from a file are read again; if the file
now holds different credentials the request is sent once more with them (for example after a
token rotation). Credentials that cannot be refreshed (given directly, or from the
environment) are not retried: the client raises :class:`~fhir_ivc.exceptions.AuthFailedError`.
:class:`SmartBackendAuth` re-authorises the same way, once, with a new token from its endpoint.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable, Generator
from pathlib import Path

import httpx

from fhir_ivc.client._core import redact_url
from fhir_ivc.client.smart import SmartBackendAuth
from fhir_ivc.exceptions import AuthError, ConfigError

__all__ = ["BasicAuth", "BearerTokenAuth", "SecretAuth", "SmartBackendAuth"]

logger = logging.getLogger("fhir_ivc.client")

_MASK = "***"


def _read_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is not set or empty")
    return value


def _read_file(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        # exc carries only the path and errno, never file contents
        raise ConfigError(f"cannot read credentials file {path}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"credentials file {path} is empty")
    return value


class SecretAuth(httpx.Auth):
    """Base: sets ``Authorization`` from a secret and re-reads a refreshable source on 401."""

    requires_request_body = False
    requires_response_body = False

    def __init__(self, *, source: str = "given", reload: Callable[[], str] | None = None) -> None:
        self._source = source
        self._reload = reload
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        """Where the secret came from (``env:NAME``, ``file:/path`` or ``given``): safe to show."""
        return self._source

    @property
    def refreshable(self) -> bool:
        return self._reload is not None

    def _authorization(self) -> str:
        raise NotImplementedError

    def _set_secret(self, raw: str) -> None:
        raise NotImplementedError

    def refresh(self, used: str | None = None) -> bool:
        """Re-read the secret; ``True`` if a retry can succeed.

        That is when the secret now differs from ``used`` (the ``Authorization`` value the
        refused request carried; by default the current one). Comparing with what the request
        carried, not with what we held before re-reading, keeps concurrent requests correct:
        when another thread already picked up the new secret, this request still retries.
        """
        if self._reload is None:
            return False
        with self._lock:
            used = self._authorization() if used is None else used
            try:
                self._set_secret(self._reload())
            except ConfigError as exc:
                raise AuthError(f"re-authorisation failed: {exc}") from exc
            return self._authorization() != used

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            header = self._authorization()
        request.headers["Authorization"] = header
        response = yield request
        if response.status_code != 401:
            return
        method, where = request.method, redact_url(request.url)
        if not self.refreshable:
            logger.warning(
                "%s %s: HTTP 401; credentials from %s cannot be refreshed",
                method,
                where,
                self._source,
            )
            return
        if self.refresh(used=header):
            logger.info(
                "%s %s: HTTP 401; re-read credentials from %s, retrying once",
                method,
                where,
                self._source,
            )
            with self._lock:
                request.headers["Authorization"] = self._authorization()
            yield request
        else:
            logger.warning(
                "%s %s: HTTP 401; credentials in %s are unchanged, not retrying",
                method,
                where,
                self._source,
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self._source!r})"


class BearerTokenAuth(SecretAuth):
    """``Authorization: Bearer <token>``; build with :meth:`from_env` or :meth:`from_file`."""

    def __init__(
        self, token: str, *, source: str = "given", reload: Callable[[], str] | None = None
    ) -> None:
        super().__init__(source=source, reload=reload)
        self._set_secret(token)

    def _set_secret(self, raw: str) -> None:
        token = raw.strip()
        if not token or any(c in token for c in "\r\n"):
            raise ConfigError(f"bearer token from {self._source} is empty or spans several lines")
        self._token = token

    def _authorization(self) -> str:
        return f"Bearer {self._token}"

    @classmethod
    def from_env(cls, name: str = "FHIR_IVC_TOKEN") -> BearerTokenAuth:
        """Token from environment variable ``name`` (not re-read on 401)."""
        return cls(_read_env(name), source=f"env:{name}")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BearerTokenAuth:
        """Token from a file (whitespace stripped); the file is re-read once on 401."""
        file = Path(path)
        return cls(_read_file(file), source=f"file:{file}", reload=lambda: _read_file(file))

    def __repr__(self) -> str:
        return f"BearerTokenAuth(token={_MASK!r}, source={self._source!r})"


class BasicAuth(SecretAuth):
    """HTTP basic auth; :meth:`from_file` reads one ``username:password`` line."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        source: str = "given",
        reload: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(source=source, reload=reload)
        self._set_pair(username, password)

    def _set_pair(self, username: str, password: str) -> None:
        if not username or ":" in username:
            raise ConfigError(f"basic auth username from {self._source} is empty or has a ':'")
        if not password:
            raise ConfigError(f"basic auth password from {self._source} is empty")
        self._username = username
        self._password = password

    def _set_secret(self, raw: str) -> None:
        username, sep, password = raw.strip().partition(":")
        if not sep:
            raise ConfigError(f"basic auth credentials from {self._source} must be user:password")
        self._set_pair(username, password)

    def _authorization(self) -> str:
        pair = f"{self._username}:{self._password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    @property
    def username(self) -> str:
        return self._username

    @classmethod
    def from_env(
        cls,
        username_var: str = "FHIR_IVC_USER",
        password_var: str = "FHIR_IVC_PASSWORD",  # noqa: S107 - a variable name, not a secret
    ) -> BasicAuth:
        """Username and password from two environment variables (not re-read on 401)."""
        return cls(
            _read_env(username_var),
            _read_env(password_var),
            source=f"env:{username_var}/{password_var}",
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BasicAuth:
        """``username:password`` from a file; the file is re-read once on 401."""
        file = Path(path)
        username, sep, password = _read_file(file).partition(":")
        if not sep:
            raise ConfigError(f"credentials file {file} must contain username:password")
        return cls(username, password, source=f"file:{file}", reload=lambda: _read_file(file))

    def __repr__(self) -> str:
        return (
            f"BasicAuth(username={self._username!r}, password={_MASK!r}, source={self._source!r})"
        )
