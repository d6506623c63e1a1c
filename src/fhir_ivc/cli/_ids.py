"""``--ids conditional|logical``, the option ``map`` and ``push`` share (fhir_ivc.bulk.ids)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fhir_ivc.cli._options import choice_option

__all__ = ["Ids", "IdsOption"]


class Ids(StrEnum):
    CONDITIONAL = "conditional"
    LOGICAL = "logical"


IdsOption = Annotated[
    Ids,
    choice_option(
        "--ids",
        help="conditional: PUT Type?identifier=system|value, the server picks ids (default). "
        "logical: PUT Type/<uuid>, ids derived from the same uuid5 as the identifier, "
        "references Type/<uuid> (needed for Bulk Data; some servers forbid client ids).",
    ),
]
