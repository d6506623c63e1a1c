"""The file and folder options of the commands, and where a side file goes by default.

Every path option is a ``FILE`` (not a folder) or a ``DIR`` (not a file); each command gives
its own help. A side file (``map``'s rejects, ``pull``'s loss report) goes into ``--out DIR``
or next to the ``--ndjson`` file unless its option names one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fhir_ivc.io import STDOUT

__all__ = ["dir_option", "file_option", "side_file"]


def file_option(*names: str, help: str, **more: Any) -> Any:
    """``typer.Option(*names, ...)`` for a file: ``FILE``, a folder is refused."""
    return typer.Option(*names, dir_okay=False, metavar="FILE", help=help, **more)


def dir_option(*names: str, help: str, **more: Any) -> Any:
    """``typer.Option(*names, ...)`` for a folder: ``DIR``, a file is refused."""
    return typer.Option(*names, file_okay=False, metavar="DIR", help=help, **more)


def side_file(out: Path | None, ndjson: Path | None, name: str, suffix: str) -> Path | None:
    """The default of a side file: ``OUT/<name>``, else ``<stem><suffix>`` next to the
    ``--ndjson`` file; ``None`` when the records go to standard output (or nowhere)."""
    if out is not None:
        return out / name
    if ndjson is None or str(ndjson) == STDOUT:
        return None
    return ndjson.with_name(f"{ndjson.stem}{suffix}")
