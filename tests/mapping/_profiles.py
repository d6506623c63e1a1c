"""A small profile checker driven by the mCODE 4.0.0 StructureDefinition snapshots.

It evaluates what the snapshot says about the *top-level* elements of a resource and their
direct children, which is where every mCODE constraint on the adapter's resources lives:

* cardinality (min/max) of each element, e.g. ``BodyStructure.location 1..1``,
  ``MedicationAdministration.effective[x] 1..1``, ``Observation.focus 0..1`` (TumorSize);
* ``pattern[x]`` / ``fixed[x]`` values, e.g. ``Observation.code`` = LOINC 21889-1;
* slices and their cardinality, matched by the slicing discriminator (``value``/``pattern`` on
  ``code``, ``type``, ``url`` or ``$this``), e.g. ``component:tumorLongestDimension 1..1``;
* the constraints a slice's children carry, including the datatype profile a slice points to
  (``bodyStructureIdentifier`` -> ``mcode-body-structure-identifier``: use = usual, ...);
* required bindings whose value set is in the package (or is a small R4 core enumeration).

Not evaluated: FHIRPath invariants (the ones that matter are tested one by one in
test_profiles.py, with the expression read from the SD), extensible/preferred bindings,
deeper nesting. Problems are returned as readable strings.
"""

from __future__ import annotations

from typing import Any

from ._fhir import MCODE, MCODE_DIR, structure_definition, valueset_members

#: Required-binding value sets of R4 core used by the profiles (http://hl7.org/fhir/R4): small
#: fixed enumerations, listed here because the R4 core package is not in tests/data.
CORE_CODES: dict[str, frozenset[str]] = {
    name: frozenset(codes.split())
    for name, codes in {
        "observation-status": "registered preliminary final amended corrected cancelled "
        "entered-in-error unknown",
        "event-status": "preparation in-progress not-done on-hold stopped completed "
        "entered-in-error unknown",
        "medication-admin-status": "in-progress not-done on-hold completed entered-in-error "
        "stopped unknown",
        "administrative-gender": "male female other unknown",
        "identifier-use": "usual official temp secondary old",
        "specimen-status": "available unavailable unsatisfactory entered-in-error",
        "bundle-type": "document message transaction transaction-response batch batch-response "
        "history searchset collection",
        "condition-clinical": "active recurrence relapse inactive remission resolved",
        "condition-ver-status": "unconfirmed provisional differential confirmed refuted "
        "entered-in-error",
    }.items()
}
#: US Core value sets that define slices of the mCODE profiles (US Core 6.1.0).
US_CORE_CODES: dict[str, frozenset[tuple[str, str]]] = {
    "us-core-problem-or-health-concern": frozenset(
        {
            ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"),
            ("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern"),
        }
    ),
}


def _vs_name(url: str) -> str:
    return url.split("|")[0].rsplit("/", 1)[-1]


def _has_package_vs(url: str) -> bool:
    name = _vs_name(url)
    return (MCODE_DIR / "ValueSet" / f"ValueSet-{name}.json").exists()


def matches(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every element of the pattern is present with the same value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(v, value[k]) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(matches(p, v) for v in value) for p in pattern)
    return bool(pattern == value)


def _pattern(element: dict[str, Any]) -> Any:
    for key, value in element.items():
        if key.startswith(("pattern", "fixed")):
            return value
    return None


def _values(resource: dict[str, Any], name: str) -> list[Any]:
    """Values of element ``name`` (``x[x]`` -> any ``xType``); primitives with only an
    ``_x`` extension sibling count as present (FHIR allows data-absent-reason there)."""
    if name.endswith("[x]"):
        prefix = name[:-3]
        keys = [
            k
            for k in resource
            if (k.startswith(prefix) and k[len(prefix) : len(prefix) + 1].isupper())
            or (k.startswith("_" + prefix) and k[len(prefix) + 1 : len(prefix) + 2].isupper())
        ]
        types = {k.lstrip("_") for k in keys}
        return [resource.get(t, resource.get("_" + t)) for t in sorted(types)]
    if name in resource:
        value = resource[name]
        return value if isinstance(value, list) else [value]
    if "_" + name in resource:
        return [resource["_" + name]]
    return []


