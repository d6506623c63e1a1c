"""``ElementMap`` rows: the mapping table, one row per case element, both directions.

Each mapper module declares ``ELEMENTS``; docs/mapping.md and the row-coverage test are
generated from them, so the table a newcomer reads is the table the code runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ElementMap"]


@dataclass(frozen=True, slots=True)
class ElementMap:
    source: str  #: case-model path, e.g. "surgery.blood_loss_ml"
    target: str  #: FHIR element, e.g. "Observation.valueQuantity (mL)"
    profile: str  #: profile claimed by the target resource
    to_fhir: str  #: the function that writes it
    from_fhir: str  #: the function that reads it back
    equivalence: Literal["equal", "equivalent", "wider", "derived"] = "equal"
    note: str = ""
