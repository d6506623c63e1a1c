"""What the adapter emits validates with 0 errors; warnings never make ``fhir-ivc map`` reject.

Seeds (freshly mapped and the committed golden bundles) and 50 synthetic cases, both bundle
kinds. Every profile they claim is known to the validator, so "0 errors" means "checked".
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import pytest

from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.cli._services import validation_check
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case
from fhir_ivc.validation import validate_bundle, validator

SEED = Path(__file__).resolve().parents[1] / "data" / "seed"
SEED_IDS = sorted(p.name for p in SEED.iterdir() if (p / "input" / "case.json").exists())
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
SYNTHETIC = 50


@cache
def seed_bundles(case_id: str) -> CaseBundles:
    data = json.loads((SEED / case_id / "input" / "case.json").read_text(encoding="utf-8"))
    return build_bundles(Case.model_validate(data))


def claimed(bundle) -> set[str]:
    found = set(bundle.get("meta", {}).get("profile", []))
    for entry in bundle["entry"]:
        found |= set(entry["resource"].get("meta", {}).get("profile", []))
    return found


@pytest.mark.parametrize("case_id", SEED_IDS)
@pytest.mark.parametrize("kind", ["transaction", "collection"])
def test_seed_bundles_have_no_errors(case_id, kind) -> None:
    bundle = getattr(seed_bundles(case_id), kind)
    assert validate_bundle(bundle) == []
    golden = json.loads((SEED / case_id / "expected" / f"{kind}.json").read_text("utf-8"))
    assert validate_bundle(golden) == []


def test_synthetic_cases_have_no_errors() -> None:
    profiles: set[str] = set()
    for index in range(SYNTHETIC):
        bundles = build_bundles(synthetic_case(index))
        for bundle in (bundles.transaction, bundles.collection):
            assert validate_bundle(bundle) == [], bundles.case_id
            profiles |= claimed(bundle)
    assert len(profiles) >= 12
    assert all(validator().chain(p) for p in profiles), "a claimed profile is unknown"


def test_every_claimed_profile_is_checked_not_skipped() -> None:
    bundle = seed_bundles(SEED_IDS[0]).collection
    issues = validate_bundle(bundle, min_severity="information")
    assert not [i for i in issues if "is not known here" in i["diagnostics"]]
    assert len(claimed(bundle)) >= 12


def test_seed_warnings_are_reported_but_are_not_failures() -> None:
    bundle = seed_bundles(SEED_IDS[0]).collection
    warnings = validate_bundle(bundle, min_severity="warning")
    assert warnings  # SNOMED CT filter bindings cannot be checked offline
    assert {i["severity"] for i in warnings} == {"warning"}
    assert validation_check(bundle) == []  # the fhir-ivc map hook: no problem, no rejection


def test_the_map_hook_reports_errors_with_the_entry_path() -> None:
    bundle = copy.deepcopy(seed_bundles(SEED_IDS[0]).collection)
    index, resource = next(
        (i, e["resource"])
        for i, e in enumerate(bundle["entry"])
        if MCODE + "mcode-tumor-size" in e["resource"].get("meta", {}).get("profile", [])
    )
    resource["component"][0]["valueQuantity"]["code"] = "[in_i]"
    problems = validation_check(bundle)
    assert problems == [
        f"Bundle.entry[{index}].resource.component[0].valueQuantity.code: the code is not in "
        "value set http://hl7.org/fhir/us/mcode/ValueSet/mcode-tumor-size-units-vs (required)"
    ]


def test_the_bundle_profile_requires_a_patient_and_checks_it_against_its_slice() -> None:
    bundle = copy.deepcopy(seed_bundles(SEED_IDS[0]).collection)
    assert MCODE + "mcode-patient-bundle" in bundle["meta"]["profile"]
    patient = bundle["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    # the Patient no longer claims mcode-cancer-patient, but the bundle's slice requires it
    del patient["meta"]
    del patient["identifier"]
    issues = validate_bundle(bundle)
    assert [(i["expression"], i.get("profile")) for i in issues] == [
        (["Bundle.entry[0].resource.identifier"], MCODE + "mcode-cancer-patient")
    ]
    del bundle["entry"][0]
    issues = validate_bundle(bundle)
    assert any(
        i["expression"] == ["Bundle.entry"] and "slice 'cancerPatient'" in i["diagnostics"]
        for i in issues
    ), issues
