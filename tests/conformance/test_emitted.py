"""Issue 8, item 2: the adapter's output is the test, against the whole mCODE chain.

Every bundle ``fhir-ivc map`` writes for the seed cases and 200 synthetic cases is validated by
the HL7 engine, with mCODE 4.0.0, US Core 6.1.0 and the rest of the chain loaded
(docs/conformance.md), against the profiles each resource claims: **0 errors**, nothing classified
away, and only reviewed warnings (expected-warnings.txt, each kind with its reason).
"""

from __future__ import annotations

from collections import Counter

from . import _reviewed
from ._found import describe, key, normal_location, normal_message, tally
from .conftest import N_SYNTH, ConformanceRun

WARNINGS = "expected-warnings.txt"


def test_every_case_was_mapped_and_validated(conformance: ConformanceRun) -> None:
    assert len(conformance.seed) == 2 * 2  # case-1, case-2 x transaction, collection
    assert len(conformance.synth) == 2 * N_SYNTH
    by_path = {f["path"]: f for f in conformance.report["files"]}
    for path in conformance.emitted:
        resources = by_path[str(path)]["resources"]
        assert [r["resourceType"] for r in resources] == ["Bundle"], path
        entries = resources[0]["entries"]
        bundle = conformance.documents[str(path)]
        assert len(entries) == len(bundle["entry"]), path
        # every entry is checked against the profiles it claims (those that claim none, e.g.
        # symptom Conditions, against base R4: docs/conformance.md, "US Core")
        for entry, source in zip(entries, bundle["entry"], strict=True):
            assert entry["profiles"] == source["resource"].get("meta", {}).get("profile", []), path
    assert conformance.report["inputErrors"] == []


def test_no_errors_in_emitted_bundles(conformance: ConformanceRun) -> None:
    errors = [f for f in conformance.of(conformance.emitted) if f.is_error]
    kinds = Counter(key(f) for f in errors)
    assert not errors, (
        f"{len(errors)} errors of the HL7 engine in emitted bundles; by kind:\n"
        + "\n".join(f"{n:6d}  {k}" for k, n in kinds.most_common())
        + "\nfirst ones:\n"
        + "\n".join(describe(f) for f in errors[:20])
    )


def test_warnings_are_the_reviewed_ones(conformance: ConformanceRun) -> None:
    warnings = [f for f in conformance.of(conformance.emitted) if f.issue["severity"] == "warning"]
    diff = _reviewed.compare(WARNINGS, tally(warnings))
    assert not diff, "warnings changed (review, then accept):\n" + "\n".join(diff)


def test_every_reviewed_warning_has_a_reason() -> None:
    assert _reviewed.read(WARNINGS), f"{WARNINGS} is empty"
    assert _reviewed.unreviewed(WARNINGS) == []


def test_the_engine_stayed_offline(conformance: ConformanceRun) -> None:
    log = conformance.report["stderr"]
    assert "Error fetching" not in log
    assert "PackageClient" not in log
    assert "tx.fhir.org" not in log


def test_normalisation_strips_case_specific_ids() -> None:
    uuid = "3f825265-ba2d-52ce-a131-2d57c1934b29"
    loc = f"Bundle.entry[12].resource/*Observation/{uuid}*/.component[1].code"
    assert normal_location(loc, "Observation") == "Observation.component[*].code"
    msg = f"Unable to find a profile match for urn:uuid:{uuid} among"
    assert normal_message(msg) == "Unable to find a profile match for urn:uuid:* among"
