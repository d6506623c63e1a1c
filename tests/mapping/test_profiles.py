"""Resources claiming an mCODE profile carry what the profile fixes and requires.

Constraints are read from the mCODE 4.0.0 StructureDefinitions shipped in
src/fhir_ivc/validation/packages/hl7.fhir.us.mcode-4.0.0 (never
from the mapper code): fixed codes from ``patternCodeableConcept``, slice cardinalities from the
snapshot, units from the bound value set, the focus/specimen rule from the SD's invariant.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ._fhir import (
    LOINC,
    MCODE,
    MCODE_DIR,
    by_url,
    ext_values,
    has_code,
    of_type,
    profiles,
    ref,
    resources,
    sd_constraint,
    sd_element,
    sd_pattern_coding,
    seed_bundles,
    seed_case_ids,
    valueset_codes,
    with_profile,
)
from ._profiles import matches, profile_problems

SUPPORTED = {
    p.name.removeprefix("StructureDefinition-").removesuffix(".json")
    for p in (MCODE_DIR / "StructureDefinition").glob("*.json")
}


def bundles() -> list[dict[str, Any]]:
    return [seed_bundles(c).collection for c in seed_case_ids()]


def claiming(profile_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(bundle, resource) for every seed resource claiming ``profile_id``."""
    found = [(b, r) for b in bundles() for r in with_profile(b, profile_id)]
    assert found, f"no seed resource claims {profile_id}"
    return found


def binding_vs(profile_id: str, element_id: str) -> frozenset[tuple[str, str]]:
    return valueset_codes(sd_element(profile_id, element_id)["binding"]["valueSet"])


# --- every claim, checked against its StructureDefinition ---------------------------------------
def test_claimed_mcode_profiles_are_known() -> None:
    claimed = {
        p.removeprefix(MCODE) for b in bundles() for r in [b, *resources(b)] for p in profiles(r)
    }
    mcode_claims = {p for p in claimed if not p.startswith("http")}
    assert mcode_claims <= SUPPORTED, (
        f"claims without an SD in tests/data: {mcode_claims - SUPPORTED}"
    )
    assert {
        "mcode-cancer-patient",
        "mcode-primary-cancer-condition",
        "mcode-secondary-cancer-condition",
        "mcode-tumor",
        "mcode-tumor-size",
        "mcode-human-specimen",
        "mcode-histologic-behavior-and-type",
        "mcode-histologic-grade",
        "mcode-cancer-related-surgical-procedure",
        "mcode-cancer-related-medication-administration",
        "mcode-cancer-disease-status",
        "mcode-patient-bundle",
    } <= mcode_claims


@pytest.mark.parametrize("case_id", seed_case_ids())
def test_every_mcode_claim_meets_its_structure_definition(case_id: str) -> None:
    bundle = seed_bundles(case_id).collection
    problems = profile_problems(bundle, "mcode-patient-bundle")
    for i, entry in enumerate(bundle["entry"]):
        for profile in profiles(entry["resource"]):
            if profile.startswith(MCODE):
                problems += [
                    f"entry[{i}] {profile.removeprefix(MCODE)}: {p}"
                    for p in profile_problems(entry["resource"], profile.removeprefix(MCODE))
                ]
    assert problems == []


