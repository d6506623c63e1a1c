"""The check every command runs on its input files before anything is written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import typer

from fhir_ivc.io import STDIN
from fhir_ivc.io.tables import is_table_input

__all__ = ["check_inputs"]


def check_inputs(
    inputs: Sequence[Path], *, param_hint: str = "'INPUT'", tables: bool = True
) -> None:
    """Every input is '-', a readable file or (``tables``) a folder of case tables, before
    anything is written.

    Checked here rather than with typer's ``exists=True``, which refuses ``-`` for ``Path``
    arguments in some typer versions.
    """
    for path in inputs:
        if str(path) == STDIN:
            continue
        if not path.exists():
            problem = "does not exist"
        elif path.is_dir() and not tables:
            problem = "is a directory"
        elif path.is_dir() and not is_table_input(path):
            problem = "is a directory without cases.csv or cases.parquet (docs/tables.md)"
        elif not os.access(path, os.R_OK):
            problem = "is not readable"
        else:
            continue
        raise typer.BadParameter(f"file '{path}' {problem}.", param_hint=param_hint)
