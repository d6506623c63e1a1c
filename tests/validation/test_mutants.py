"""The mutation suite (issue 10), the Python side: every mutant of an emitted bundle gives the
declared issue, at the declared place, and no error outside the entry it breaks.

The HL7 engine's side (same mutants, one engine run) is tests/conformance/test_mutants.py.
"""

from __future__ import annotations

import json

import pytest

from fhir_ivc.validation import validate

from . import _mutants as suite

KINDS = {
    "primitive type (no coercion, R4 regex)",
    "unknown element",
    "cardinality",
    "fixed / pattern value",
    "slice",
    "required binding (core value set)",
    "extensible binding (warning)",
    "base invariant",
    "mCODE / project invariant",
    "reference target type",
    "unresolved reference in the bundle",
}


def test_at_least_60_mutants_cover_every_class() -> None:
    assert len(suite.MUTANTS) >= 60
    assert {m.kind for m in suite.MUTANTS} == KINDS
    assert len(suite.by_name()) == len(suite.MUTANTS), "mutant names must be unique"
    assert {m.base for m in suite.MUTANTS} == set(suite.BASES)


@pytest.mark.parametrize("name", suite.BASES)
def test_the_bases_are_valid(name: str) -> None:
    assert validate(suite.base(name)) == []


def test_every_mutant_changes_its_base_and_no_two_are_the_same() -> None:
    seen = set()
    bases = {name: json.dumps(suite.base(name), sort_keys=True) for name in suite.BASES}
    for mutant in suite.MUTANTS:
        bundle, _ = suite.build(mutant)
        text = json.dumps(bundle, sort_keys=True)
        assert text != bases[mutant.base], mutant.name
        assert text not in seen, mutant.name
        seen.add(text)


def test_invariant_mutants_name_their_invariant() -> None:
    """A base-invariant mutant named after its key (``obs-6-...``) is reported as that key."""
    for mutant in suite.MUTANTS:
        key = "-".join(mutant.name.split("-")[:2])
        if mutant.kind != "base invariant" or not mutant.expect or key.startswith("bdl-9"):
            continue
        bundle, _ = suite.build(mutant)
        messages = [i["diagnostics"] for i in validate(bundle, min_severity="warning")]
        if key.startswith(("obs-", "con-", "ext-", "per-", "ref-", "bdl-")):
            assert any(f"constraint {key} failed" in m for m in messages), (mutant.name, messages)


@pytest.mark.parametrize("mutant", suite.MUTANTS, ids=[m.name for m in suite.MUTANTS])
def test_mutant_is_reported_where_declared(mutant: suite.Mutant) -> None:
    bundle, prefix = suite.build(mutant)
    issues = validate(bundle, min_severity="warning")
    found = {(i["severity"], i["expression"][0]) for i in issues}
    missing = [want for want in suite.expected(mutant, prefix) if want not in found]
    errors = [i for i in issues if i["severity"] == "error"]
    assert not missing, (missing, [i["diagnostics"] for i in issues])
    assert bool(errors) == mutant.python_rejects, [i["diagnostics"] for i in errors]
    assert all(i["code"] != "exception" for i in issues), "a check crashed on the mutant"
    entry = prefix.removesuffix(".resource")
    if mutant.at:  # the errors are those of the broken entry
        stray = [i for i in errors if not i["expression"][0].startswith(entry)]
        assert stray == [], [i["diagnostics"] for i in stray]
