"""Generate the R4 core tables of the Python validator from the FHIR R4 4.0.1 definitions.

    .venv/bin/python scripts/gen_r4_tables.py            # (re)write the table
    .venv/bin/python scripts/gen_r4_tables.py --check    # exit 1 if the committed table is stale
    .venv/bin/python scripts/gen_r4_tables.py --jar PATH # another copy of the validation jar

Source: ``ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4:8.8.0`` from the local Maven
repository (``~/.m2``, filled by ``scripts/fhir-server build``): the same R4 definitions the HL7
engine of tests/conformance loads (its DefaultProfileValidationSupport). Read from it:

* ``profile/profiles-types.xml``, ``profile/profiles-resources.xml``: every datatype and resource
  StructureDefinition (snapshots). For each: its elements (path, min, max, types, required and
  extensible bindings, target types of references, contentReference) and its constraints
  (key, severity, expression); for each primitive type its JSON kind (from the FHIRPath system
  type of ``<type>.value``) and its regex (extension ``structuredefinition-regex``).
* ``valueset/valuesets.xml``, ``valueset/v3-codesystems.xml``, ``valueset/v2-tables.xml``: the
  ValueSets and CodeSystems of the specification. Every value set a required or extensible
  binding of the tables names is expanded here: enumerated concepts, whole code systems of
  the specification (content complete), ``is-a``/``descendent-of`` filters over their hierarchy,
  nested value sets, excludes. A value set that needs an external terminology (SNOMED CT, LOINC,
  UCUM, BCP-47, MIME types...) is written with the reason instead, and the validator reports it
  as not checked.

Output: ``src/fhir_ivc/validation/r4/core.json`` (sorted keys, deterministic; the jar's sha256
in ``source``). Nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "fhir_ivc" / "validation" / "r4" / "core.json"
JAR = (
    Path.home()
    / ".m2/repository/ca/uhn/hapi/fhir/hapi-fhir-validation-resources-r4/8.8.0"
    / "hapi-fhir-validation-resources-r4-8.8.0.jar"
)
_NS = "{http://hl7.org/fhir}"
_BASE = "org/hl7/fhir/r4/model/"
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_JSON_KIND = {
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "number",
}
#: value sets larger than this are written as not expandable (none of the bindings needs one)
_MAX_CODES = 2000

Node = dict[str, list[Any]]


def _convert(element: ET.Element) -> Node:
    """A FHIR XML element as {child tag: [values]}; attributes ``value``/``url``/``id`` kept."""
    out: Node = {}
    for name in ("value", "url", "id"):
        if name in element.attrib:
            out["@" + name] = [element.attrib[name]]
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment
        tag = child.tag.removeprefix(_NS)
        out.setdefault(tag, []).append(_convert(child))
    return out


def _val(node: Node, key: str) -> str | None:
    items = node.get(key)
    if not items:
        return None
    value = items[0].get("@value")
    return value[0] if value else None


def _all(node: Node, key: str) -> list[Node]:
    return node.get(key) or []


def _ext(node: Node, url: str, kind: str) -> str | None:
    for ext in _all(node, "extension"):
        if ext.get("@url") == [url]:
            return _val(ext, kind)
    return None


def _resources(jar: zipfile.ZipFile, name: str) -> Iterator[tuple[str, Node]]:
    root = ET.fromstring(jar.read(_BASE + name))
    for entry in root.iter(_NS + "entry"):
        for holder in entry.findall(_NS + "resource"):
            for resource in holder:
                yield resource.tag.removeprefix(_NS), _convert(resource)


def _structure(sd: Node) -> dict[str, Any]:
    kind = _val(sd, "kind")
    elements: dict[str, list[Any]] = {}
    constraints: list[list[str]] = []
    primitive: dict[str, str] = {}
    type_name = _val(sd, "type") or ""
    for element in _all(_all(sd, "snapshot")[0], "element"):
        path = _val(element, "path") or ""
        for constraint in _all(element, "constraint"):
            key = _val(constraint, "key") or ""
            if (key.startswith("ele-") and path != "Element") or (
                key == "ext-1" and path != "Extension"
            ):
                continue  # written once, on Element and on Extension
            constraints.append(
                [
                    key,
                    _val(constraint, "severity") or "error",
                    path,
                    _val(constraint, "expression") or "",
                    _val(constraint, "human") or "",
                ]
            )
        if path == type_name:
            continue
        relative = path[len(type_name) + 1 :]
        types = []
        targets: list[str] = []
        for t in _all(element, "type"):
            code = _val(t, "code") or ""
            if code.startswith("http://hl7.org/fhirpath/System."):
                if kind == "primitive-type" and relative == "value":
                    primitive["json"] = _JSON_KIND.get(code, "string")
                    regex = _ext(t, _REGEX, "valueString")
                    if regex:
                        primitive["regex"] = regex
                # the id of an element, the url of an extension: FHIR string / uri
                code = _ext(t, _FHIR_TYPE, "valueUrl") or "string"
            types.append(code)
            for target in _all(t, "targetProfile"):
                value = target["@value"][0]
                targets.append(value.rsplit("/", 1)[-1])
        row: list[Any] = [
            int(_val(element, "min") or 0),
            _val(element, "max") or "*",
            types,
        ]
        binding = _all(element, "binding")
        strength = _val(binding[0], "strength") if binding else None
        value_set = _val(binding[0], "valueSet") if binding else None
        content_reference = _val(element, "contentReference")
        extra: dict[str, Any] = {}
        if strength in ("required", "extensible") and value_set:
            extra["binding"] = [strength, value_set.split("|", 1)[0]]
        if targets:
            extra["targets"] = sorted(set(targets))
        if content_reference:
            extra["ref"] = content_reference.lstrip("#")[len(type_name) + 1 :]
        if extra:
            row.append(extra)
        elements[relative] = row
    out: dict[str, Any] = {
        "kind": kind,
        "base": (_val(sd, "baseDefinition") or "").rsplit("/", 1)[-1],
        "abstract": _val(sd, "abstract") == "true",
        "elements": elements,
    }
    if constraints:
        out["constraints"] = constraints
    if primitive:
        out["primitive"] = primitive
    return out


def _code_systems(resources: list[tuple[str, Node]]) -> dict[str, Node]:
    out = {}
    for kind, resource in resources:
        url = _val(resource, "url")
        if kind == "CodeSystem" and url and _val(resource, "content") == "complete":
            out[url] = resource
    return out


class _Expander:
    def __init__(self, value_sets: dict[str, Node], code_systems: dict[str, Node]) -> None:
        self.value_sets = value_sets
        self.code_systems = code_systems
        self.trees: dict[str, dict[str, list[str]]] = {}

    def tree(self, system: str) -> dict[str, list[str]]:
        """code -> child codes of a complete CodeSystem (concept nesting and ``parent``)."""
        if system not in self.trees:
            children: dict[str, list[str]] = {}

            def walk(concepts: list[Node], parent: str | None) -> None:
                for concept in concepts:
                    code = _val(concept, "code") or ""
                    children.setdefault(code, [])
                    if parent is not None:
                        children[parent].append(code)
                    for prop in _all(concept, "property"):
                        if _val(prop, "code") in ("parent", "subsumedBy"):
                            up = _val(prop, "valueCode")
                            if up:
                                children.setdefault(up, []).append(code)
                    walk(_all(concept, "concept"), code)

            walk(_all(self.code_systems[system], "concept"), None)
            self.trees[system] = children
        return self.trees[system]

    def expand(self, url: str, depth: int = 0) -> set[tuple[str, str]]:
        vs = self.value_sets.get(url)
        if vs is None:
            raise LookupError(f"value set {url} is not in the R4 definitions")
        if depth > 8:
            raise LookupError(f"value set {url} nests too deeply")
        compose = (_all(vs, "compose") or [{}])[0]
        codes: set[tuple[str, str]] = set()
        for part in _all(compose, "include"):
            codes |= self._part(part, depth)
        for part in _all(compose, "exclude"):
            codes -= self._part(part, depth)
        return codes

    def _part(self, part: Node, depth: int) -> set[tuple[str, str]]:
        system = _val(part, "system")
        found: set[tuple[str, str]] | None = None
        if system:
            concepts = _all(part, "concept")
            if concepts:
                found = {(system, _val(c, "code") or "") for c in concepts}
            else:
                if system not in self.code_systems:
                    raise LookupError(f"its code system {system} is not in the R4 definitions")
                tree = self.tree(system)
                selected = set(tree)
                for f in _all(part, "filter"):
                    op, value = _val(f, "op"), _val(f, "value") or ""
                    if _val(f, "property") != "concept" or op not in ("is-a", "descendent-of"):
                        raise LookupError(f"its filter {op!r} on {system} is not supported")
                    below = self._below(tree, value)
                    selected &= below | ({value} if op == "is-a" else set())
                found = {(system, c) for c in selected}
        for ref in part.get("valueSet") or ():
            inner = self.expand(ref["@value"][0].split("|", 1)[0], depth + 1)
            found = inner if found is None else found & inner
        return found or set()

    @staticmethod
    def _below(tree: dict[str, list[str]], code: str) -> set[str]:
        out: set[str] = set()
        stack = list(tree.get(code, ()))
        while stack:
            current = stack.pop()
            if current not in out:
                out.add(current)
                stack.extend(tree.get(current, ()))
        return out


def build(jar_path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(jar_path) as jar:
        structures = [
            r
            for name in ("profile/profiles-types.xml", "profile/profiles-resources.xml")
            for kind, r in _resources(jar, name)
            if kind == "StructureDefinition"
        ]
        terminology = [
            item
            for name in (
                "valueset/valuesets.xml",
                "valueset/v3-codesystems.xml",
                "valueset/v2-tables.xml",
            )
            for item in _resources(jar, name)
        ]
    types: dict[str, Any] = {}
    for sd in structures:
        if _val(sd, "derivation") == "constraint" or _val(sd, "kind") == "logical":
            continue  # profiles (SimpleQuantity...) and logical models are not types
        types[_val(sd, "type") or ""] = _structure(sd)
    for spec in types.values():  # R4 gives positiveInt.value System.String: its base decides
        base = spec["base"]
        while "primitive" in spec and spec["primitive"]["json"] == "string" and base in types:
            if types[base].get("primitive", {}).get("json", "string") != "string":
                spec["primitive"]["json"] = types[base]["primitive"]["json"]
            base = types[base]["base"]
    value_sets = {
        url: vs
        for kind, vs in terminology
        if kind == "ValueSet" and (url := _val(vs, "url")) is not None
    }
    expander = _Expander(value_sets, _code_systems(terminology))
    wanted = sorted(
        {
            row[3]["binding"][1]
            for t in types.values()
            for row in t["elements"].values()
            if len(row) > 3 and "binding" in row[3]
        }
    )
    expansions: dict[str, Any] = {}
    for url in wanted:
        try:
            codes = expander.expand(url)
        except LookupError as exc:
            expansions[url] = {"unexpandable": str(exc)}
            continue
        if len(codes) > _MAX_CODES:
            expansions[url] = {"unexpandable": f"its expansion has {len(codes)} codes"}
            continue
        by_system: dict[str, list[str]] = {}
        for system, code in sorted(codes):
            by_system.setdefault(system, []).append(code)
        expansions[url] = {"codes": by_system}
    # every complete code system of the specification, bound or not: a Coding of one (e.g.
    # observation-category, bound "preferred") has a known code list, as the HL7 engine checks
    code_systems: dict[str, list[str]] = {}
    for system in sorted(expander.code_systems):
        codes_of = sorted(expander.tree(system))
        if len(codes_of) <= _MAX_CODES:
            code_systems[system] = codes_of
    digest = hashlib.sha256(jar_path.read_bytes()).hexdigest()
    return {
        "source": {
            "artifact": "ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4:8.8.0",
            "sha256": digest,
            "fhirVersion": "4.0.1",
            "generator": "scripts/gen_r4_tables.py",
        },
        "types": types,
        "valueSets": expansions,
        "codeSystems": code_systems,
    }


def render(table: dict[str, Any]) -> str:
    """Sorted, one line per type, value set and code system (reviewable diffs)."""

    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    lines = ["{", f'"source":{dump(table["source"])},']
    sections = ("types", "valueSets", "codeSystems")
    for n, section in enumerate(sections):
        lines.append(f'"{section}":{{')
        items = sorted(table[section].items())
        for i, (key, value) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"{dump(key)}:{dump(value)}{comma}")
        lines.append("}," if n < len(sections) - 1 else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jar", type=Path, default=JAR)
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    if not args.jar.is_file():
        print(f"{args.jar} not found: run scripts/fhir-server build first", file=sys.stderr)
        return 2
    text = render(build(args.jar))
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
