"""Issue 5, "Done when": profiles/ loads as a package in the HL7 engine, its snapshots generate
without errors, and the chain holds the pinned mCODE 4.0.0 package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, ConformanceRun

PROFILES = ROOT / "profiles"
#: sha256 of hl7.fhir.us.mcode-4.0.0.tgz (the npm tarball; scripts/fetch-fhir-packages pins its
#: npm integrity sha512-HJogFi9r... and sha1 b1d877a4...)
MCODE_SHA256 = "6bdb93934e2c0a859198e8c1c21eccb28915c73535d18c75c515c03bba9c45de"


def _urls(kind: str) -> list[str]:
    out = []
    for path in sorted(PROFILES.glob(f"{kind}-*.json")):
        out.append(json.loads(path.read_text(encoding="utf-8"))["url"])
    return sorted(out)


def _package(conformance: ConformanceRun, source: Path) -> dict[str, Any]:
    by_source = {p["source"]: p for p in conformance.report["packages"]}
    assert str(source) in by_source, sorted(by_source)
    return by_source[str(source)]


def _errors(issues: list[dict[str, Any]]) -> list[str]:
    return [
        f"{i['location']}: {i['message']}" for i in issues if i["severity"] in ("error", "fatal")
    ]


def test_profiles_load_as_the_project_package(conformance: ConformanceRun) -> None:
    pkg = _package(conformance, PROFILES)
    manifest = json.loads((PROFILES / "package.json").read_text(encoding="utf-8"))
    assert (pkg["name"], pkg["version"]) == (manifest["name"], manifest["version"])
    for kind in ("StructureDefinition", "CodeSystem", "ValueSet"):
        assert sorted(pkg[kind]) == _urls(kind), kind
    assert pkg["StructureDefinition"], "no StructureDefinition in profiles/"


def test_every_project_snapshot_generates_without_errors(conformance: ConformanceRun) -> None:
    pkg = _package(conformance, PROFILES)
    assert pkg["checked"]
    assert sorted(s["url"] for s in pkg["snapshots"]) == _urls("StructureDefinition")
    for snapshot in pkg["snapshots"]:
        assert snapshot["elements"] > 1, snapshot["url"]
        assert _errors(snapshot["issues"]) == [], snapshot["url"]
        # the only warnings: target profiles of US Core the generator cannot compare (Known gap)
        for issue in snapshot["issues"]:
            assert "http://hl7.org/fhir/us/core/StructureDefinition/" in issue["message"], issue


def test_project_code_systems_and_value_sets_are_valid_resources(
    conformance: ConformanceRun,
) -> None:
    pkg = _package(conformance, PROFILES)
    checked = {(i["resourceType"], i["url"]) for i in pkg["instances"]}
    assert checked == {("CodeSystem", u) for u in _urls("CodeSystem")} | {
        ("ValueSet", u) for u in _urls("ValueSet")
    }
    for instance in pkg["instances"]:
        assert _errors(instance["issues"]) == [], instance["url"]


def test_the_tarball_of_build_profiles_loads_the_same_package(conformance: ConformanceRun) -> None:
    assert conformance.tgz is not None, (
        f"scripts/build_profiles.py --check --tgz failed:\n{conformance.tgz_error}"
    )
    tgz = _package(conformance, conformance.tgz)
    folder = _package(conformance, PROFILES)
    for field in ("name", "version", "StructureDefinition", "CodeSystem", "ValueSet"):
        assert tgz[field] == folder[field], field
    assert all(_errors(s["issues"]) == [] for s in tgz["snapshots"])


def test_the_chain_holds_the_pinned_mcode_package(conformance: ConformanceRun) -> None:
    mcode = [p for p in conformance.report["packages"] if p["name"] == "hl7.fhir.us.mcode"]
    assert len(mcode) == 1
    assert mcode[0]["version"] == "4.0.0"
    assert mcode[0]["sha256"] == MCODE_SHA256
    assert (
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
        in mcode[0]["StructureDefinition"]
    )


@pytest.mark.parametrize(
    "system",
    ["http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"],
)
def test_external_code_systems_are_the_documented_ones(
    conformance: ConformanceRun, system: str
) -> None:
    assert system in conformance.report["engine"]["externalCodeSystems"]
    assert system in (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
