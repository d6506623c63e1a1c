"""The ``fhir-ivc`` typer app: it only assembles the commands, each of which lives apart.

``map`` (:mod:`._map`), ``push`` (:mod:`._push`), ``pull`` (:mod:`._pull`), ``validate``
(:mod:`._validate`), ``schema`` (:mod:`._schema`). No command module imports this one. What the
commands use from the rest of the package comes in as ``typer.Context.obj``
(:class:`~fhir_ivc.cli._services.Services`); exit codes come from :mod:`._exit` only.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fhir_ivc._version import __version__
from fhir_ivc.cli._map import map_command
from fhir_ivc.cli._pull import pull_command
from fhir_ivc.cli._push import push_command
from fhir_ivc.cli._schema import schema_command
from fhir_ivc.cli._validate import validate_command

__all__ = ["app"]

app = typer.Typer(
    name="fhir-ivc",
    help="FHIR R4 / mCODE adapter for leiomyosarcoma of the inferior vena cava.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals would hold case data (PHI)
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fhir-ivc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """FHIR R4 / mCODE adapter for leiomyosarcoma of the inferior vena cava."""


app.command("map")(map_command)
app.command("schema")(schema_command)
app.command("push")(push_command)
app.command("pull")(pull_command)
app.command("validate")(validate_command)
