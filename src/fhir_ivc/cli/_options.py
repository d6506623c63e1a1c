"""The kinds of option the commands declare, each command with its own help: a ``FILE`` (not a
folder), a ``DIR`` (not a file), a choice (any case), the input files, the server; options
that go together declared once, as the fields of a dataclass (:func:`with_options`); and where
a side file goes by default (``map``'s rejects, ``pull``'s loss report: into ``--out DIR`` or
next to the ``--ndjson`` file, unless its option names one).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import typer

from fhir_ivc.io import STDOUT

__all__ = [
    "choice_option",
    "dir_option",
    "file_option",
    "input_argument",
    "ndjson_option",
    "server_option",
    "side_file",
    "with_options",
]

Command = Callable[..., None]


def file_option(*names: str, help: str, **more: Any) -> Any:
    """``typer.Option(*names, ...)`` for a file: ``FILE``, a folder is refused."""
    return typer.Option(*names, dir_okay=False, metavar="FILE", help=help, **more)


def dir_option(*names: str, help: str, **more: Any) -> Any:
    """``typer.Option(*names, ...)`` for a folder: ``DIR``, a file is refused."""
    return typer.Option(*names, file_okay=False, metavar="DIR", help=help, **more)


def ndjson_option(help: str) -> Any:
    """``--ndjson FILE``: records as NDJSON, ``-`` for standard output."""
    return file_option("--ndjson", allow_dash=True, help=help)


def choice_option(*names: str, help: str, **more: Any) -> Any:
    """``typer.Option(*names, ...)`` for one of an enum's values, in any case."""
    return typer.Option(*names, case_sensitive=False, help=help, **more)


def server_option(also: str = "") -> Any:
    """``--server URL``, by default ``$FHIR_IVC_SERVER``: the FHIR server of ``push`` and
    ``pull`` (``validate --server`` is another option: it has no default from the
    environment, which would turn offline validation online); ``also`` ends the help."""
    text = " ".join(("FHIR R4 base URL, e.g. http://127.0.0.1:8080/fhir.", also)).strip()
    return typer.Option(
        "--server", envvar="FHIR_IVC_SERVER", metavar="URL", help=text, show_default=False
    )


def input_argument(metavar: str, help: str) -> Any:
    """The input files of a command (checked by :func:`fhir_ivc.cli._inputs.check_inputs`)."""
    return typer.Argument(show_default=False, metavar=metavar, help=help)


def side_file(out: Path | None, ndjson: Path | None, name: str, suffix: str) -> Path | None:
    """The default of a side file: ``OUT/<name>``, else ``<stem><suffix>`` next to the
    ``--ndjson`` file; ``None`` when the records go to standard output (or nowhere)."""
    if out is not None:
        return out / name
    if ndjson is None or str(ndjson) == STDOUT:
        return None
    return ndjson.with_name(f"{ndjson.stem}{suffix}")


def with_options(
    parameter: str, group: type[Any], *, omit: Collection[str] = ()
) -> Callable[[Command], Command]:
    """Give a command the options of the dataclass ``group`` (but ``omit``) in place of its
    ``parameter``; the command gets them as one ``group`` object.

    typer reads a command's parameters from its signature: the returned function has the
    command's, with the fields of ``group`` (their ``Annotated`` declarations and defaults)
    where ``parameter`` stood, so ``--help`` lists them there.
    """
    declared = typing.get_type_hints(group, include_extras=True)
    fields = [f for f in dataclasses.fields(group) if f.name not in omit]
    names = [f.name for f in fields]

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        spot = signature.parameters[parameter]
        options = [
            inspect.Parameter(f.name, spot.kind, default=f.default, annotation=declared[f.name])
            for f in fields
        ]
        parameters: list[inspect.Parameter] = []
        for each in signature.parameters.values():
            parameters.extend(options if each is spot else [each])

        @functools.wraps(command)
        def run(**values: Any) -> None:
            given = group(**{name: values.pop(name) for name in names})
            command(**values, **{parameter: given})

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return run

    return decorate