def _max(element: dict[str, Any]) -> float:
    return float("inf") if element["max"] == "*" else int(element["max"])


def _children(elements: list[dict[str, Any]], element_id: str) -> list[dict[str, Any]]:
    depth = element_id.count(".") + 1
    return [
        e for e in elements if e["id"].startswith(element_id + ".") and e["id"].count(".") == depth
    ]


def _binding_problem(element: dict[str, Any], value: Any, where: str) -> str | None:
    binding = element.get("binding") or {}
    if binding.get("strength") != "required" or "valueSet" not in binding:
        return None
    url = binding["valueSet"]
    name = _vs_name(url)
    if isinstance(value, str):
        allowed = CORE_CODES.get(name)
        if allowed is not None and value not in allowed:
            return f"{where}: {value!r} not in required {name}"
        return None
    pairs: list[tuple[str, str]] = []
    if isinstance(value, dict) and "coding" in value:
        pairs = [(c.get("system", ""), c.get("code", "")) for c in value["coding"]]
    elif isinstance(value, dict) and "code" in value and "system" in value:
        pairs = [(value["system"], value["code"])]  # Quantity / Coding
    if not pairs:
        return None
    closed = True
    if _has_package_vs(url):
        vs, closed = valueset_members(url)
    elif name in US_CORE_CODES:
        vs = US_CORE_CODES[name]
    elif name in CORE_CODES:
        vs = frozenset((s, c) for s, c in pairs if c in CORE_CODES[name])
    else:
        return None
    if not any(p in vs for p in pairs) and closed:
        return f"{where}: {pairs} not in required {name}"
    return None  # a member, or undecidable without a terminology server


def _slice_member(
    sd_elements: list[dict[str, Any]], base: dict[str, Any], slice_el: dict[str, Any], item: Any
) -> bool:
    """Does ``item`` belong to the slice (by the base element's discriminators)?"""
    for disc in base["slicing"]["discriminator"]:
        path = disc["path"]
        if disc["type"] in ("type", "profile"):  # Bundle.entry slices: by the resource's type
            child = next(e for e in sd_elements if e["id"] == f"{slice_el['id']}.{path}")
            target = item.get(path) if isinstance(item, dict) else None
            codes = {t["code"] for t in child.get("type", [])}
            wanted = {p for t in child.get("type", []) for p in t.get("profile", [])}
            if not isinstance(target, dict) or target.get("resourceType") not in codes:
                return False
            if disc["type"] == "profile" and wanted:
                claimed = set(target.get("meta", {}).get("profile", []))
                if not claimed & wanted:
                    return False
            continue
        if path == "url":  # extension slices: the url is the extension profile
            urls = [p for t in slice_el.get("type", []) for p in t.get("profile", [])]
            if not isinstance(item, dict) or item.get("url") not in urls:
                return False
            continue
        if path == "$this":
            pattern = _pattern(slice_el)
            if pattern is not None:
                if not matches(pattern, item):
                    return False
                continue
            problem = _binding_problem(slice_el, item, "")
            if problem is not None or not (slice_el.get("binding") or {}).get("valueSet"):
                return False
            continue
        child_id = f"{slice_el['id']}.{path}"
        keyed = next((e for e in sd_elements if e["id"] == child_id), None)
        pattern = _pattern(keyed) if keyed else None
        if pattern is None:  # look into the datatype profile the slice is constrained to
            for t in slice_el.get("type", []):
                for profile in t.get("profile", []):
                    dt = _datatype_elements(profile)
                    dt_child = next((e for e in dt if e["id"] == f"{dt[0]['id']}.{path}"), None)
                    pattern = _pattern(dt_child) if dt_child else None
        if pattern is None:
            raise AssertionError(f"cannot evaluate discriminator {path} of {slice_el['id']}")
        if not isinstance(item, dict) or not matches(pattern, item.get(path)):
            return False
    return True


