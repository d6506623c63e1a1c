"""``--max-record-bytes`` and ``--max-depth``: the input limits of map, push and validate;
``--max-response-bytes``, ``--response-deadline`` and ``--max-pages``: the bounds on a server's
answers in pull and validate --server.

The limits themselves, their defaults and what happens at them are in
:mod:`fhir_ivc.io.limits` and :class:`fhir_ivc.client.ResponseLimits` (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

import typer

from fhir_ivc.client import DEFAULT_RESPONSE_LIMITS, ResponseLimits
from fhir_ivc.io import DEFAULT_LIMITS, InputLimits
from fhir_ivc.io.limits import MAX_DEPTH_CEILING

__all__ = [
    "DEFAULT_RECORD_LIMITS",
    "MaxDepth",
    "MaxPages",
    "MaxRecordBytes",
    "MaxResponseBytes",
    "RecordLimits",
    "ResponseDeadline",
    "response_limits_from",
]

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


@dataclass(frozen=True)
class RecordLimits:
    """``--max-record-bytes`` and ``--max-depth``, each field its option; a command takes them
    as one parameter, ``record_limits: RecordLimits = DEFAULT_RECORD_LIMITS``, with
    ``@with_options("record_limits", RecordLimits)`` (:mod:`fhir_ivc.cli._options`)."""

    max_record_bytes: MaxRecordBytes = DEFAULT_MAX_RECORD_BYTES
    max_depth: MaxDepth = DEFAULT_MAX_DEPTH

    @property
    def input_limits(self) -> InputLimits:
        """The :class:`InputLimits` of the two options (the others keep their defaults)."""
        return InputLimits(max_record_bytes=self.max_record_bytes, max_depth=self.max_depth)


#: the ``record_limits`` parameter's default
DEFAULT_RECORD_LIMITS: Final = RecordLimits()


MaxResponseBytes = Annotated[
    int,
    typer.Option(
        "--max-response-bytes",
        min=1,
        metavar="N",
        help="Largest answer of the server (after decompression); a larger one is refused with "
        "one error naming the request.",
    ),
]
ResponseDeadline = Annotated[
    float,
    typer.Option(
        "--response-deadline",
        min=0.001,
        metavar="S",
        help="Seconds for one request, from sending it to the last byte of the answer (a "
        "server that drips its answer hits this; --timeout bounds each read).",
    ),
]
MaxPages = Annotated[
    int,
    typer.Option(
        "--max-pages",
        min=1,
        metavar="N",
        help="Pages of one search or $everything: next links beyond this are refused.",
    ),
]

DEFAULT_MAX_RESPONSE_BYTES = DEFAULT_RESPONSE_LIMITS.max_body_bytes
DEFAULT_RESPONSE_DEADLINE = DEFAULT_RESPONSE_LIMITS.deadline
DEFAULT_MAX_PAGES = DEFAULT_RESPONSE_LIMITS.max_pages


def response_limits_from(
    max_response_bytes: int, deadline: float, max_pages: int = DEFAULT_MAX_PAGES
) -> ResponseLimits:
    """The :class:`ResponseLimits` of the three options."""
    return ResponseLimits(max_body_bytes=max_response_bytes, deadline=deadline, max_pages=max_pages)
