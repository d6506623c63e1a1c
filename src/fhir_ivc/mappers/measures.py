"""Operative measures of the index surgery, each declared once in :data:`MEASURES`.

A :class:`Measure` row is the whole mapping of one measure: the ``Surgery`` field, the element
key in its identifier, the code (an object of :mod:`fhir_ivc.terminology`), the UCUM unit, and
the value transforms in both directions. Nothing else names a measure. Derived from the rows:

* the forward mapping, :func:`to_fhir_operative_measures` (one Observation per stated measure,
  profile ivc-operative-measure, ``partOf`` the surgery);
* the reverse reading, :func:`measure_of` and :func:`from_fhir_operative_measure`;
* the profile's code and unit value sets and its unit invariants, :func:`unit_constraints`
  (``scripts/build_profiles.py`` writes them into profiles/, and
  ``fhir_ivc.validation._invariants`` checks them);
* the mapping rows, :data:`ELEMENTS` (docs/mapping.md);
* the synthetic cases' values, :attr:`Measure.synthetic` (:mod:`fhir_ivc.testing.synth` draws
  each row's value through :class:`SyntheticSurgery`).

docs/mapping.md ("Changing one element") walks through changing a measure's code and unit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from fhir_ivc.fhir.elements import codings, concept, quantity
from fhir_ivc.mappers._context import MapContext
from fhir_ivc.mappers._observation import add_observation
from fhir_ivc.mappers._read import ReadContext, ReadShape
from fhir_ivc.mappers._rows import ElementMap, Target
from fhir_ivc.terminology import codes as C
from fhir_ivc.terminology import units as U
from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import project_url
from fhir_ivc.terminology.units import Unit

__all__ = [
    "ELEMENTS",
    "KIND",
    "MEASURES",
    "OPERATIVE_MEASURE",
    "READ_SHAPES",
    "Measure",
    "SyntheticSurgery",
    "UnitConstraint",
    "from_fhir_operative_measure",
    "measure_of",
    "to_fhir_operative_measures",
    "unit_constraints",
]

OPERATIVE_MEASURE: Final = project_url("StructureDefinition", "ivc-operative-measure")
#: the reader's name for an Observation that carries one of the measures
KIND: Final = "operative-measure"


def _same(value: float) -> float:
    return value


class SyntheticSurgery(Protocol):
    """What a row's synthetic distribution may draw on: the case's random stream and the
    synthetic surgery drawn so far (no value describes a real patient)."""

    rng: random.Random

    def chance(self, p: float) -> bool: ...

    #: whether the IVC was repaired or replaced (not ligated)
    @property
    def repaired(self) -> bool: ...

    #: the number of postoperative complications (drawn on first use)
    def complication_count(self) -> int: ...


def _none(surgery: SyntheticSurgery) -> float | None:
    return None


def _whole_days(value: float) -> int:
    return int(value)


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure of the index surgery, both directions."""

    field: (
        str  #: the ``Surgery`` field (``blood_loss_ml``); the case element is ``surgery.<field>``
    )
    #: the element key in the Observation's identifier (``…/surgery.<key>``). Part of the
    #: identifier contract (tests/mapping/test_identifiers.py): never change it without a
    #: migration note, or every server holding the case gets a second copy.
    key: str
    label: str  #: what it is, for docs and profile texts (``estimated blood loss``)
    code: Code  #: ``Observation.code``, from fhir_ivc.terminology
    unit: Unit  #: ``Observation.valueQuantity`` unit, from fhir_ivc.terminology.units
    #: case value -> ``valueQuantity.value`` (the case field's unit -> ``unit``)
    to_fhir: Callable[[float], float] = _same
    #: ``valueQuantity.value`` -> case value
    from_fhir: Callable[[float], float | int] = _same
    note: str = ""
    #: a synthetic case's value (in the case field's unit), or None when the case has none
    synthetic: Callable[[SyntheticSurgery], float | None] = _none

    @property
    def source(self) -> str:
        return f"surgery.{self.field}"


