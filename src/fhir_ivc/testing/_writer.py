"""The base of the synthetic case writer: one random stream, the time line and the helpers.

:class:`CaseWriterBase` draws what the whole case depends on (operated or not, dated or
relative, the IVC segments, the tumor size, the age) in a fixed order; the clinical sections
are written by ``fhir_ivc.testing.synth``. Nothing here describes a real patient.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from fhir_ivc.mappers.measures import MEASURES

__all__ = [
    "MONTH_DAYS",
    "CaseWriterBase",
    "Record",
    "SurgeryDraws",
    "draw_measures",
    "tenth",
    "weighted",
]

T = TypeVar("T")
Record = dict[str, Any]

#: share of cases with calendar dates instead of times relative to the surgery
_DATED_SHARE: Final = 0.2
#: share of cases without surgery (unresectable or declined)
_UNOPERATED_SHARE: Final = 0.04
MONTH_DAYS: Final = 30.44


def weighted(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    values = [value for value, _ in options]
    return rng.choices(values, weights=[weight for _, weight in options])[0]


def tenth(value: float) -> float:
    """Round to one decimal: a value that JSON and FHIR decimals carry exactly."""
    return round(value, 1)


class CaseWriterBase:
    """The random stream of one case, its time line and the helpers every section uses.

    Every event is placed on a day relative to the index surgery (negative: before it). It is
    then written as a relative time, or - in dated cases - as a calendar date at a realistic
    precision (mostly a day, sometimes only a month or a year).
    """

    def __init__(self, rng: random.Random, *, index: int, seed: int, source_system: str) -> None:
        self.rng = rng
        self.index = index
        self.seed = seed
        self.source_system = source_system
        self.operated = rng.random() >= _UNOPERATED_SHARE
        self.dated = not self.operated or rng.random() < _DATED_SHARE
        # Day 0: the surgery, or for unoperated patients the start of their treatment.
        self.day0 = datetime.date(2005, 1, 1) + datetime.timedelta(days=rng.randrange(20 * 365))
        self.explicit_keys = rng.random() < 0.15
        self.marks_inferred = rng.random() < 0.25
        self.segments: list[str] = weighted(
            rng,
            [
                (["middle"], 45),
                (["lower"], 22),
                (["upper"], 9),
                (["middle", "lower"], 14),
                (["upper", "middle"], 10),
            ],
        )
        self.intraluminal: list[str] = []
        if "upper" in self.segments and rng.random() < 0.4:
            self.intraluminal.append("right-atrium")
        if "upper" in self.segments and rng.random() < 0.2:
            self.intraluminal.append("hepatic-vein")
        if "middle" in self.segments and rng.random() < 0.15:
            self.intraluminal.append("renal-vein")
        largest = tenth(rng.uniform(3.0, 20.0))
        #: tumor dimensions in cm on imaging, largest first
        self.size = [largest, tenth(largest * rng.uniform(0.45, 0.95))]
        if rng.random() < 0.4:
            self.size.append(tenth(largest * rng.uniform(0.3, 0.9)))
        self.age = max(25, min(85, round(rng.gauss(57, 11))))
        #: day the first metastasis is detected; None without metastases
        self.first_metastasis: int | None = None
        self.dies = False
        self.margin_clear = False

    # -------------------------------------------------------------------------------- helpers

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def time(self, day: int, *, precision: str | None = None) -> Record:
        """A time point for ``day`` days after day 0 (before it when negative)."""
        if self.dated:
            return {"date": self.date(day, precision=precision)}
        rng, span = self.rng, abs(day)
        relative: Record
        if span < 21:
            relative = {"offset": span, "unit": "d"}
        elif span < 91:
            relative = {"offset": round(span / 7), "unit": "wk"}
        else:
            months = round(span / MONTH_DAYS)
            if months % 12 == 0 and rng.random() < 0.5:
                relative = {"offset": months // 12, "unit": "a"}
            elif months < 24 and rng.random() < 0.15:
                relative = {"offset": tenth(span / MONTH_DAYS), "unit": "mo"}  # "4.5 months"
            else:
                relative = {"offset": months, "unit": "mo"}
        if day < 0:
            relative["relation"] = "before"
        elif rng.random() < 0.3:
            relative["relation"] = "after"  # stated although it is the default
        return {"relative": relative}

    def precision(self) -> str:
        """A date precision; a period's start and end share one, so FHIR can order them."""
        return weighted(self.rng, [("day", 75), ("month", 20), ("year", 5)])

    def date(self, day: int, *, precision: str | None = None) -> str:
        when = self.day0 + datetime.timedelta(days=day)
        precision = precision or self.precision()
        if precision == "year":
            return f"{when.year:04d}"
        if precision == "month":
            return when.isoformat()[:7]
        return when.isoformat()

    def key(self, prefix: str, number: int) -> Record:
        return {"key": f"{prefix}-{number}"} if self.explicit_keys else {}

    def infer(self, obj: Record, *names: str, p: float = 0.5) -> None:
        """Mark some of ``names`` (fields present in ``obj``) as inferred, in some cases."""
        if not self.marks_inferred:
            return
        chosen = [name for name in names if name in obj and self.rng.random() < p]
        if chosen:
            obj["inferred"] = chosen


class SurgeryDraws:
    """The synthetic surgery as the measure rows' distributions see it
    (:class:`fhir_ivc.mappers.measures.SyntheticSurgery`): the case's random stream, whether
    the IVC was repaired, and its complications, drawn once, on first use."""

    def __init__(
        self,
        writer: CaseWriterBase,
        *,
        repaired: bool,
        complications: Callable[[], list[Record]],
    ) -> None:
        self.rng = writer.rng
        self._writer = writer
        self._repaired = repaired
        self._draw_complications = complications
        self._complications: list[Record] | None = None

    @property
    def repaired(self) -> bool:
        return self._repaired

    def chance(self, p: float) -> bool:
        return self._writer.chance(p)

    def complications(self) -> list[Record]:
        if self._complications is None:
            self._complications = self._draw_complications()
        return self._complications

    def complication_count(self) -> int:
        return len(self.complications())


def draw_measures(
    writer: CaseWriterBase,
    surgery: Record,
    repaired: bool,
    complications: Callable[[], list[Record]],
) -> list[Record]:
    """Set each operative measure of ``surgery`` that its row's distribution gives a value;
    the surgery's complications (drawn here if no row asked for them first)."""
    draws = SurgeryDraws(writer, repaired=repaired, complications=complications)
    for measure in MEASURES:
        value = measure.synthetic(draws)
        if value is not None:
            surgery[measure.field] = value
    return draws.complications()
