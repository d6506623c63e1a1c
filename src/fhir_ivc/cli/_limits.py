"""``--max-record-bytes`` and ``--max-depth``: the input limits of map, push and validate.

The limits themselves, their defaults and what each reader does at them are in
:mod:`fhir_ivc.io.limits` (docs/security.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from fhir_ivc.io import DEFAULT_LIMITS, InputLimits
from fhir_ivc.io.limits import MAX_DEPTH_CEILING

__all__ = ["MaxDepth", "MaxRecordBytes", "limits_from"]

MaxRecordBytes = Annotated[
    int,
    typer.Option(
        "--max-record-bytes",
        min=1,
        metavar="N",
        help="Largest input record (an NDJSON line, a JSON array element or document, a YAML "
        "record); a larger one is rejected without being read into memory.",
    ),
]
MaxDepth = Annotated[
    int,
    typer.Option(
        "--max-depth",
        min=1,
        max=MAX_DEPTH_CEILING,
        metavar="N",
        help="Deepest nesting of objects and arrays in an input record.",
    ),
]

DEFAULT_MAX_RECORD_BYTES = DEFAULT_LIMITS.max_record_bytes
DEFAULT_MAX_DEPTH = DEFAULT_LIMITS.max_depth


def limits_from(max_record_bytes: int, max_depth: int) -> InputLimits:
    """The :class:`InputLimits` of the two options (the others keep their defaults)."""
    return InputLimits(max_record_bytes=max_record_bytes, max_depth=max_depth)