# --- the fixed values, one profile at a time ----------------------------------------------------
def test_tumor_size_code_components_and_units() -> None:
    profile = "mcode-tumor-size"
    code = sd_pattern_coding(profile, "Observation.code")
    assert code == (LOINC, "21889-1")
    longest = sd_pattern_coding(profile, "Observation.component:tumorLongestDimension.code")
    other = sd_pattern_coding(profile, "Observation.component:tumorOtherDimension.code")
    longest_el = sd_element(profile, "Observation.component:tumorLongestDimension")
    other_el = sd_element(profile, "Observation.component:tumorOtherDimension")
    assert (longest_el["min"], longest_el["max"]) == (1, "1")
    assert (other_el["min"], other_el["max"]) == (0, "2")
    units = binding_vs(profile, "Observation.component:tumorLongestDimension.value[x]")
    assert units == binding_vs(profile, "Observation.component:tumorOtherDimension.value[x]")
    assert units == {("http://unitsofmeasure.org", "cm"), ("http://unitsofmeasure.org", "mm")}
    for _, obs in claiming(profile):
        assert has_code(obs["code"], *code)
        comps = obs["component"]
        assert sum(has_code(c["code"], *longest) for c in comps) == 1
        assert sum(has_code(c["code"], *other) for c in comps) <= 2
        assert all(has_code(c["code"], *longest) or has_code(c["code"], *other) for c in comps)
        for c in comps:
            q = c["valueQuantity"]
            assert (q["system"], q["code"]) in units
        values = [c["valueQuantity"]["value"] for c in comps]
        assert values[0] == max(values)  # the longest is the longest
        assert not any(k.startswith("value") for k in obs)  # value[x] is not used


def test_tumor_size_has_exactly_one_of_focus_or_specimen() -> None:
    invariant = sd_constraint("mcode-tumor-size", "must-have-focus-or-specimen-invariant")
    assert invariant["severity"] == "error"
    # the rule implemented below is this expression; fail if mCODE ever changes it
    assert invariant["expression"] == (
        "(focus.exists() or specimen.exists()) and (focus.exists() and specimen.exists()).not()"
    )
    targets = {
        "focus": sd_element("mcode-tumor-size", "Observation.focus")["type"][0]["targetProfile"],
        "specimen": sd_element("mcode-tumor-size", "Observation.specimen")["type"][0][
            "targetProfile"
        ],
    }
    for bundle, obs in claiming("mcode-tumor-size"):
        present = [k for k in ("focus", "specimen") if obs.get(k)]
        assert len(present) == 1, f"TumorSize with {present}"
        (key,) = present
        refs = obs[key] if isinstance(obs[key], list) else [obs[key]]
        assert len(refs) == 1  # focus is 0..1 in this profile
        target = by_url(bundle)[str(ref(refs[0]))]
        assert set(profiles(target)) & set(targets[key]), f"{key} -> {profiles(target)}"


@pytest.mark.parametrize(
    ("profile", "code_system", "code"),
    [
        ("mcode-histologic-behavior-and-type", LOINC, "31206-6"),
        ("mcode-histologic-grade", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "C18000"),
        ("mcode-cancer-disease-status", LOINC, "97509-4"),
    ],
)
def test_fixed_observation_codes(profile: str, code_system: str, code: str) -> None:
    assert sd_pattern_coding(profile, "Observation.code") == (code_system, code)
    for _, obs in claiming(profile):
        assert has_code(obs["code"], code_system, code)
        assert obs["subject"]["reference"]


@pytest.mark.parametrize(
    "profile", ["mcode-histologic-behavior-and-type", "mcode-histologic-grade"]
)
def test_pathology_observations_are_laboratory_with_a_value(profile: str) -> None:
    category = sd_element(profile, "Observation.category:us-core")
    assert category["min"] == 1
    assert sd_element(profile, "Observation.value[x]")["min"] == 1
    for _, obs in claiming(profile):
        assert any(matches(category["patternCodeableConcept"], c) for c in obs["category"])
        assert obs["valueCodeableConcept"]["coding"]


def test_histologic_grade_value_in_the_mcode_grade_value_set() -> None:
    grades = binding_vs("mcode-histologic-grade", "Observation.value[x]")
    assert len(grades) == 3  # low / intermediate / high
    for _, obs in claiming("mcode-histologic-grade"):
        pairs = {(c["system"], c["code"]) for c in obs["valueCodeableConcept"]["coding"]}
        assert pairs & grades


def test_cancer_disease_status_value_in_the_status_trend_value_set() -> None:
    trend = binding_vs("mcode-cancer-disease-status", "Observation.value[x]")
    for bundle, obs in claiming("mcode-cancer-disease-status"):
        pairs = {(c["system"], c["code"]) for c in obs["valueCodeableConcept"]["coding"]}
        assert pairs & trend
        for focus in obs["focus"]:
            assert by_url(bundle)[str(ref(focus))]["resourceType"] == "Condition"


