"""UCUM units the adapter writes: one object each, the code on the wire and its name.

``Quantity.unit`` and ``Quantity.code`` both carry the UCUM code (``mL``); the name
(``milliliter``) is the display of the unit in the project's unit value sets (profiles/).
Source: UCUM, https://ucum.org/ucum (case-sensitive codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import UCUM

__all__ = ["CENTIMETER", "DAY", "LITER", "MILLILITER", "MILLIMETER", "MINUTE", "Unit"]


@dataclass(frozen=True, slots=True)
class Unit:
    """A UCUM unit: ``code`` as in ``Quantity.code`` (and ``.unit``), ``name`` spelled out."""

    code: str
    name: str

    def coding(self) -> Code:
        """The unit as a coding of the UCUM system (for value sets)."""
        return Code(UCUM, self.code, self.name)


MINUTE: Final = Unit("min", "minute")
DAY: Final = Unit("d", "day")
MILLILITER: Final = Unit("mL", "milliliter")
LITER: Final = Unit("L", "liter")
CENTIMETER: Final = Unit("cm", "centimeter")
MILLIMETER: Final = Unit("mm", "millimeter")
