"""Options and helpers shared by the commands that talk to a FHIR server (push, pull,
validate --server): timeouts, TLS, and the credentials (a bearer token, HTTP basic, or SMART
Backend Services with ``--auth smart``, see :mod:`fhir_ivc.cli._smart_options`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from fhir_ivc.cli._smart_options import (
    AuthChoice,
    AuthKind,
    SmartClientId,
    SmartConfigFile,
    SmartOptions,
    SmartPrivateKey,
    SmartScope,
    SmartTokenUrl,
)
from fhir_ivc.client import BasicAuth, BearerTokenAuth, SmartBackendAuth

__all__ = [
    "AuthChoice",
    "AuthKind",
    "AuthTokenEnv",
    "AuthTokenFile",
    "BasicAuthFile",
    "Credentials",
    "Insecure",
    "SmartClientId",
    "SmartConfigFile",
    "SmartOptions",
    "SmartPrivateKey",
    "SmartScope",
    "SmartTokenUrl",
    "Timeout",
    "auth_from",
]

#: what :func:`auth_from` returns (an ``httpx.Auth`` each)
Credentials = BearerTokenAuth | BasicAuth | SmartBackendAuth

AuthTokenEnv = Annotated[
    str | None,
    typer.Option(
        "--auth-token-env", metavar="VAR", help="Bearer token from this environment variable."
    ),
]
AuthTokenFile = Annotated[
    Path | None,
    typer.Option(
        "--auth-token-file",
        dir_okay=False,
        metavar="FILE",
        help="Bearer token from this file (re-read once on HTTP 401).",
    ),
]
BasicAuthFile = Annotated[
    Path | None,
    typer.Option(
        "--basic-auth-file",
        dir_okay=False,
        metavar="FILE",
        help="HTTP basic credentials from this file (one line user:password).",
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


def auth_from(
    token_env: str | None,
    token_file: Path | None,
    basic_file: Path | None,
    smart: SmartOptions | None = None,
    *,
    say: Callable[[str], object] | None = None,
) -> Credentials | None:
    """The credentials the auth options name (at most one kind); secrets are never printed:
    ``say`` is told where they come from (``fhir-ivc: credentials from env:NAME``)."""
    auth = _credentials(token_env, token_file, basic_file, smart)
    if auth is not None and say is not None:
        say(f"fhir-ivc: credentials from {auth.source}")  # the source, never a value
    return auth


def _credentials(
    token_env: str | None,
    token_file: Path | None,
    basic_file: Path | None,
    smart: SmartOptions | None,
) -> Credentials | None:
    given = [
        name
        for name, value in (
            ("--auth-token-env", token_env),
            ("--auth-token-file", token_file),
            ("--basic-auth-file", basic_file),
            ("--auth smart", smart if smart is not None and smart.wanted else None),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise typer.BadParameter(
            f"give at most one of them (got {' and '.join(given)})",
            param_hint="'--auth-token-env' / '--auth-token-file' / '--basic-auth-file' / '--auth'",
        )
    if smart is not None:
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