@pytest.mark.parametrize(
    "profile", ["mcode-primary-cancer-condition", "mcode-secondary-cancer-condition"]
)
def test_cancer_conditions_problem_list_subject_code(profile: str) -> None:
    for element in ("Condition.code", "Condition.subject", "Condition.category:us-core"):
        assert sd_element(profile, element)["min"] == 1
    for bundle, cond in claiming(profile):
        assert any(
            has_code(
                c, "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"
            )
            for c in cond["category"]
        )
        assert by_url(bundle)[cond["subject"]["reference"]]["resourceType"] == "Patient"
        assert cond["code"]["coding"]


def test_secondary_condition_points_to_the_primary() -> None:
    slice_el = sd_element(
        "mcode-secondary-cancer-condition", "Condition.extension:relatedPrimaryCancerCondition"
    )
    (url,) = slice_el["type"][0]["profile"]
    assert url == "http://hl7.org/fhir/StructureDefinition/condition-related"
    for bundle, cond in claiming("mcode-secondary-cancer-condition"):
        (related,) = ext_values(cond, url)
        target = by_url(bundle)[str(ref(related["valueReference"]))]
        assert MCODE + "mcode-primary-cancer-condition" in profiles(target)


def _body_structure_identifier_pattern() -> tuple[str, dict[str, Any]]:
    dt = "mcode-body-structure-identifier"
    return (
        sd_element(dt, "Identifier.use")["patternCode"],
        sd_element(dt, "Identifier.type")["patternCodeableConcept"],
    )


def _tumor_identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    use, type_pattern = _body_structure_identifier_pattern()
    return [
        i
        for i in resource.get("identifier", [])
        if matches(type_pattern, i.get("type")) and i.get("use") == use and i.get("value")
    ]


