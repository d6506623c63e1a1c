"""The mutation suite (issue 10), both engines: the Python validator catches every mutant the
HL7 engine catches, and where their verdicts differ the mutant lists the reason.

The mutants are tests/validation/_mutants.py, run through the session's one engine run (the
``mutants`` group of conftest.INPUT_GROUPS). A mutant's ``hl7`` is the engine's verdict on the
whole bundle (its bases have no engine error: test_emitted.py); ``why`` is set exactly when the
Python verdict differs, so a difference that goes away, or a new one, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_ivc.validation import validate
from tests.validation import _mutants as suite

from ._found import Found, describe
from .conftest import ConformanceRun

MUTANTS = suite.MUTANTS


def _by_name(conformance: ConformanceRun) -> dict[str, Path]:
    return {p.stem: p for p in conformance.group("mutants")}


def _engine(conformance: ConformanceRun, mutant: suite.Mutant) -> list[Found]:
    return conformance.of([_by_name(conformance)[mutant.name]])


def test_every_mutant_went_through_the_engine(conformance: ConformanceRun) -> None:
    assert sorted(_by_name(conformance)) == sorted(m.name for m in MUTANTS)
    files = {f["path"] for f in conformance.report["files"]}
    assert {str(p) for p in conformance.group("mutants")} <= files


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_engines_agree_or_the_difference_is_listed(
    conformance: ConformanceRun, mutant: suite.Mutant
) -> None:
    found = _engine(conformance, mutant)
    errors = [f for f in found if f.is_error]
    engine = "error" if errors else "clean"
    assert engine == mutant.hl7, [describe(f) for f in errors] or "the engine found no error"
    if mutant.hl7_id:
        assert any(f.issue.get("messageId") == mutant.hl7_id for f in found), mutant.hl7_id
    bundle, _ = suite.build(mutant)
    python = "error" if validate(bundle) else "clean"
    if mutant.why:
        assert python != engine, f"the listed difference is gone: {mutant.why}"
    else:
        assert python == engine, [describe(f) for f in errors]


def test_python_catches_every_mutant_the_engine_catches(conformance: ConformanceRun) -> None:
    missed = []
    for mutant in MUTANTS:
        if any(f.is_error for f in _engine(conformance, mutant)):
            bundle, _ = suite.build(mutant)
            if not validate(bundle):
                missed.append(mutant.name)
    assert missed == []


def test_every_listed_difference_has_python_stricter() -> None:
    """The differences listed today are all errors the engine reports as warnings or not at
    all; a mutant the engine rejects and Python accepts has no reason good enough."""
    for mutant in MUTANTS:
        if mutant.why:
            assert mutant.hl7 == "clean", mutant.name
            assert mutant.python_rejects, mutant.name
