"""``fhir-ivc schema``: the JSON Schema (2020-12) of a case record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fhir_ivc.cli._exit import exit_on_error
from fhir_ivc.io import atomic_write_bytes, case_json_schema, dump_json

__all__ = ["schema_command"]


def schema_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            dir_okay=False,
            metavar="FILE",
            help="Write to this file instead of stdout.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema (2020-12) of a case record."""
    data = dump_json(case_json_schema(), pretty=True)
    if out is None:
        typer.echo(data.decode(), nl=False)
        return
    with exit_on_error():
        atomic_write_bytes(out, data)
