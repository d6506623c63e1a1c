"""The options of the commands that talk to a FHIR server (push, pull, validate --server),
declared once: the credentials (a bearer token, HTTP basic, or SMART Backend Services with
``--auth smart``, see :mod:`fhir_ivc.cli._smart_options`), timeouts, TLS and the bounds on the
server's answers (:mod:`fhir_ivc.cli._limits`).

A command takes them as one parameter, ``connection: Connection``, and :func:`with_connection`
puts the options in its place in the signature typer reads (so ``--help`` lists them where that
parameter stands)::

    @with_connection(max_pages=True)
    def pull_command(ctx: typer.Context, ..., connection: Connection = DEFAULT_CONNECTION, ...):
        auth = connection.credentials(server, DEFAULT_PULL_SCOPE, say=reporter.info)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, TypeVar

import typer

from fhir_ivc.bulk.http import BulkHttp
from fhir_ivc.cli._limits import (
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RESPONSE_DEADLINE,
    MaxPages,
    MaxResponseBytes,
    ResponseDeadline,
    response_limits_from,
)
from fhir_ivc.cli._options import Command, file_option, with_options
from fhir_ivc.cli._output import Reporter
from fhir_ivc.cli._smart_options import (
    AuthKind,
    SmartClientId,
    SmartConfigFile,
    SmartOptions,
    SmartPrivateKey,
    SmartScope,
    SmartTokenUrl,
)
from fhir_ivc.client import BasicAuth, BearerTokenAuth, ResponseLimits, SmartBackendAuth

__all__ = ["DEFAULT_CONNECTION", "Connection", "Credentials", "with_connection"]

C = TypeVar("C")

#: what :meth:`Connection.credentials` returns (an ``httpx.Auth`` each)
Credentials = BearerTokenAuth | BasicAuth | SmartBackendAuth

AuthTokenEnv = Annotated[
    str | None,
    typer.Option(
        "--auth-token-env", metavar="VAR", help="Bearer token from this environment variable."
    ),
]
AuthTokenFile = Annotated[
    Path | None,
    file_option(
        "--auth-token-file", help="Bearer token from this file (re-read once on HTTP 401)."
    ),
]
BasicAuthFile = Annotated[
    Path | None,
    file_option(
        "--basic-auth-file", help="HTTP basic credentials from this file (one line user:password)."
    ),
]
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0.1, metavar="S", help="Seconds per HTTP request."),
]
Insecure = Annotated[
    bool,
    typer.Option("--insecure", help="Do not verify TLS certificates (prints a warning)."),
]


@dataclass(frozen=True)
class Connection:
    """The connection options of one command; each field is its option (declared here, once).

    :func:`with_connection` turns the fields into the command's parameters, in this order.
    """

    auth_token_env: AuthTokenEnv = None
    auth_token_file: AuthTokenFile = None
    basic_auth_file: BasicAuthFile = None
    auth_kind: AuthKind = None
    client_id: SmartClientId = None
    private_key: SmartPrivateKey = None
    scope: SmartScope = None
    token_url: SmartTokenUrl = None
    smart_config: SmartConfigFile = None
    timeout: Timeout = 60.0
    insecure: Insecure = False
    max_response_bytes: MaxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES
    response_deadline: ResponseDeadline = DEFAULT_RESPONSE_DEADLINE
    #: only where the command offers ``--max-pages`` (``with_connection(max_pages=True)``)
    max_pages: MaxPages = DEFAULT_MAX_PAGES

    @property
    def verify(self) -> bool:
        return not self.insecure

    @property
    def limits(self) -> ResponseLimits:
        """The bounds on the server's answers (``--max-response-bytes`` …)."""
        return response_limits_from(self.max_response_bytes, self.response_deadline, self.max_pages)

    def smart(self, server: str | None, default_scope: str) -> SmartOptions:
        """The SMART options, for ``server`` and the command's default scope."""
        options = SmartOptions(
            self.auth_kind,
            self.client_id,
            self.private_key,
            self.scope,
            self.token_url,
            self.smart_config,
        )
        return options.bind(server, default_scope, timeout=self.timeout, verify=self.verify)

    def credentials(
        self,
        server: str | None,
        default_scope: str,
        *,
        say: Callable[[str], object] | None = None,
    ) -> Credentials | None:
        """The credentials the auth options name (at most one kind); secrets are never printed:
        ``say`` is told where they come from (``fhir-ivc: credentials from env:NAME``)."""
        auth = _credentials(
            self.auth_token_env,
            self.auth_token_file,
            self.basic_auth_file,
            self.smart(server, default_scope),
        )
        if auth is not None and say is not None:
            say(f"fhir-ivc: credentials from {auth.source}")  # the source, never a value
        return auth

    def client(self, factory: Callable[..., C], server: str, auth: Credentials | None) -> C:
        """``factory(server, ...)`` with these settings (``factory``: a ``Services`` client)."""
        return factory(
            server, auth=auth, timeout=self.timeout, verify=self.verify, limits=self.limits
        )

    def bulk_http(self, server: str, auth: Credentials | None, max_poll_wait: float) -> BulkHttp:
        """The Bulk Data client of ``push --bulk`` and ``pull --bulk`` (``--max-poll-wait``);
        its answers are bounded as the client's are (``--max-response-bytes`` …)."""
        return BulkHttp(
            server,
            auth=auth,
            timeout=self.timeout,
            verify=self.verify,
            limits=self.limits,
            max_wait=max_poll_wait,
            min_wait=min(1.0, max_poll_wait),
        )

    def insecure_warning(self, moved: str) -> str | None:
        """With ``--insecure``, the warning (``moved``: what crosses the network unverified)."""
        if not self.insecure:
            return None
        return (
            "fhir-ivc: warning: --insecure: TLS certificates are NOT verified; anyone on the "
            f"network path can read and change what is {moved}, credentials included"
        )

    def warn(self, reporter: Reporter, moved: str) -> None:
        """:meth:`insecure_warning` as a line of the run's output (push, pull)."""
        if (warning := self.insecure_warning(moved)) is not None:
            reporter.line(warning)


#: the ``connection`` parameter's default (every option at its default)
DEFAULT_CONNECTION: Final = Connection()


def with_connection(*, max_pages: bool) -> Callable[[Command], Command]:
    """Give a command the options of :class:`Connection` in place of its ``connection``
    parameter (``max_pages``: with ``--max-pages``); see :func:`.with_options`."""
    return with_options("connection", Connection, omit=() if max_pages else ("max_pages",))


def _credentials(
    token_env: str | None,
    token_file: Path | None,
    basic_file: Path | None,
    smart: SmartOptions,
) -> Credentials | None:
    given = [
        name
        for name, value in (
            ("--auth-token-env", token_env),
            ("--auth-token-file", token_file),
            ("--basic-auth-file", basic_file),
            ("--auth smart", smart if smart.wanted else None),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise typer.BadParameter(
            f"give at most one of them (got {' and '.join(given)})",
            param_hint="'--auth-token-env' / '--auth-token-file' / '--basic-auth-file' / '--auth'",
        )
    smart_auth = smart.auth()  # None without --auth smart (and refuses stray SMART options)
    if smart_auth is not None:
        return smart_auth
    if token_env is not None:
        return BearerTokenAuth.from_env(token_env)
    if token_file is not None:
        return BearerTokenAuth.from_file(token_file)
    if basic_file is not None:
        return BasicAuth.from_file(basic_file)
    return None
