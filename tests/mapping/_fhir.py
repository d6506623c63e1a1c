"""Look-ups over emitted bundles and the mCODE StructureDefinitions, shared by the mapping tests.

Written independently of the mappers (no import from ``fhir_ivc.mappers``): the tests read the
bundle the way a receiver would, by code, profile and reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.model import Case

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = DATA / "seed"
#: the verbatim mCODE 4.0.0 package shipped with the validator (sha256 in its PROVENANCE.txt)
MCODE_DIR = (
    Path(__file__).resolve().parents[2] / "src/fhir_ivc/validation/packages/hl7.fhir.us.mcode-4.0.0"
)
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "https://fhir-ivc.example.org/fhir/CodeSystem/"


# --- cases -------------------------------------------------------------------------------------
def seed_case_ids() -> list[str]:
    return sorted(p.name for p in SEED.iterdir() if (p / "input" / "case.json").exists())


def load_case(path: Path) -> Case:
    return Case.model_validate(json.loads(path.read_text(encoding="utf-8")))


@cache
def seed_case(case_id: str) -> Case:
    return load_case(SEED / case_id / "input" / "case.json")


@cache
def seed_bundles(case_id: str) -> CaseBundles:
    """Mapped once per session; callers must not mutate the result (deep-copy first)."""
    return build_bundles(seed_case(case_id))


# --- bundle look-ups ---------------------------------------------------------------------------
def resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def by_url(bundle: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def of_type(bundle: Mapping[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources(bundle) if r["resourceType"] == resource_type]


def profiles(resource: Mapping[str, Any]) -> list[str]:
    profile_list: list[str] = resource.get("meta", {}).get("profile", [])
    return profile_list


def with_profile(bundle: Mapping[str, Any], profile_id: str) -> list[dict[str, Any]]:
    url = profile_id if "/" in profile_id else MCODE + profile_id
    return [r for r in resources(bundle) if url in profiles(r)]


def one(items: list[dict[str, Any]], what: str = "resource") -> dict[str, Any]:
    assert len(items) == 1, f"expected exactly one {what}, found {len(items)}"
    return items[0]


def codings(cc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (cc or {}).get("coding", [])
    return found


def has_code(cc: Mapping[str, Any] | None, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in codings(cc))


def with_code(
    bundle: Mapping[str, Any], system: str, code: str, resource_type: str | None = None
) -> list[dict[str, Any]]:
    """Resources whose ``code`` (or, for MedicationAdministration, medication) has the coding."""
    out = []
    for r in resources(bundle):
        if resource_type and r["resourceType"] != resource_type:
            continue
        cc = r.get("code") or r.get("medicationCodeableConcept")
        if has_code(cc, system, code):
            out.append(r)
    return out


def local_code(bundle: Mapping[str, Any], name: str, code: str) -> list[dict[str, Any]]:
    return with_code(bundle, LOCAL + name, code)


def quantity(q: Mapping[str, Any] | None) -> tuple[float, str, str] | None:
    """(value, system, code) of a Quantity."""
    if not q:
        return None
    return (float(q["value"]), q.get("system", ""), q.get("code", ""))


def ucum(value: float, unit: str) -> tuple[float, str, str]:
    return (float(value), UCUM, unit)


def ext_values(element: Mapping[str, Any] | None, url: str) -> list[dict[str, Any]]:
    return [e for e in (element or {}).get("extension", []) if e.get("url") == url]


def ref(resource_holder: Mapping[str, Any] | None) -> str | None:
    value = (resource_holder or {}).get("reference")
    return value if isinstance(value, str) else None


def full_url_of(bundle: Mapping[str, Any], resource: Mapping[str, Any]) -> str:
    for e in bundle["entry"]:
        if e["resource"] is resource:
            return str(e["fullUrl"])
    raise AssertionError("resource not in bundle")


def all_references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``reference`` string anywhere (extensions and primitive ``_x`` siblings too)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield f"{path}.{key}", item
            else:
                yield from all_references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from all_references(item, f"{path}[{i}]")


def relative_offset(element: Mapping[str, Any] | None) -> tuple[float, str, str] | None:
    """(offset, unit, relationship) of the cqf-relativeDateTime extension on a primitive."""
    url = "http://hl7.org/fhir/StructureDefinition/cqf-relativeDateTime"
    found = ext_values(element, url)
    if not found:
        return None
    parts = {e["url"]: e for e in found[0]["extension"]}
    offset = parts["offset"]["valueDuration"]
    assert offset["system"] == UCUM
    return (float(offset["value"]), offset["code"], parts["relationship"]["valueCode"])


# --- StructureDefinitions / ValueSets -------------------------------------------------------------
@cache
def structure_definition(profile_id: str) -> dict[str, Any]:
    path = MCODE_DIR / "StructureDefinition" / f"StructureDefinition-{profile_id}.json"
    sd: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return sd


def sd_element(profile_id: str, element_id: str) -> dict[str, Any]:
    for el in structure_definition(profile_id)["snapshot"]["element"]:
        if el["id"] == element_id:
            found: dict[str, Any] = el
            return found
    raise KeyError(f"{profile_id} has no element {element_id}")


def sd_pattern_coding(profile_id: str, element_id: str) -> tuple[str, str]:
    """The single (system, code) of a patternCodeableConcept in the profile."""
    pattern = sd_element(profile_id, element_id)["patternCodeableConcept"]
    (coding,) = pattern["coding"]
    return coding["system"], coding["code"]


def sd_constraint(profile_id: str, key: str) -> dict[str, Any]:
    for el in structure_definition(profile_id)["snapshot"]["element"]:
        for c in el.get("constraint", []):
            if c["key"] == key:
                found: dict[str, Any] = c
                return found
    raise KeyError(f"{profile_id} has no constraint {key}")


@cache
def valueset_codes(vs_url: str) -> frozenset[tuple[str, str]]:
    """(system, code) pairs of an extensional value set (compose.include[].concept)."""
    known, closed = valueset_members(vs_url)
    vs_id = vs_url.split("|")[0].rsplit("/", 1)[-1]
    assert closed, f"{vs_id} is intensional; its codes cannot be listed here"
    return known


@cache
def valueset_members(vs_url: str) -> tuple[frozenset[tuple[str, str]], bool]:
    """(codes known to be members, whether that list is the whole value set).

    Listed concepts are members; so is the root of an ``is-a`` filter (is-a includes the concept
    itself). Other filters need a terminology server: the list is then not closed.
    """
    vs_id = vs_url.split("|")[0].rsplit("/", 1)[-1]
    vs = json.loads((MCODE_DIR / "ValueSet" / f"ValueSet-{vs_id}.json").read_text("utf-8"))
    pairs: set[tuple[str, str]] = set()
    closed = True
    for inc in vs["compose"]["include"]:
        pairs |= {(inc["system"], c["code"]) for c in inc.get("concept", [])}
        for f in inc.get("filter", []):
            closed = False
            if f["property"] == "concept" and f["op"] == "is-a":
                pairs.add((inc["system"], f["value"]))
        if "valueSet" in inc or ("concept" not in inc and "filter" not in inc):
            closed = False
    return frozenset(pairs), closed
