"""The FHIR package in profiles/ matches its sources and what the adapter emits.

* the committed files are what ``scripts/build_profiles.py`` generates (``--check``);
* every resource parses as an R4B StructureDefinition / CodeSystem / ValueSet;
* package.json and .index.json describe exactly the files of the folder;
* the bundles of both seed cases and of generated variations (every enum value of the case
  model appears in at least one of them) use only local codes, extensions and profiles that the
  package defines, and every resource that claims a project profile (or carries a project
  extension) meets the differential: cardinalities, types, fixed values and patterns, slices,
  required bindings to project value sets and reference target profiles (``conformance``, a
  small evaluator for the constructs these differentials use, tested on broken resources too).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import tarfile
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
import yaml
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.structuredefinition import StructureDefinition
from fhir.resources.R4B.valueset import ValueSet
from pydantic import BaseModel

from fhir_ivc import authoring
from fhir_ivc.bundle import build_bundles
from fhir_ivc.model import (
    ApproachStep,
    AssociatedResection,
    Biopsy,
    Case,
    Complication,
    Diagnosis,
    FollowUp,
    ImagingStudy,
    IvcManagement,
    Metastasis,
    OrganContact,
    Pathology,
    Surgery,
    Symptom,
    SystemicTherapy,
    TherapyNotGiven,
    TumorMarkerResult,
)
from fhir_ivc.terminology import CANONICAL, LOCAL_CODE_SYSTEMS

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
SCRIPT = ROOT / "scripts" / "build_profiles.py"
SEEDS = ROOT / "examples" / "cases" / "seed-cases.yaml"

Json = dict[str, Any]
MODELS: dict[str, Any] = {
    "StructureDefinition": StructureDefinition,
    "CodeSystem": CodeSystem,
    "ValueSet": ValueSet,
}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def package() -> dict[str, Json]:
    """url -> resource, for every resource file of profiles/."""
    out: dict[str, Json] = {}
    for path in sorted(PROFILES.glob("*-*.json")):
        resource = _load(path)
        out[resource["url"]] = resource
    return out


@cache
def build_script() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("build_profiles", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the package itself ------------------------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*-*.json")), ids=lambda p: p.name)
def test_resource_parses_and_has_the_common_metadata(path: Path) -> None:
    data = _load(path)
    MODELS[data["resourceType"]].model_validate(data)
    assert path.name == f"{data['resourceType']}-{data['id']}.json"
    assert data["url"] == f"{CANONICAL}/{data['resourceType']}/{data['id']}"
    assert (data["version"], data["status"], data["publisher"]) == ("0.1.0", "draft", "fhir_ivc")
    assert data["description"].strip()
    if data["resourceType"] == "StructureDefinition":
        assert data["fhirVersion"] == "4.0.1"
        assert data["derivation"] == "constraint"
        assert data["differential"]["element"][0]["id"] == data["type"]


_SD_FILES = sorted(PROFILES.glob("StructureDefinition-*.json"))


@pytest.mark.parametrize("path", _SD_FILES, ids=lambda p: p.name)
def test_differential_follows_the_base_element_order(path: Path) -> None:
    """Snapshot generators require differential elements in the order of the base type."""
    sd = _load(path)
    order = get_fhir_model_class(sd["type"]).elements_sequence()

    def rank(name: str) -> int:
        if name.endswith("[x]"):
            stem = name[:-3]
            name = next(n for n in order if n.startswith(stem) and n[len(stem)].isupper())
        return int(order.index(name))

    ranks = [rank(e["path"].split(".")[1]) for e in sd["differential"]["element"][1:]]
    assert ranks == sorted(ranks)
    ids = [e["id"] for e in sd["differential"]["element"]]
    for i, element_id in enumerate(ids[1:], start=1):  # a child follows its parent
        parent = element_id.rsplit(".", 1)[0]
        assert parent in ids[:i] or parent.count(".") == 0 or ":" not in parent, element_id


def test_code_systems_are_the_local_code_systems() -> None:
    for cs in LOCAL_CODE_SYSTEMS:
        resource = package()[cs.url]
        assert resource["content"] == "complete"
        assert resource["count"] == len(cs.concepts)
        assert {c["code"]: (c["display"], c["definition"]) for c in resource["concept"]} == dict(
            cs.concepts
        )
        value_set = package()[resource["valueSet"]]
        assert value_set["compose"]["include"] == [{"system": cs.url}]
    defined = {r["url"] for r in package().values() if r["resourceType"] == "CodeSystem"}
    assert defined == {cs.url for cs in LOCAL_CODE_SYSTEMS}


def test_every_system_of_local_toml_is_published() -> None:
    from fhir_ivc.terminology import local

    tables = {system.name for system in local._TABLES.values()}
    assert tables <= {cs.name for cs in LOCAL_CODE_SYSTEMS}
    assert len(tables) == 20


def test_package_json_and_index_describe_the_folder() -> None:
    manifest = _load(PROFILES / "package.json")
    assert manifest["name"] == "fhir-ivc.ivc-lms"
    assert manifest["version"] == "0.1.0"
    assert manifest["canonical"] == CANONICAL
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["dependencies"] == {"hl7.fhir.r4.core": "4.0.1", "hl7.fhir.us.mcode": "4.0.0"}
    assert manifest["type"] in ("IG", "fhir.ig")

    index = _load(PROFILES / ".index.json")
    assert index["index-version"] == 2
    files = {f["filename"]: f for f in index["files"]}
    assert set(files) == {p.name for p in PROFILES.glob("*-*.json")}
    for name, entry in files.items():
        resource = _load(PROFILES / name)
        keys = ["resourceType", "id", "url", "version"]
        if resource["resourceType"] == "StructureDefinition":
            keys += ["kind", "type", "derivation"]
        if resource["resourceType"] == "CodeSystem":
            keys += ["content"]
        assert entry == {"filename": name, **{k: resource[k] for k in keys}}


def test_tgz_is_a_deterministic_npm_package(tmp_path: Path) -> None:
    lines: list[str] = []
    first, second = tmp_path / "a.tgz", tmp_path / "b.tgz"
    assert build_script().main(["--check", "--tgz", str(first)], out=lines.append) == 0, lines
    assert build_script().main(["--check", "--tgz", str(second)], out=lines.append) == 0, lines
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
        expected = {p.name for p in PROFILES.iterdir() if p.suffix == ".json"}
        assert set(members) == {f"package/{name}" for name in expected}
        for name, member in members.items():
            assert member.isfile()
            handle = tar.extractfile(member)
            assert handle is not None
            assert handle.read() == (PROFILES / name.removeprefix("package/")).read_bytes()


def test_docs_name_every_artifact() -> None:
    text = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    for resource in package().values():
        if resource["resourceType"] != "ValueSet" or "concept" in resource["compose"]["include"][0]:
            assert f"`{resource['url']}`" in text, resource["url"]


# --- cases: the two seeds and variations that together use every enum value --------------------


def _literal_values(model: type[BaseModel], field: str) -> list[Any]:
    def walk(annotation: Any) -> list[Any]:
        if get_origin(annotation) is Literal:
            return list(get_args(annotation))
        return [v for arg in get_args(annotation) for v in walk(arg)]

    values = walk(model.model_fields[field].annotation)
    assert values, f"{model.__name__}.{field} has no Literal values"
    return values


def _variation(seed: Mapping[str, Any], i: int) -> Json:
    """Seed case 2 with every coded field set to the i-th value of its enum (cyclically)."""

    def pick(model: type[BaseModel], field: str, shift: int = 0) -> Any:
        values = _literal_values(model, field)
        return values[(i + shift) % len(values)]

    rel = {"relative": {"offset": 6, "unit": "mo"}}
    case = copy.deepcopy(dict(seed))
    case["case_id"] = f"variation-{i}"
    case["presentation"] = {"symptoms": [{"kind": pick(Symptom, "kind"), "text": "a symptom"}]}
    case["imaging"] = [
        {"modality": pick(ImagingStudy, "modality"), "contrast": i % 2 == 0, "dimensions_cm": [5]}
    ]
    case["tumor_markers"] = [{"name": "CA-125", "result": pick(TumorMarkerResult, "result")}]
    case["biopsy"] = {"method": pick(Biopsy, "method"), "result": "consistent with sarcoma"}
    case["diagnosis"] |= {
        "intraluminal_extension": [pick(Diagnosis, "intraluminal_extension")],
        "organ_contact": [{"organ": pick(OrganContact, "organ")}],
        "basis": pick(Diagnosis, "basis"),
    }
    method = pick(IvcManagement, "method")
    managed: list[Json] = [
        {
            "method": "graft-replacement",
            "graft_material": pick(IvcManagement, "graft_material"),
            "decided": pick(IvcManagement, "decided"),
        }
    ]
    if method != "graft-replacement":
        material = {"graft_material": pick(IvcManagement, "graft_material", 1)}
        managed.append({"method": method, **(material if method == "patch-cavoplasty" else {})})
    case["surgery"] |= {
        "intent": pick(Surgery, "intent"),
        "en_bloc": i % 2 == 0,
        "resection_extent": pick(Surgery, "resection_extent"),
        "approach": [{"kind": pick(ApproachStep, "kind")}],
        "associated_resections": [
            {"kind": pick(AssociatedResection, "kind"), "side": pick(AssociatedResection, "side")}
        ],
        "ivc_management": managed,
        "complications": [
            {
                "kind": pick(Complication, "kind"),
                "text": "a complication",
                "clavien_dindo": pick(Complication, "clavien_dindo"),
            }
        ],
    }
    case["pathology"] |= {
        "grade": pick(Pathology, "grade"),
        "fnclcc_grade": pick(Pathology, "fnclcc_grade"),
        "margin_status": pick(Pathology, "margin_status"),
        "r_classification": pick(Pathology, "r_classification"),
        "organ_infiltration": [{"organ": pick(OrganContact, "organ"), "infiltrated": i % 2 == 1}],
        "inferred": [],
    }
    case["metastases"] = [{"site": pick(Metastasis, "site"), "detected": rel}]
    case["systemic_therapy"] = [
        {
            "agents": [pick(SystemicTherapy, "agents"), pick(SystemicTherapy, "agents", 1)],
            "setting": pick(SystemicTherapy, "setting"),
            "intent": pick(SystemicTherapy, "intent"),
            "line": i + 1,
            "start": rel,
            "status": pick(SystemicTherapy, "status"),
        }
    ]
    case["therapy_not_given"] = [
        {"therapy": pick(TherapyNotGiven, "therapy"), "setting": pick(TherapyNotGiven, "setting")}
    ]
    case["follow_up"] = [
        {
            "when": {"relative": {"offset": 24, "unit": "mo"}},
            "disease_status": pick(FollowUp, "disease_status"),
            "local_recurrence": i % 2 == 0,
            "vital_status": pick(FollowUp, "vital_status"),
        }
    ]
    return case


@cache
def bundles() -> tuple[Json, ...]:
    seeds = yaml.safe_load(SEEDS.read_text(encoding="utf-8"))
    records = [*seeds, *(_variation(seeds[1], i) for i in range(12))]
    return tuple(build_bundles(Case.model_validate(r)).collection for r in records)


def _resources() -> Iterator[tuple[Json, Json]]:
    for bundle in bundles():
        for entry in bundle["entry"]:
            yield bundle, entry["resource"]


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (json path, value) below ``node``."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_every_local_coding_is_in_its_code_system() -> None:
    used: set[str] = set()
    for _, resource in _resources():
        for path, node in _walk(resource):
            if isinstance(node, dict) and str(node.get("system", "")).startswith(CANONICAL):
                if "/sid/" in node["system"]:  # identifier systems, not code systems
                    continue
                code_system = package().get(node["system"])
                assert code_system is not None, f"{resource['resourceType']}.{path}: {node}"
                concepts = {c["code"]: c["display"] for c in code_system["concept"]}
                assert node["code"] in concepts, f"{resource['resourceType']}.{path}: {node}"
                assert node.get("display", concepts[node["code"]]) == concepts[node["code"]]
                used.add(node["system"])
    # the variations reach every local code system: none is published without a use
    assert used == {cs.url for cs in LOCAL_CODE_SYSTEMS}


def _extensions(resource: Json) -> Iterator[tuple[str, Json]]:
    """(json path of the element that holds it, extension) for every extension at any depth."""
    for path, node in _walk(resource):
        if isinstance(node, dict):
            for ext in node.get("extension", []):
                yield path, ext


def test_every_project_url_has_a_structure_definition() -> None:
    used: set[str] = set()
    for _, resource in _resources():
        for url in resource.get("meta", {}).get("profile", []):
            if url.startswith(CANONICAL):
                sd = package().get(url)
                assert sd is not None, url
                assert sd["type"] == resource["resourceType"]
                used.add(url)
        for path, ext in _extensions(resource):
            url = ext["url"]
            if url.startswith(CANONICAL):
                sd = package().get(url)
                assert sd is not None, url
                assert sd["type"] == "Extension"
                assert not path, f"{url} is only defined on resources, found on {path}"
                contexts = {c["expression"] for c in sd["context"]}
                assert contexts & {resource["resourceType"], "DomainResource"}, (url, contexts)
                used.add(url)
    defined = {r["url"] for r in package().values() if r["resourceType"] == "StructureDefinition"}
    assert used == defined  # every profile and extension of the package is exercised


# --- conformance of the emitted resources to the differentials ---------------------------------


@cache
def expansion(value_set_url: str) -> frozenset[tuple[str, str]]:
    """(system, code) pairs of a project value set (composed of local or enumerated codes)."""
    out: set[tuple[str, str]] = set()
    for include in package()[value_set_url]["compose"]["include"]:
        system = include["system"]
        concepts = include.get("concept") or package()[system]["concept"]
        out |= {(system, c["code"]) for c in concepts}
    return frozenset(out)


_PRIMITIVES = {"Boolean", "Integer", "PositiveInt", "String", "DateTime", "Date", "Decimal", "Uri"}


@dataclass(frozen=True)
class Item:
    """One instance of an element: its JSON value and, for a choice element, its type."""

    value: Any
    type: str = ""


def _children(item: Item, name: str) -> list[Item]:
    """Instances of child element ``name`` (``value[x]``: any valueXxx, typed; ``_x`` counts)."""
    node = item.value
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        stem, out = name[:-3], []
        for key in node:
            plain = key.removeprefix("_")
            suffix = plain[len(stem) :]
            if (
                plain.startswith(stem)
                and suffix[:1].isupper()
                and (key == plain or plain not in node)
            ):
                kind = suffix[:1].lower() + suffix[1:] if suffix in _PRIMITIVES else suffix
                out.append(Item(node[key], kind))
        return out
    value = node.get(name, node.get(f"_{name}"))
    if value is None:
        return []
    return [Item(v) for v in (value if isinstance(value, list) else [value])]


def _matches_pattern(value: Any, pattern: Json) -> bool:
    codings = value.get("coding", []) if isinstance(value, dict) else []
    return all(
        any(c.get("system") == p["system"] and c.get("code") == p["code"] for c in codings)
        for p in pattern["coding"]
    )


class Differential:
    """The differential of one StructureDefinition, evaluated on one instance (root)."""

    def __init__(self, sd: Json) -> None:
        self.sd = sd
        self.elements: list[Json] = sd["differential"]["element"]
        self.by_id = {e["id"]: e for e in self.elements}

    def _in_slice(self, item: Item, sliced_id: str, slice_id: str) -> bool:
        element = self.by_id[slice_id]
        if sliced_id.endswith(".extension"):  # extensions are always sliced by url
            profiles = element.get("type", [{}])[0].get("profile")
            url = profiles[0] if profiles else self.by_id[f"{slice_id}.url"]["fixedUri"]
            return bool(item.value.get("url") == url)
        discriminator = self.by_id[sliced_id]["slicing"]["discriminator"][0]
        match discriminator["type"], discriminator["path"]:
            case "value", "system":
                return bool(
                    item.value.get("system") == self.by_id[f"{slice_id}.system"]["fixedUri"]
                )
            case "pattern", "$this":
                return _matches_pattern(item.value, element["patternCodeableConcept"])
            case "type", "$this":
                return bool(item.type == element["type"][0]["code"])
        raise AssertionError(f"discriminator {discriminator} not supported by this test")

    def _step(self, items: list[Item], prefix: str, segment: str) -> list[Item]:
        name, _, slice_name = segment.partition(":")
        found = [child for item in items for child in _children(item, name)]
        if slice_name:
            found = [
                c for c in found if self._in_slice(c, f"{prefix}.{name}", f"{prefix}.{segment}")
            ]
        return found

    def select(self, root: Json, element_id: str) -> list[Item]:
        first, *segments = element_id.split(".")
        items, prefix = [Item(root)], first
        for segment in segments:
            items = self._step(items, prefix, segment)
            prefix = f"{prefix}.{segment}"
        return items

    def problems(self, root: Json, targets: Mapping[str, Json]) -> list[str]:
        out: list[str] = []
        for element in self.elements[1:]:
            eid = element["id"]
            parent_id, segment = eid.rsplit(".", 1)
            for parent in self.select(root, parent_id):
                items = self._step([parent], parent_id, segment)
                if len(items) < element.get("min", 0):
                    out.append(f"{eid}: {len(items)} < min {element['min']}")
                if element.get("max", "*") != "*" and len(items) > int(element["max"]):
                    out.append(f"{eid}: {len(items)} > max {element['max']}")
                out += [
                    f"{eid}: {p}" for item in items for p in self._check(element, item, targets)
                ]
        return out

    def _check(self, element: Json, item: Item, targets: Mapping[str, Json]) -> list[str]:
        out = []
        types = {t["code"]: t for t in element.get("type", [])}
        if types and item.type and item.type not in types:
            out.append(f"type {item.type} not in {sorted(types)}")
        reference = types.get("Reference", {}).get("targetProfile")
        if reference:
            target = targets.get(item.value.get("reference", ""), {})
            if not set(reference) & set(target.get("meta", {}).get("profile", [])):
                out.append(f"reference {item.value} does not resolve to {reference}")
        if "fixedUri" in element and item.value != element["fixedUri"]:
            out.append(f"{item.value!r} != fixed {element['fixedUri']!r}")
        pattern = element.get("patternCodeableConcept")
        if pattern and not _matches_pattern(item.value, pattern):
            out.append(f"{item.value} does not match pattern {pattern}")
        binding = element.get("binding", {})
        if binding.get("strength") == "required" and binding["valueSet"] in package():
            allowed = expansion(binding["valueSet"])
            value = item.value
            codings = value.get("coding", []) if "coding" in value else [value]
            if not any((c.get("system"), c.get("code")) in allowed for c in codings):
                out.append(f"{value} not in {binding['valueSet']}")
        return out


def _measure_unit(resource: Json) -> bool:
    units = authoring.OPERATIVE_MEASURES
    codes = [c["code"] for c in resource["code"]["coding"] if c["code"] in units]
    return all(resource["valueQuantity"]["code"] == units[code] for code in codes)


def _finding_value(resource: Json) -> bool:
    kinds = authoring.FOLLOW_UP_FINDINGS
    codes = [c["code"] for c in resource["code"]["coding"] if c["code"] in kinds]
    return all(f"value{kinds[code][:1].upper()}{kinds[code][1:]}" in resource for code in codes)


def _material_fits(resource: Json) -> bool:
    methods = {c["code"] for c in resource["code"]["coding"]}
    return "usedCode" not in resource or bool(methods & {"graft-replacement", "patch-cavoplasty"})


#: Python equivalents of the FHIRPath invariants, by profile (this test has no FHIRPath engine).
INVARIANTS = {
    "ivc-management-procedure": (("ivc-mgmt-1",), _material_fits),
    "ivc-operative-measure": (("ivc-om-1", "ivc-om-2", "ivc-om-3"), _measure_unit),
    "ivc-follow-up-finding": (("ivc-fu-1", "ivc-fu-2"), _finding_value),
}


def test_every_invariant_has_a_python_equivalent() -> None:
    declared = {
        sd["id"]: tuple(c["key"] for c in sd["differential"]["element"][0].get("constraint", []))
        for sd in package().values()
        if sd["resourceType"] == "StructureDefinition"
        and sd["differential"]["element"][0].get("constraint")
    }
    assert declared == {k: keys for k, (keys, _) in INVARIANTS.items()}


def conformance(resource: Json, bundle: Json) -> list[str]:
    """Problems of ``resource`` against the project profiles it claims and the project
    extensions it carries (at any depth)."""
    targets = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    out = []
    for url in resource.get("meta", {}).get("profile", []):
        if url in package():
            sd = package()[url]
            out += [f"{sd['id']}: {p}" for p in Differential(sd).problems(resource, targets)]
            if sd["id"] in INVARIANTS and not INVARIANTS[sd["id"]][1](resource):
                out.append(f"{sd['id']}: invariant {INVARIANTS[sd['id']][0]} fails")
    for _, ext in _extensions(resource):
        if ext.get("url") in package():
            sd = package()[ext["url"]]
            out += [f"{sd['id']}: {p}" for p in Differential(sd).problems(ext, targets)]
    return out


def test_emitted_resources_conform_to_the_project_profiles() -> None:
    checked = 0
    for bundle, resource in _resources():
        assert conformance(resource, bundle) == [], json.dumps(resource, indent=1)
        checked += 1
    assert checked > 100


def _first(profile: str) -> tuple[Json, Json]:
    for bundle, resource in _resources():
        if resource.get("meta", {}).get("profile", [""])[0].endswith(f"/{profile}"):
            return bundle, copy.deepcopy(resource)
    raise AssertionError(profile)


def _break_unit(r: Json) -> None:
    r["valueQuantity"]["code"] = "h"


def _break_margin_code(r: Json) -> None:
    r["valueCodeableConcept"]["coding"][-1]["code"] = "bogus"


def _drop_local_coding(r: Json) -> None:
    r["valueCodeableConcept"]["coding"] = r["valueCodeableConcept"]["coding"][:-1]


def _break_pattern(r: Json) -> None:
    r["code"]["coding"][0]["code"] = "vital-status"


def _material_with_ligation(r: Json) -> None:
    r["code"]["coding"][0]["code"] = "ligation"
    r["usedCode"] = [
        {"coding": [{"system": f"{CANONICAL}/CodeSystem/vascular-graft-material", "code": "ptfe"}]}
    ]


def _part_of_patient(r: Json) -> None:
    r["partOf"] = [r["subject"]]


def _contrast_as_string(r: Json) -> None:
    for ext in r["extension"]:
        if ext["url"].endswith("/imaging-contrast"):
            ext["valueString"] = str(ext.pop("valueBoolean"))


def _case_element_without_path(r: Json) -> None:
    r["extension"][0]["extension"] = [{"url": "inferred", "valueString": "x"}]


def _finding_value_type(r: Json) -> None:
    for coding in r["code"]["coding"]:
        coding["code"] = "local-recurrence"
    r.pop("valueBoolean", None)
    r["valueCodeableConcept"] = {"text": "no"}


def _bad_setting(r: Json) -> None:
    for ext in r["extension"]:
        if ext["url"].endswith("/therapy-setting"):
            ext["valueCodeableConcept"]["coding"][0]["code"] = "palliative"


@pytest.mark.parametrize(
    ("profile", "breaks", "expected"),
    [
        ("ivc-operative-measure", lambda r: r.pop("partOf"), "Observation.partOf: 0 < min 1"),
        ("ivc-operative-measure", _break_unit, "ivc-operative-measure-unit"),
        ("ivc-operative-measure", _break_unit, "invariant"),
        ("ivc-surgical-margin", _break_margin_code, "coding:local: "),
        ("ivc-surgical-margin", _drop_local_coding, "coding:local: 0 < min 1"),
        ("ivc-surgical-margin", lambda r: r.pop("specimen"), "Observation.specimen: 0 < min 1"),
        ("ivc-residual-tumor", _break_pattern, "does not match pattern"),
        ("ivc-management-procedure", _material_with_ligation, "invariant"),
        ("ivc-management-procedure", _part_of_patient, "does not resolve"),
        ("ivc-follow-up-finding", _finding_value_type, "invariant"),
        (
            "mcode-cancer-related-surgical-procedure",
            _case_element_without_path,
            "extension:path: 0",
        ),
        ("mcode-cancer-related-medication-administration", _bad_setting, "therapy-setting: "),
    ],
)
def test_conformance_check_finds_broken_resources(profile: str, breaks: Any, expected: str) -> None:
    bundle, resource = _first(profile)
    assert conformance(resource, bundle) == []
    breaks(resource)
    problems = conformance(resource, bundle)
    assert any(expected in p for p in problems), problems


def test_conformance_check_finds_a_wrong_extension_type() -> None:
    for bundle, resource in _resources():
        if any(e["url"].endswith("/imaging-contrast") for e in resource.get("extension", [])):
            broken = copy.deepcopy(resource)
            _contrast_as_string(broken)
            problems = conformance(broken, bundle)
            assert any("type string not in ['boolean']" in p for p in problems), problems
            return
    raise AssertionError("no imaging-contrast extension emitted")