def _datatype_elements(profile_url: str) -> list[dict[str, Any]]:
    if not profile_url.startswith(MCODE):
        return []
    elements: list[dict[str, Any]] = structure_definition(profile_url.removeprefix(MCODE))[
        "snapshot"
    ]["element"]
    return elements


def _check_children(
    parent_id: str,
    sd_elements: list[dict[str, Any]],
    value: Any,
    where: str,
    problems: list[str],
) -> None:
    """min >= 1, pattern and required binding of the direct children of one present value."""
    if not isinstance(value, dict):
        return
    for child in _children(sd_elements, parent_id):
        name = child["id"].rsplit(".", 1)[-1]
        if ":" in name or name in ("id", "extension", "modifierExtension"):
            continue
        found = _values(value, name)
        if len(found) < child["min"]:
            problems.append(f"{where}.{name}: {len(found)} < min {child['min']}")
        if len(found) > _max(child):
            problems.append(f"{where}.{name}: {len(found)} > max {child['max']}")
        pattern = _pattern(child)
        for v in found:
            if pattern is not None and not matches(pattern, v):
                problems.append(f"{where}.{name}: does not match the profile pattern {pattern}")
            if problem := _binding_problem(child, v, f"{where}.{name}"):
                problems.append(problem)


def profile_problems(resource: dict[str, Any], profile_id: str) -> list[str]:
    """What ``resource`` breaks of the top-level constraints of mCODE profile ``profile_id``."""
    sd = structure_definition(profile_id)
    elements: list[dict[str, Any]] = sd["snapshot"]["element"]
    rtype = sd["type"]
    if resource.get("resourceType") != rtype:
        return [f"resourceType {resource.get('resourceType')} is not {rtype}"]
    problems: list[str] = []
    by_id = {e["id"]: e for e in elements}
    for element in elements:
        parts = element["id"].split(".")
        if len(parts) != 2:
            continue
        name = parts[1]
        if ":" in name:
            base_name, slice_name = name.split(":", 1)
            base = by_id[f"{rtype}.{base_name}"]
            members = [
                v for v in _values(resource, base_name) if _slice_member(elements, base, element, v)
            ]
            where = f"{rtype}.{base_name}:{slice_name}"
            if len(members) < element["min"]:
                problems.append(f"{where}: {len(members)} < min {element['min']}")
            if len(members) > _max(element):
                problems.append(f"{where}: {len(members)} > max {element['max']}")
            type_profiles = [p for t in element.get("type", []) for p in t.get("profile", [])]
            for i, member in enumerate(members):
                _check_children(element["id"], elements, member, f"{where}[{i}]", problems)
                for profile in type_profiles:
                    dt = _datatype_elements(profile)
                    if dt and dt[0]["id"] != "Extension":
                        _check_children(dt[0]["id"], dt, member, f"{where}[{i}]", problems)
            continue
        if name in ("id", "meta", "text", "contained"):
            continue
        values = _values(resource, name)
        where = f"{rtype}.{name}"
        if len(values) < element["min"]:
            problems.append(f"{where}: {len(values)} < min {element['min']}")
        if len(values) > _max(element):
            problems.append(f"{where}: {len(values)} > max {element['max']}")
        pattern = _pattern(element)
        for i, value in enumerate(values):
            if pattern is not None and not matches(pattern, value):
                problems.append(f"{where}[{i}]: does not match the profile pattern {pattern}")
            if problem := _binding_problem(element, value, f"{where}[{i}]"):
                problems.append(problem)
            if name not in ("extension", "modifierExtension"):
                _check_children(element["id"], elements, value, f"{where}[{i}]", problems)
    return problems