MEASURES: Final[tuple[Measure, ...]] = (
    Measure(
        "operative_time_min",
        "operative-time",
        "operative time",
        C.OBS["operative-duration"],
        U.MINUTE,
        note="no verified LOINC/SNOMED CT code for operative duration",
        synthetic=lambda s: float(5 * s.rng.randint(30, 108)),
    ),
    Measure(
        "ivc_clamp_time_min",
        "clamp-time",
        "IVC clamping time",
        C.OBS["ivc-clamp-time"],
        U.MINUTE,
        note="no verified LOINC/SNOMED CT code for clamp time",
        synthetic=lambda s: float(s.rng.randint(15, 75)) if s.repaired and s.chance(0.7) else None,
    ),
    Measure(
        "blood_loss_ml",
        "blood-loss",
        "estimated blood loss",
        C.OBS["estimated-blood-loss"],
        U.MILLILITER,
        note="LOINC 59770-8 is narrative, 81661-1 measured (not estimated) blood loss",
        synthetic=lambda s: float(
            50 * max(1, min(180, round(s.rng.lognormvariate(6.6, 0.7) / 50)))
        ),
    ),
    Measure(
        "postoperative_stay_days",
        "stay",
        "postoperative length of stay",
        C.OBS["postoperative-stay"],
        U.DAY,
        from_fhir=_whole_days,
        # each complication adds a week; the complications are drawn before the stay
        synthetic=lambda s: 7 * s.complication_count() + s.rng.randint(6, 14),
    ),
)

# --- case -> FHIR ------------------------------------------------------------------------------


def to_fhir_operative_measures(ctx: MapContext) -> None:
    """One Observation per measure the surgery states (profile ivc-operative-measure)."""
    surgery = ctx.case.surgery
    if surgery is None:
        return
    for measure in MEASURES:
        value = getattr(surgery, measure.field)
        if value is None:
            continue
        add_observation(
            ctx,
            f"surgery.{measure.key}",
            measure.source,  # the case element, as failures and the case-element marker name it
            concept(measure.code),
            {"valueQuantity": quantity(measure.to_fhir(value), measure.unit.code)},
            category="procedure",
            profile=OPERATIVE_MEASURE,
            facts=[(surgery, "surgery")],
            extra={"partOf": [ctx.ref("surgery")]},
        )


# --- FHIR -> case ------------------------------------------------------------------------------

_BY_CODE: Final[Mapping[tuple[str, str], Measure]] = {
    (m.code.system, m.code.code): m for m in MEASURES
}
#: what the reader takes from a measure Observation (``read_case`` reports the rest)
READ_SHAPES: Final = {
    KIND: ReadShape.of(("status", "category", "code", "subject", "partOf", "valueQuantity"))
}


def measure_of(res: Mapping[str, Any]) -> Measure | None:
    """The measure an Observation carries, by any of its codings."""
    for coding in codings(res.get("code")):
        found = _BY_CODE.get((str(coding.get("system")), str(coding.get("code"))))
        if found is not None:
            return found
    return None


def from_fhir_operative_measure(
    rc: ReadContext, res: dict[str, Any]
) -> tuple[str, float | int] | None:
    """``(Surgery field, case value)`` of one measure Observation, or None (a Loss) if unread."""
    measure = measure_of(res)
    if measure is None:
        return None
    q = res.get("valueQuantity") or {}
    if q.get("code") != measure.unit.code or "value" not in q:
        rc.lose(res, "Observation.valueQuantity", f"expected UCUM {measure.unit.code!r}")
        return None
    rc.use(res)
    return measure.field, measure.from_fhir(float(q["value"]))


# --- the profile -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitConstraint:
    """Invariant of ivc-operative-measure: these codes of one system are measured in ``unit``."""

    key: str
    system: str
    codes: tuple[str, ...]
    unit: Unit

    @property
    def human(self) -> str:
        verb = "is" if len(self.codes) == 1 else "are"
        return f"{' and '.join(self.codes)} {verb} measured in {self.unit.code}"

    @property
    def expression(self) -> str:
        any_code = " or ".join(f"code = '{c}'" for c in self.codes)
        return (
            f"code.coding.where(system = '{self.system}' and ({any_code})).exists() implies "
            f"value.ofType(Quantity).code = '{self.unit.code}'"
        )


def unit_constraints() -> list[UnitConstraint]:
    """One invariant per (unit, code system), keys ``ivc-om-1…`` in the order of the rows."""
    groups: dict[tuple[str, str], list[str]] = {}
    units: dict[str, Unit] = {}
    for m in MEASURES:
        groups.setdefault((m.unit.code, m.code.system), []).append(m.code.code)
        units[m.unit.code] = m.unit
    return [
        UnitConstraint(f"ivc-om-{i}", system, tuple(codes), units[unit])
        for i, ((unit, system), codes) in enumerate(groups.items(), start=1)
    ]


# --- the mapping rows (docs/mapping.md is generated from them) ---------------------------------

ELEMENTS: Final[tuple[ElementMap, ...]] = tuple(
    ElementMap(
        m.source,
        Target("Observation", f"({m.code.code}).valueQuantity {m.unit.code}", OPERATIVE_MEASURE),
        to_fhir_operative_measures,
        from_fhir_operative_measure,
        note=m.note,
        code=m.code,
        unit=m.unit,
    )
    for m in MEASURES
)