def test_tumor_identifier_and_location() -> None:
    assert sd_element("mcode-tumor", "BodyStructure.identifier:bodyStructureIdentifier")["min"] == 1
    assert sd_element("mcode-tumor", "BodyStructure.location")["min"] == 1
    assert _body_structure_identifier_pattern() == (
        "usual",
        {"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "BodyStructure"}]},
    )
    for bundle, tumor in claiming("mcode-tumor"):
        assert len(_tumor_identifiers(tumor)) >= 1
        assert tumor["location"]["coding"]
        assert by_url(bundle)[tumor["patient"]["reference"]]["resourceType"] == "Patient"


def test_specimen_type_and_the_tumor_identifier() -> None:
    assert sd_element("mcode-human-specimen", "Specimen.type")["min"] == 1
    types = valueset_codes(
        sd_element("mcode-human-specimen", "Specimen.type")["binding"]["valueSet"]
    )
    for bundle, specimen in claiming("mcode-human-specimen"):
        assert {(c["system"], c["code"]) for c in specimen["type"]["coding"]} & types
        shared = _tumor_identifiers(specimen)
        assert len(shared) == 1
        tumors = [
            t
            for t in with_profile(bundle, "mcode-tumor")
            if any(i == shared[0] for i in _tumor_identifiers(t))
        ]
        assert len(tumors) == 1, "the specimen's identifier is that of exactly one Tumor"
        assert has_code(tumors[0]["location"], "http://snomed.info/sct", "64131007")


def test_medication_administration_has_effective() -> None:
    profile = "mcode-cancer-related-medication-administration"
    assert sd_element(profile, "MedicationAdministration.effective[x]")["min"] == 1
    for _, med in claiming(profile):
        effective = [k for k in med if k.lstrip("_").startswith("effective")]
        assert len({k.lstrip("_") for k in effective}) == 1, effective
        assert med["reasonReference"] or med.get("reasonCode")  # mcode-reason-required


def test_surgical_procedures_have_a_reason() -> None:
    rule = sd_constraint("mcode-cancer-related-surgical-procedure", "mcode-reason-required")
    assert rule["expression"] == "reasonCode.exists() or reasonReference.exists()"
    for _, proc in claiming("mcode-cancer-related-surgical-procedure"):
        assert proc.get("reasonCode") or proc.get("reasonReference")


def test_patient_bundle_has_one_cancer_patient() -> None:
    slice_el = sd_element("mcode-patient-bundle", "Bundle.entry:cancerPatient")
    assert (slice_el["min"], slice_el["max"]) == (1, "1")
    assert sd_element("mcode-patient-bundle", "Bundle.type")["patternCode"] == "collection"
    for bundle in bundles():
        patients = of_type(bundle, "Patient")
        assert len(patients) == 1
        assert MCODE + "mcode-cancer-patient" in profiles(patients[0])


# --- the checker itself fails on broken resources -------------------------------------------------
def _first(profile: str) -> dict[str, Any]:
    return copy.deepcopy(claiming(profile)[0][1])


def _path(resource: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """(container, key) of a dotted path; digits index lists."""
    node: Any = resource
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    return node, int(last) if last.isdigit() else last


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(resource: dict[str, Any]) -> None:
        node, key = _path(resource, path)
        node[key] = value

    return change


def _pop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(resource: dict[str, Any]) -> None:
        node, key = _path(resource, path)
        node.pop(key)

    return change


def _more_dims(n: int) -> Callable[[dict[str, Any]], None]:
    def change(obs: dict[str, Any]) -> None:
        obs["component"] = obs["component"][:1] + [
            {
                "code": {"coding": [{"system": LOINC, "code": "33729-5"}]},
                "valueQuantity": {"value": 1, "system": "http://unitsofmeasure.org", "code": "cm"},
            }
            for _ in range(n)
        ]

    return change


def _two_foci(obs: dict[str, Any]) -> None:
    obs.pop("specimen", None)
    obs["focus"] = [{"reference": "urn:uuid:a"}, {"reference": "urn:uuid:b"}]


MEDADMIN = "mcode-cancer-related-medication-administration"
BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("mcode-tumor-size", "wrong code", _set("code.coding.0.code", "21889-2")),
    ("mcode-tumor-size", "three other dims", _more_dims(3)),
    ("mcode-tumor-size", "no longest", _pop("component.0")),
    ("mcode-tumor-size", "inches", _set("component.0.valueQuantity.code", "[in_i]")),
    ("mcode-tumor-size", "two foci", _two_foci),
    ("mcode-tumor", "no location", _pop("location")),
    ("mcode-tumor", "official identifier", _set("identifier.0.use", "official")),
    ("mcode-histologic-grade", "vital-signs", _set("category.0.coding.0.code", "vital-signs")),
    ("mcode-histologic-grade", "no value", _pop("valueCodeableConcept")),
    ("mcode-primary-cancer-condition", "encounter-diagnosis",
     _set("category.0.coding.0.code", "encounter-diagnosis")),
    ("mcode-primary-cancer-condition", "no subject", _pop("subject")),
    (MEDADMIN, "no effective", _pop("effectivePeriod")),
    ("mcode-cancer-disease-status", "status done", _set("status", "done")),
    ("mcode-human-specimen", "no type", _pop("type")),
    ("mcode-cancer-patient", "no gender", _pop("gender")),
    ("mcode-cancer-patient", "gender f", _set("gender", "f")),
    ("mcode-cancer-patient", "identifier without system", _pop("identifier.0.system")),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "what", "change"), BROKEN, ids=[b[1] for b in BROKEN])
def test_checker_reports(profile: str, what: str, change: Callable[[dict[str, Any]], None]) -> None:
    resource = _first(profile)
    assert profile_problems(resource, profile) == []
    change(resource)
    assert profile_problems(resource, profile), what


def test_checker_reports_a_bundle_without_patient() -> None:
    bundle = copy.deepcopy(bundles()[0])
    assert profile_problems(bundle, "mcode-patient-bundle") == []
    bundle["entry"] = bundle["entry"][1:]
    assert profile_problems(bundle, "mcode-patient-bundle")
