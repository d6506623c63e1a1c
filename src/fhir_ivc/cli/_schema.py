"""``fhir-ivc schema``: the JSON Schema (2020-12) of a case record, or its table layout
(``--tables``, ``--template DIR``: docs/tables.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fhir_ivc.cli._exit import exit_on_error
from fhir_ivc.cli._options import dir_option, file_option
from fhir_ivc.io import atomic_write_bytes, case_json_schema, dump_json
from fhir_ivc.io.tables import layout_text, write_template

__all__ = ["schema_command"]


def schema_command(
    out: Annotated[
        Path | None,
        file_option("--out", "-o", help="Write to this file instead of stdout."),
    ] = None,
    tables: Annotated[
        bool,
        typer.Option("--tables", help="Print the table layout of case records instead."),
    ] = False,
    template: Annotated[
        Path | None,
        dir_option(
            "--template",
            help="Write empty case tables (CSV headers) and a README of their columns to DIR.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema (2020-12) of a case record, or its table layout (docs/tables.md)."""
    if template is not None:
        with exit_on_error():
            readme = write_template(template)
        typer.echo(f"wrote the empty case tables and {readme.name} to {template}", err=True)
        return
    data = layout_text().encode() if tables else dump_json(case_json_schema(), pretty=True)
    if out is None:
        typer.echo(data.decode(), nl=False)
        return
    with exit_on_error():
        atomic_write_bytes(out, data)
