"""The profile invariants (``ElementDefinition.constraint``) evaluated here, written in Python.

There is no FHIRPath engine in this package. Each invariant that matters for the adapter's
resources is implemented by hand and pinned to the exact FHIRPath expression it implements: when
a StructureDefinition carries the same key with a different expression (the profile changed),
the invariant is reported as not evaluated instead of being checked against stale logic.

FHIRPath semantics kept: ``A implies B`` with ``A`` true and ``B`` empty fails (the HL7 validator
treats an empty result as false), ``exists()`` of an absent element is false.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fhir_ivc.mappers.measures import unit_constraints

__all__ = ["INVARIANTS", "Invariant", "normalise"]

_LOCAL: Final = "https://fhir-ivc.example.org/fhir/CodeSystem/"
_OBSERVATION_CODE: Final = _LOCAL + "observation-code"
_IVC_MANAGEMENT: Final = _LOCAL + "ivc-management"


@dataclass(frozen=True, slots=True)
class Invariant:
    """A Python implementation of the FHIRPath ``expression`` of constraint ``key``."""

    key: str
    expression: str
    holds: Callable[[Mapping[str, Any]], bool]


def normalise(expression: str) -> str:
    """The expression with runs of white space collapsed (SDs wrap long expressions)."""
    return " ".join(expression.split())


def _present(value: Any) -> bool:
    return value not in (None, [], {}, "")


def _has_code(concept: Any, system: str, codes: Collection[str]) -> bool:
    """``concept.coding.where(system = S and code in codes).exists()``."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return False
    return any(
        isinstance(c, dict)
        and c.get("system") == system
        and isinstance(c.get("code"), str)
        and c["code"] in codes
        for c in codings
    )


def _unit_rule(
    system: str, codes: Collection[str], unit: str
) -> Callable[[Mapping[str, Any]], bool]:
    """``code has one of codes implies value.ofType(Quantity).code = unit``."""

    def holds(resource: Mapping[str, Any]) -> bool:
        if not _has_code(resource.get("code"), system, codes):
            return True
        quantity = resource.get("valueQuantity")
        return isinstance(quantity, dict) and quantity.get("code") == unit

    return holds


def _value_rule(code: str, key: str) -> Callable[[Mapping[str, Any]], bool]:
    """``code has this local code implies value.ofType(T).exists()`` (``key`` = valueT)."""

    def holds(resource: Mapping[str, Any]) -> bool:
        if not _has_code(resource.get("code"), _OBSERVATION_CODE, (code,)):
            return True
        return _present(resource.get(key))

    return holds


def _focus_xor_specimen(resource: Mapping[str, Any]) -> bool:
    return _present(resource.get("focus")) != _present(resource.get("specimen"))


def _reason(resource: Mapping[str, Any]) -> bool:
    return _present(resource.get("reasonCode")) or _present(resource.get("reasonReference"))


def _graft_only_with_graft(resource: Mapping[str, Any]) -> bool:
    if not _present(resource.get("usedCode")):
        return True
    return _has_code(
        resource.get("code"), _IVC_MANAGEMENT, ("graft-replacement", "patch-cavoplasty")
    )


def _q(system: str) -> str:
    return f"system = '{system}'"


_OM: Final = f"code.coding.where({_q(_OBSERVATION_CODE)} and "

INVARIANTS: Final[dict[str, Invariant]] = {
    inv.key: inv
    for inv in (
        # mCODE TumorSize: exactly one of focus and specimen
        Invariant(
            "must-have-focus-or-specimen-invariant",
            "(focus.exists() or specimen.exists()) and "
            "(focus.exists() and specimen.exists()).not()",
            _focus_xor_specimen,
        ),
        # mCODE CancerRelatedSurgicalProcedure / MedicationAdministration (severity warning)
        Invariant(
            "mcode-reason-required", "reasonCode.exists() or reasonReference.exists()", _reason
        ),
        # project: IVC management procedure
        Invariant(
            "ivc-mgmt-1",
            "usedCode.exists() implies code.coding.where("
            f"{_q(_IVC_MANAGEMENT)} and (code = 'graft-replacement' or code = 'patch-cavoplasty'))"
            ".exists()",
            _graft_only_with_graft,
        ),
        # project: IVC operative measure units, one per unit, from the measure rows
        *(
            Invariant(c.key, c.expression, _unit_rule(c.system, c.codes, c.unit.code))
            for c in unit_constraints()
        ),
        # project: IVC follow-up finding value types
        Invariant(
            "ivc-fu-1",
            f"{_OM}code = 'local-recurrence').exists() implies value.ofType(boolean).exists()",
            _value_rule("local-recurrence", "valueBoolean"),
        ),
        Invariant(
            "ivc-fu-2",
            f"{_OM}code = 'vital-status').exists() implies value.ofType(CodeableConcept).exists()",
            _value_rule("vital-status", "valueCodeableConcept"),
        ),
    )
}
