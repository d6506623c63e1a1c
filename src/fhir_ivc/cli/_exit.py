"""Exit codes of ``fhir-ivc``: one table, raised as :class:`CliExit` (a ``SystemExit``).

Raising instead of calling ``sys.exit()`` lets ``with`` blocks (rich progress, atomic writers)
finish cleanly, and lets tests assert the code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import IntEnum
from typing import Final

import typer

from fhir_ivc.exceptions import (
    CaseInputError,
    ConfigError,
    FhirIvcError,
    MappingError,
    ResourceInvalidError,
)

__all__ = ["EXIT_CODES", "CliExit", "ExitCode", "exit_code_for", "exit_on_error", "fail"]


class ExitCode(IntEnum):
    """Every exit code of ``fhir-ivc`` (docs/cli.md lists them)."""

    OK = 0
    #: the run finished, but some records were rejected or failed to map or validate
    SOME_FAILED = 1
    #: the run could not be done: usage, configuration or I/O error (click uses 2 for usage too)
    CANNOT_RUN = 2


#: Exceptions that end a command, most specific first; the first match gives the exit code.
EXIT_CODES: Final[tuple[tuple[type[BaseException], ExitCode], ...]] = (
    (CaseInputError, ExitCode.SOME_FAILED),
    (MappingError, ExitCode.SOME_FAILED),
    (ResourceInvalidError, ExitCode.SOME_FAILED),
    (ConfigError, ExitCode.CANNOT_RUN),
    (OSError, ExitCode.CANNOT_RUN),
    (FhirIvcError, ExitCode.CANNOT_RUN),
)


class CliExit(SystemExit):
    """Ends the command with an :class:`ExitCode`."""

    def __init__(self, code: ExitCode) -> None:
        super().__init__(int(code))
        self.exit_code = code


def exit_code_for(exc: BaseException) -> ExitCode | None:
    """The exit code of an exception from :data:`EXIT_CODES`, None when it is not listed."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return None


def fail(message: str, code: ExitCode = ExitCode.CANNOT_RUN) -> CliExit:
    """Print ``fhir-ivc: error: message`` on stderr and return the exit to raise."""
    typer.echo(f"fhir-ivc: error: {message}", err=True)
    return CliExit(code)


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn the exceptions of :data:`EXIT_CODES` into a one-line message and their exit code."""
    try:
        yield
    except CliExit:
        raise
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        raise fail(_message(exc), code) from exc
