"""``--auth smart``: SMART Backend Services options of push, pull and validate --server.

Each setting comes from its option, else its environment variable, else the job's config
file (``--smart-config``, TOML), else its default:

=================  ==============================  ============================================
option             environment variable            config file key
=================  ==============================  ============================================
``--auth smart``   ``FHIR_IVC_AUTH``               (the file is read only with ``--auth smart``)
``--client-id``    ``FHIR_IVC_SMART_CLIENT_ID``    ``client_id``
``--private-key``  ``FHIR_IVC_SMART_PRIVATE_KEY``  ``private_key`` (relative to the file)
(none)             ``FHIR_IVC_SMART_KEY_ID``       ``key_id`` (one key of a JWKS with several)
``--scope``        ``FHIR_IVC_SMART_SCOPE``        ``scope`` (default: per command)
``--token-url``    ``FHIR_IVC_SMART_TOKEN_URL``    ``token_url`` (default: discovery)
``--smart-config`` ``FHIR_IVC_SMART_CONFIG``       -
=================  ==============================  ============================================

The key file holds the secret, so it is named, never inlined, and never printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fhir_ivc.cli._options import choice_option, file_option
from fhir_ivc.client.smart import DEFAULT_PULL_SCOPE, SigningKey, SmartBackendAuth
from fhir_ivc.exceptions import ConfigError

__all__ = [
    "AuthChoice",
    "AuthKind",
    "SmartClientId",
    "SmartConfigFile",
    "SmartOptions",
    "SmartPrivateKey",
    "SmartScope",
    "SmartTokenUrl",
    "check_scope",
]

_PANEL = "SMART Backend Services (--auth smart)"
_KEYS = ("client_id", "private_key", "key_id", "scope", "token_url")
_SYSTEM_SCOPE = re.compile(r"system/(\*|[A-Z][A-Za-z]*)\.(read|write|\*|c?r?u?d?s?)(\?\S+)?")


class AuthChoice(StrEnum):
    SMART = "smart"


AuthKind = Annotated[
    AuthChoice | None,
    choice_option(
        "--auth",
        envvar="FHIR_IVC_AUTH",
        help="smart: SMART Backend Services (OAuth 2.0 client credentials, signed JWT "
        "assertion), with --client-id and --private-key.",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
SmartClientId = Annotated[
    str | None,
    typer.Option(
        "--client-id",
        envvar="FHIR_IVC_SMART_CLIENT_ID",
        metavar="ID",
        help="The client id the EHR registered for this job.",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
SmartPrivateKey = Annotated[
    Path | None,
    file_option(
        "--private-key",
        envvar="FHIR_IVC_SMART_PRIVATE_KEY",
        help="The client's private key: PEM (RSA for RS384, P-384 EC for ES384) or a JWK/JWKS "
        "JSON file. Never printed.",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
SmartScope = Annotated[
    str | None,
    typer.Option(
        "--scope",
        envvar="FHIR_IVC_SMART_SCOPE",
        metavar="SCOPES",
        help="Space-separated SMART system scopes (v2 system/*.rs, or v1 system/*.read). "
        "Default: system/*.rs for pull and validate, system/*.cruds for push.",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
SmartTokenUrl = Annotated[
    str | None,
    typer.Option(
        "--token-url",
        envvar="FHIR_IVC_SMART_TOKEN_URL",
        metavar="URL",
        help="The token endpoint. Default: token_endpoint of "
        "[server]/.well-known/smart-configuration.",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
SmartConfigFile = Annotated[
    Path | None,
    file_option(
        "--smart-config",
        envvar="FHIR_IVC_SMART_CONFIG",
        help="TOML file of a job's SMART settings (client_id, private_key, key_id, scope, "
        "token_url); options and environment variables override it.",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]


def check_scope(scope: str) -> str:
    """``scope`` normalised; ConfigError when it has no well-formed SMART system scope."""
    tokens = scope.split()
    system = [t for t in tokens if t.startswith("system/")]
    bad = [t for t in system if not _SYSTEM_SCOPE.fullmatch(t)]
    if bad:
        raise ConfigError(
            f"not a SMART system scope: {bad[0]!r} (system/<Type or *>.<cruds letters, or "
            "read/write>, e.g. system/*.rs)"
        )
    if not system:
        raise ConfigError(
            f"scope {scope!r} has no system/ scope: SMART Backend Services grants system/ "
            "scopes (e.g. system/*.rs)"
        )
    return " ".join(tokens)


def _read_config(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read SMART config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SMART config {path}: not valid TOML ({exc})") from exc
    table = document.get("smart", document)
    if not isinstance(table, dict):
        raise ConfigError(f"SMART config {path}: [smart] must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"SMART config {path}: unknown key {unknown[0]!r} (known: {_KEYS})")
    values: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"SMART config {path}: {key} must be a non-empty string")
        values[key] = value.strip()
    if "private_key" in values:  # relative to the config file, as jobs move with their folder
        values["private_key"] = str(path.parent / Path(values["private_key"]).expanduser())
    return values


@dataclass(frozen=True)
class SmartOptions:
    """The SMART options of one command and what it needs to build the credentials."""

    kind: AuthChoice | None
    client_id: str | None
    private_key: Path | None
    scope: str | None
    token_url: str | None
    config: Path | None
    server: str | None = None
    default_scope: str = DEFAULT_PULL_SCOPE
    timeout: float = 30.0
    verify: bool = True

    def bind(
        self, server: str | None, default_scope: str, *, timeout: float, verify: bool
    ) -> SmartOptions:
        """These options for one command's server, default scope and connection settings."""
        return replace(
            self, server=server, default_scope=default_scope, timeout=timeout, verify=verify
        )

    @property
    def wanted(self) -> bool:
        return self.kind is AuthChoice.SMART

    def auth(self) -> SmartBackendAuth | None:
        """The SMART credentials, or None without ``--auth smart``."""
        if not self.wanted:
            stray = [
                name
                for name, value in (
                    ("--client-id", self.client_id),
                    ("--private-key", self.private_key),
                    ("--scope", self.scope),
                    ("--token-url", self.token_url),
                    ("--smart-config", self.config),
                )
                if value is not None
            ]
            if stray:
                raise typer.BadParameter(
                    f"{stray[0]} is a SMART option: give --auth smart as well "
                    "(or FHIR_IVC_AUTH=smart)",
                    param_hint="'--auth'",
                )
            return None
        from_file = _read_config(self.config) if self.config is not None else {}
        client_id = self.client_id or from_file.get("client_id")
        key_path = str(self.private_key) if self.private_key else from_file.get("private_key")
        if not client_id:
            raise ConfigError("--auth smart needs --client-id (or FHIR_IVC_SMART_CLIENT_ID)")
        if not key_path:
            raise ConfigError("--auth smart needs --private-key (or FHIR_IVC_SMART_PRIVATE_KEY)")
        key_id = os.environ.get("FHIR_IVC_SMART_KEY_ID", "").strip() or from_file.get("key_id")
        key = SigningKey.load(key_path, kid=key_id)
        scope = check_scope(self.scope or from_file.get("scope") or self.default_scope)
        token_url = self.token_url or from_file.get("token_url")
        if token_url is None and self.server is None:
            raise ConfigError("--auth smart needs --token-url when there is no --server")
        return SmartBackendAuth(
            client_id,
            key,
            scope,
            token_url=token_url,
            fhir_base_url=self.server,
            timeout=self.timeout,
            verify=self.verify,
        )
