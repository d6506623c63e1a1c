"""The public API, the issue format, terminology, invariants and the packaged definitions."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import pytest

from fhir_ivc.validation import (
    SEVERITIES,
    to_operation_outcome,
    validate_bundle,
    validate_resource,
    validator,
)
from fhir_ivc.validation._invariants import INVARIANTS, normalise
from fhir_ivc.validation._package import PROJECT_PACKAGE, Registry, package_dirs, registry
from fhir_ivc.validation._terminology import Terminology
from fhir_ivc.validation._validator import Validator

from ._suite import VALID, load

MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
IVC = "https://fhir-ivc.example.org/fhir/"


def tumor_size() -> dict:
    return load(VALID / "tumor-size.json")


# --- issues and OperationOutcome ---------------------------------------------------------------


def test_issue_shape() -> None:
    resource = tumor_size()
    del resource["subject"]
    [issue] = validate_resource(resource)
    assert issue == {
        "severity": "error",
        "code": "required",
        "expression": ["Observation.subject"],
        "diagnostics": "Observation.subject: minimum required = 1, but only found 0",
        "profile": MCODE + "mcode-tumor-size",
    }


def test_structure_issues_come_from_the_r4_core_without_a_profile() -> None:
    resource = tumor_size()
    resource["favouriteColour"] = "blue"
    [issue] = validate_resource(resource)
    assert issue["expression"] == ["Observation.favouriteColour"]
    assert issue["severity"] == "error"
    assert "profile" not in issue


def test_min_severity() -> None:
    resource = load(VALID / "tumor.json")  # two SNOMED CT filter bindings: warnings
    assert validate_resource(resource) == []
    warnings = validate_resource(resource, min_severity="warning")
    everything = validate_resource(resource, min_severity="information")
    assert {i["severity"] for i in warnings} == {"warning"}
    assert {i["severity"] for i in everything} == {"warning", "information"}
    assert SEVERITIES == ("error", "warning", "information")


def test_to_operation_outcome() -> None:
    resource = tumor_size()
    del resource["subject"]
    outcome = to_operation_outcome(validate_resource(resource))
    assert outcome == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "required",
                "diagnostics": "Observation.subject: minimum required = 1, but only found 0 "
                f"(from {MCODE}mcode-tumor-size)",
                "expression": ["Observation.subject"],
            }
        ],
    }
    assert validate_resource(outcome) == []
    empty = to_operation_outcome([])
    assert empty["issue"][0]["severity"] == "information"
    assert validate_resource(empty) == []


def test_inputs_are_not_changed_and_must_be_objects() -> None:
    resource = tumor_size()
    before = copy.deepcopy(resource)
    validate_resource(resource, min_severity="information")
    assert resource == before
    with pytest.raises(TypeError):
        validate_resource([])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        validate_bundle("{}")  # type: ignore[arg-type]


# --- profiles ----------------------------------------------------------------------------------


def test_unknown_profile_is_a_warning() -> None:
    resource = tumor_size()
    resource["meta"]["profile"].append("http://example.org/StructureDefinition/nope")
    assert validate_resource(resource) == []
    [warning] = validate_resource(resource, min_severity="warning")
    assert warning["expression"] == ["Observation.meta.profile[1]"]
    assert "is not known here" in warning["diagnostics"]


def test_profile_versions() -> None:
    resource = tumor_size()
    resource["meta"]["profile"] = [MCODE + "mcode-tumor-size|4.0.0"]
    assert validate_resource(resource, min_severity="warning") == []
    resource["meta"]["profile"] = [MCODE + "mcode-tumor-size|3.0.0"]
    [warning] = validate_resource(resource, min_severity="warning")
    assert "version 3.0.0 is not available; checked against 4.0.0" in warning["diagnostics"]


def test_explicit_profiles_replace_the_claims() -> None:
    resource = tumor_size()
    del resource["meta"]
    del resource["subject"]
    assert validate_resource(resource) == []
    [issue] = validate_resource(resource, profiles=[MCODE + "mcode-tumor-size"])
    assert issue["expression"] == ["Observation.subject"]


def test_a_bundle_given_to_validate_resource_is_validated_as_a_bundle() -> None:
    resource = tumor_size()
    del resource["subject"]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:2c129d45-eaf9-51c4-81c4-7b54ab96da02", "resource": resource}
        ],
    }
    expected = ["Bundle.entry[0].resource.subject"]
    assert [i["expression"] for i in validate_resource(bundle)] == [expected]
    assert [i["expression"] for i in validate_bundle(bundle)] == [expected]


def test_extension_definitions_apply_wherever_the_extension_is() -> None:
    resource = tumor_size()
    resource["extension"][0]["valueString"] = "not allowed: a complex extension"
    core, issue = validate_resource(resource)
    assert core["expression"] == ["Observation.extension[0]"]  # R4 ext-1: value and extensions
    assert "ext-1" in core["diagnostics"]
    assert issue["expression"] == ["Observation.extension[0].valueString"]
    assert issue["diagnostics"].endswith("maximum allowed = 0, but found 1")
    assert issue["profile"] == IVC + "StructureDefinition/case-element"


def test_local_code_display_is_a_warning() -> None:
    resource = load(VALID / "surgical-margin.json")  # its value's second coding is local
    resource["valueCodeableConcept"]["coding"][1]["display"] = "Margins (guessed)"
    assert validate_resource(resource) == []
    [warning] = validate_resource(resource, min_severity="warning")
    assert warning["expression"] == ["Observation.valueCodeableConcept.coding[1].display"]


def test_differential_profiles_inherit_their_base_rules() -> None:
    # ivc-management-procedure is a differential over mcode-cancer-related-surgical-procedure:
    # the base's invariant (reason required, a warning) and elements apply too
    resource = load(VALID / "ivc-management-procedure.json")
    del resource["reasonReference"]
    del resource["status"]
    found = {
        (i["severity"], i["expression"][0], i.get("profile", ""))
        for i in validate_resource(resource, min_severity="warning")
    }
    base = MCODE + "mcode-cancer-related-surgical-procedure"
    assert ("warning", "Procedure", base) in found  # mcode-reason-required
    assert ("error", "Procedure.status", "") in found  # R4 core min 1: the structure stage
    chain = [p.url for p in validator().chain(IVC + "StructureDefinition/ivc-management-procedure")]
    assert chain == [IVC + "StructureDefinition/ivc-management-procedure", base]


# --- invariants ----------------------------------------------------------------------------------


def constraints(url: str) -> dict[str, str]:
    sd = registry().structure_definition(url)
    assert sd is not None
    elements = (sd.get("snapshot") or sd["differential"])["element"]
    return {c["key"]: c["expression"] for c in elements[0].get("constraint", [])}


def test_every_project_invariant_is_implemented_as_written() -> None:
    reg = registry()
    project = [u for u in reg.structure_definitions if reg.is_project(u)]
    assert len(project) >= 10
    seen = 0
    for url in project:
        for key, expression in constraints(url).items():
            assert key in INVARIANTS, f"{url}: invariant {key} has no Python implementation"
            assert normalise(expression) == normalise(INVARIANTS[key].expression), key
            seen += 1
    assert seen >= 6
    tumor = constraints(MCODE + "mcode-tumor-size")
    key = "must-have-focus-or-specimen-invariant"
    assert normalise(tumor[key]) == normalise(INVARIANTS[key].expression)


def test_an_invariant_whose_expression_changed_is_not_evaluated() -> None:
    reg = Registry()
    for folder in package_dirs():
        reg.add_folder(folder)
    sd = copy.deepcopy(reg.structure_definitions[MCODE + "mcode-tumor-size"])
    for constraint in sd["snapshot"]["element"][0]["constraint"]:
        if constraint["key"] == "must-have-focus-or-specimen-invariant":
            constraint["expression"] = "focus.exists()"
    reg.add(sd)
    resource = tumor_size()
    del resource["specimen"]
    issues = Validator(reg).check_resource(resource, None, "")
    assert [
        (i["severity"], i["diagnostics"])
        for i in issues
        if i["expression"] == ["Observation"] and "must-have" in i["diagnostics"]
    ] == [
        (
            "information",
            "Observation: invariant must-have-focus-or-specimen-invariant not evaluated: "
            "its expression is not the one implemented",
        )
    ]


# --- terminology ---------------------------------------------------------------------------------

SNOMED = "http://snomed.info/sct"
VS = "http://hl7.org/fhir/us/mcode/ValueSet/"


@pytest.mark.parametrize(
    ("value_set", "system", "code", "member"),
    [
        (VS + "mcode-histologic-grade-vs", SNOMED, "1155707008", True),  # enumerated
        (VS + "mcode-histologic-grade-vs", SNOMED, "54102005", False),
        (VS + "mcode-histologic-grade-vs", "http://loinc.org", "1155707008", False),
        (VS + "mcode-tumor-size-units-vs", None, "cm", True),  # a bare code: any system
        (IVC + "ValueSet/ivc-management", IVC + "CodeSystem/ivc-management", "ligation", True),
        (IVC + "ValueSet/ivc-management", IVC + "CodeSystem/ivc-management", "stent", False),
        (
            VS + "mcode-cancer-disease-status-evidence-type-vs",
            SNOMED,
            "714797009",
            True,
        ),  # is-a root
        (VS + "mcode-cancer-disease-status-evidence-type-vs", SNOMED, "252416005", None),
        (VS + "mcode-cancer-disease-status-evidence-type-vs", "http://loinc.org", "x", False),
        (VS + "mcode-body-location-and-laterality-qualifier-vs", SNOMED, "106233006", None),
        ("http://hl7.org/fhir/ValueSet/observation-status", None, "final", None),  # not here
    ],
)
def test_membership(value_set, system, code, member) -> None:
    got, why = Terminology(registry()).member(value_set, system, code)
    assert got is member
    assert bool(why) is (member is None)


def test_unexpandable_filter_reason_names_the_filter() -> None:
    _, why = Terminology(registry()).member(
        VS + "mcode-cancer-disease-status-evidence-type-vs", SNOMED, "252416005"
    )
    assert why.startswith("its SNOMED CT filter (concept is-a 714797009")


# --- the packaged definitions ------------------------------------------------------------------


def test_packages_are_found() -> None:
    dirs = package_dirs()
    assert [d.name for d in dirs] == [
        "hl7.fhir.us.mcode-4.0.0",
        "hl7.fhir.uv.extensions.r4-5.2.0",
        "profiles",
    ]
    assert PROJECT_PACKAGE in registry().packages
    assert len(registry().structure_definitions) >= 34 + 12
    assert registry().code_system(IVC + "CodeSystem/ivc-segment") is not None


@pytest.mark.parametrize(
    ("index", "package_name", "version"),
    [(0, "hl7.fhir.us.mcode", "4.0.0"), (1, "hl7.fhir.uv.extensions.r4", "5.2.0")],
)
def test_shipped_package_files_match_their_provenance_checksums(
    index: int, package_name: str, version: str
) -> None:
    folder = package_dirs()[index]
    listed = dict(
        reversed(line.split(maxsplit=1))
        for line in (folder / "PROVENANCE.txt").read_text("utf-8").splitlines()
        if re.fullmatch(r"[0-9a-f]{64}  \S+", line)
    )
    files = {str(p.relative_to(folder)) for p in folder.rglob("*.json")}
    assert set(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    package = json.loads((folder / "package.json").read_text("utf-8"))
    assert (package["name"], package["version"]) == (package_name, version)
