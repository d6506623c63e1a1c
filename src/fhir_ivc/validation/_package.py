"""The conformance resources the validator knows: where they are read from, indexed by URL.

Two FHIR packages, both read from files that travel with the code:

* ``packages/hl7.fhir.us.mcode-4.0.0/``: mCODE STU4 StructureDefinitions (with snapshots) and
  ValueSets, package data of this module (PROVENANCE.txt says where they come from);
* the project's own package ``fhir-ivc.ivc-lms`` (differential StructureDefinitions,
  CodeSystems, ValueSets): ``packages/fhir-ivc.ivc-lms/`` in an installed wheel (hatch copies
  ``profiles/`` there), else ``profiles/`` of the source tree this module sits in.

Everything is read once, on first use (about 15 ms), and kept.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = ["PROJECT_PACKAGE", "Registry", "package_dirs", "registry"]

_HERE: Final = Path(__file__).resolve().parent
#: npm name of the project's package (profiles/package.json)
PROJECT_PACKAGE: Final = "fhir-ivc.ivc-lms"
_MCODE_DIR: Final = _HERE / "packages" / "hl7.fhir.us.mcode-4.0.0"
#: the definitions of the FHIR core extensions the adapter emits (data-absent-reason...)
_EXTENSIONS_DIR: Final = _HERE / "packages" / "hl7.fhir.uv.extensions.r4-5.2.0"

JsonObject = dict[str, Any]


def package_dirs() -> list[Path]:
    """The package folders read, in order: mCODE, the core extensions the adapter emits, then
    the project's package when found."""
    dirs = [_MCODE_DIR, _EXTENSIONS_DIR]
    project = _project_dir()
    if project is not None:
        dirs.append(project)
    return dirs


def _project_dir() -> Path | None:
    for candidate in (_HERE / "packages" / PROJECT_PACKAGE, _HERE.parents[2] / "profiles"):
        manifest = candidate / "package.json"
        if manifest.is_file():
            name = orjson.loads(manifest.read_bytes()).get("name")
            if name == PROJECT_PACKAGE:
                return candidate
    return None


@dataclass
class Registry:
    """Conformance resources by canonical URL (without ``|version``)."""

    structure_definitions: dict[str, JsonObject] = field(default_factory=dict)
    value_sets: dict[str, JsonObject] = field(default_factory=dict)
    code_systems: dict[str, JsonObject] = field(default_factory=dict)
    #: the folder each package was read from, by package name
    packages: dict[str, Path] = field(default_factory=dict)
    #: the canonical base of each package, by package name
    canonicals: dict[str, str] = field(default_factory=dict)

    def add_folder(self, folder: Path) -> None:
        """Read every conformance resource under ``folder`` (a package folder, recursively)."""
        manifest = folder / "package.json"
        if manifest.is_file():
            info = orjson.loads(manifest.read_bytes())
            name = str(info.get("name", folder.name))
            self.packages[name] = folder
            self.canonicals[name] = str(info.get("canonical", "")).rstrip("/")
        for path in sorted(folder.rglob("*.json")):
            if path.name == "package.json" or path.name.startswith("."):
                continue
            self.add(orjson.loads(path.read_bytes()))

    def add(self, resource: Mapping[str, Any]) -> None:
        """Index one StructureDefinition, ValueSet or CodeSystem (others are ignored)."""
        url = resource.get("url")
        if not isinstance(url, str):
            return
        table = {
            "StructureDefinition": self.structure_definitions,
            "ValueSet": self.value_sets,
            "CodeSystem": self.code_systems,
        }.get(str(resource.get("resourceType")))
        if table is not None:
            table[url] = dict(resource)

    def structure_definition(self, url: str) -> JsonObject | None:
        return self.structure_definitions.get(canonical(url))

    def value_set(self, url: str) -> JsonObject | None:
        return self.value_sets.get(canonical(url))

    def code_system(self, url: str) -> JsonObject | None:
        return self.code_systems.get(canonical(url))

    def is_project(self, url: str) -> bool:
        """Is ``url`` a canonical of the project's own package?"""
        base = self.canonicals.get(PROJECT_PACKAGE)
        return bool(base) and canonical(url).startswith(f"{base}/")


def canonical(url: str) -> str:
    """``url|version`` -> ``url``."""
    return url.split("|", 1)[0]


@functools.cache
def registry() -> Registry:
    """The registry of :func:`package_dirs`, read once."""
    reg = Registry()
    for folder in package_dirs():
        reg.add_folder(folder)
    return reg
