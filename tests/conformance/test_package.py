"""Issue 5, "Done when": profiles/ loads as a package in the HL7 engine, its snapshots generate
without errors; issue 8: the chain is exactly the packages pinned in scripts/fhir-packages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, ConformanceRun

PROFILES = ROOT / "profiles"


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
        # with US Core 6.1.0 in the chain, every target profile compares: no issue at all
        assert snapshot["issues"] == [], snapshot["url"]


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


def _pins() -> list[tuple[str, str, str, str]]:
    """(name, version, source, sha256) of every package pinned in scripts/fhir-packages."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fhir-packages"), "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pins = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    return [(n, v, source, sha) for n, v, source, sha in pins]


def test_the_chain_is_the_pinned_one(conformance: ConformanceRun) -> None:
    pins = _pins()
    loaded = [
        (p["name"], p["version"], p.get("sha256", "")) for p in conformance.report["packages"]
    ]
    # the pinned tarballs first, in the resolver's order, each verified by its sha256
    assert loaded[: len(pins)] == [(n, v, sha) for n, v, _, sha in pins]
    names = {(n, v) for n, v, _, _ in pins}
    assert {("hl7.fhir.us.mcode", "4.0.0"), ("hl7.fhir.us.core", "6.1.0")} <= names
    by_name = {(p["name"], p["version"]): p for p in conformance.report["packages"]}
    assert (
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
        in by_name["hl7.fhir.us.mcode", "4.0.0"]["StructureDefinition"]
    )
    assert (
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
        in by_name["hl7.fhir.us.core", "6.1.0"]["StructureDefinition"]
    )


def test_every_pin_is_documented() -> None:
    doc = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    for name, version, _, sha256 in _pins():
        assert f"`{name}#{version}`" in doc, name
        assert sha256 in doc, name


@pytest.mark.parametrize(
    "system",
    ["http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"],
)
def test_external_code_systems_are_the_documented_ones(
    conformance: ConformanceRun, system: str
) -> None:
    assert system in conformance.report["engine"]["externalCodeSystems"]
    assert system in (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
