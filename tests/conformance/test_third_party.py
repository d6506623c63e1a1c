"""Issue 8, item 4: third-party data through the full chain, in the same engine run.

The mCODE 4.0.0 examples (tests/data/mcode-examples) and the US Core 6.1.0 examples (read from
the pinned US Core tarball at test time) are validated with mCODE, US Core and the extensions
loaded. They are other producers' data, so their errors are not the adapter's: each kind is in the
reviewed list expected-third-party-errors.txt with its cause, and a new kind fails until a person
looks at it. What must hold: every example is validated, every mCODE / US Core profile an example
claims is in the chain, and no mCODE or US Core definition is missing. The reading side (what
maps, what is a loss) is tests/bundle/test_third_party.py and test_us_core_examples.py.
"""

from __future__ import annotations

from collections import Counter

from . import _reviewed
from ._found import Found, tally
from .conftest import ConformanceRun

ERRORS = "expected-third-party-errors.txt"
CHAIN = ("http://hl7.org/fhir/us/core/", "http://hl7.org/fhir/us/mcode/")


def _third_party(conformance: ConformanceRun) -> list[Found]:
    return conformance.of(
        conformance.group("mcode-examples") + conformance.group("us-core-examples")
    )


def test_every_example_is_validated(conformance: ConformanceRun) -> None:
    by_path = {f["path"]: f for f in conformance.report["files"]}
    assert len(conformance.group("us-core-examples")) > 150  # 183 in US Core 6.1.0
    assert len(conformance.group("mcode-examples")) >= 10
    for path in conformance.group("mcode-examples") + conformance.group("us-core-examples"):
        (resource,) = by_path[str(path)]["resources"]
        assert resource["resourceType"] == conformance.documents[str(path)]["resourceType"]


def test_every_claimed_mcode_and_us_core_profile_is_in_the_chain(
    conformance: ConformanceRun,
) -> None:
    known = {
        url
        for package in conformance.report["packages"]
        for url in package.get("StructureDefinition", [])
    }
    claimed: Counter[str] = Counter()
    by_path = {f["path"]: f for f in conformance.report["files"]}
    for path in conformance.group("mcode-examples") + conformance.group("us-core-examples"):
        for resource in by_path[str(path)]["resources"]:
            for entry in [resource, *resource.get("entries", [])]:
                for profile in entry.get("profiles", []):
                    claimed[profile.split("|")[0]] += 1
    ours = {p for p in claimed if p.startswith(CHAIN)}
    assert len(ours) > 40, sorted(ours)
    assert ours <= known, sorted(ours - known)


def test_no_mcode_or_us_core_definition_is_missing(conformance: ConformanceRun) -> None:
    unresolved = [
        f
        for f in _third_party(conformance)
        if f.issue.get("messageId")
        in (
            "Validation_VAL_Profile_Unknown",
            "Reference_REF_CantResolveProfile",
            "Terminology_TX_ValueSet_NotFound",
        )
        and any(c in f.issue.get("message", "") for c in CHAIN)
    ]
    assert unresolved == [], [f.issue["message"] for f in unresolved[:10]]


def test_third_party_errors_are_the_reviewed_ones(conformance: ConformanceRun) -> None:
    errors = [f for f in _third_party(conformance) if f.is_error]
    diff = _reviewed.compare(ERRORS, tally(errors))
    assert not diff, "errors on third-party data changed (review, then accept):\n" + "\n".join(diff)


def test_every_reviewed_third_party_error_has_a_reason() -> None:
    assert _reviewed.read(ERRORS), f"{ERRORS} is empty"
    assert _reviewed.unreviewed(ERRORS) == []
