"""``ElementMap`` rows: the mapping table, one row per case element, both directions.

A row holds real objects, not names: the FHIR target, the function that writes the element and
the one that reads it back (``None`` for a ``derived`` element that is not read back), and where
the element is coded or measured, the code and unit objects from :mod:`fhir_ivc.terminology`.
Each mapper module ends with its ``ELEMENTS``, declared through :class:`Rows` (one per writer
and reader pair, so a row states only its case element, FHIR element and what differs);
docs/mapping.md and the row-coverage tests are generated from them, so the table a newcomer
reads is the table the code runs. Families whose
elements differ only in data are declared entirely by their rows and driven by one loop (see
:mod:`fhir_ivc.mappers.measures`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fhir_ivc.mappers._context import MapContext
from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.units import Unit

__all__ = ["ElementMap", "Equivalence", "Rows", "Target"]

Equivalence = Literal["equal", "equivalent", "wider", "derived"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where an element goes in FHIR: resource type, element (as documented), claimed profile."""

    resource: str  #: "Observation"
    element: str  #: "valueQuantity", "(estimated-blood-loss).valueQuantity mL", "code"
    profile: str  #: canonical URL of the profile the resource claims

    def __str__(self) -> str:
        sep = "" if not self.element or self.element.startswith(("(", "[", " ")) else "."
        return f"{self.resource}{sep}{self.element}"


@dataclass(frozen=True, slots=True)
class ElementMap:
    source: str  #: case-model path, e.g. "surgery.blood_loss_ml"
    target: Target
    to_fhir: Callable[[MapContext], None]  #: the mapper that writes it (one of ``MAPPERS``)
    #: the reader that takes it back; ``None``: written for receivers, not read back
    from_fhir: Callable[..., Any] | None
    equivalence: Equivalence = "equal"
    note: str = ""
    code: Code | None = None  #: the code the target carries, when the row fixes one
    unit: Unit | None = None  #: the UCUM unit of a Quantity target

    @property
    def profile(self) -> str:
        return self.target.profile


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows of one writer and reader pair: the resource they write and its usual profile.

    ``Rows("Condition", PRIMARY, to_fhir_primary_condition, from_fhir_primary_condition)``
    declares them once; each ``.row(source, element)`` is then one row of the mapping table.
    """

    resource: str
    profile: str
    to_fhir: Callable[[MapContext], None]
    from_fhir: Callable[..., Any] | None  #: ``None``: derived rows, not read back

    def row(
        self,
        source: str,
        element: str,
        *,
        profile: str | None = None,
        equivalence: Equivalence = "equal",
        note: str = "",
        code: Code | None = None,
        unit: Unit | None = None,
    ) -> ElementMap:
        """The row of case element ``source``, written to ``element`` (another ``profile``)."""
        target = Target(self.resource, element, profile or self.profile)
        return ElementMap(
            source, target, self.to_fhir, self.from_fhir, equivalence, note, code, unit
        )
