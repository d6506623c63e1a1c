"""The NPM-style package: resources, package.json, .index.json, a deterministic tarball."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.authoring._common import (
    DEPENDENCIES,
    FHIR_VERSION,
    PACKAGE_NAME,
    PUBLISHER,
    VERSION,
    Json,
)
from fhir_ivc.authoring.extensions import extensions
from fhir_ivc.authoring.profiles import profiles
from fhir_ivc.authoring.terminology import all_codes_value_set, code_system, subset_value_sets
from fhir_ivc.terminology import local as L  # noqa: N812
from fhir_ivc.terminology.systems import CANONICAL

# --------------------------------------------------------------------------------------------
# Package: resources, package.json, .index.json, tgz
# --------------------------------------------------------------------------------------------


def resources() -> list[Json]:
    out: list[Json] = [*extensions(), *profiles()]
    for cs in L.LOCAL_CODE_SYSTEMS:
        out += [code_system(cs), all_codes_value_set(cs)]
    out += subset_value_sets()
    return out


def filename(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def package_json() -> Json:
    return {
        "name": PACKAGE_NAME,
        "version": VERSION,
        "type": "IG",
        "canonical": CANONICAL,
        "url": CANONICAL,
        "title": "fhir_ivc: leiomyosarcoma of the inferior vena cava",
        "description": "Extensions, profiles, code systems and value sets of the fhir_ivc "
        "adapter (IVC leiomyosarcoma case records to FHIR R4 / mCODE STU4). Draft; generated "
        "by scripts/build_profiles.py.",
        "fhirVersions": [FHIR_VERSION],
        "dependencies": dict(DEPENDENCIES),
        "author": PUBLISHER,
        "license": "Apache-2.0",
    }


def index_json(items: Iterable[Mapping[str, Any]]) -> Json:
    files = []
    for r in items:
        entry: Json = {
            "filename": filename(r),
            "resourceType": r["resourceType"],
            "id": r["id"],
            "url": r["url"],
            "version": r["version"],
        }
        if r["resourceType"] == "StructureDefinition":
            entry |= {"kind": r["kind"], "type": r["type"], "derivation": r["derivation"]}
        if r["resourceType"] == "CodeSystem":
            entry["content"] = r["content"]
        files.append(entry)
    return {"index-version": 2, "files": sorted(files, key=lambda f: f["filename"])}


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def package_files() -> dict[str, str]:
    """Every file of the package folder: name -> text."""
    items = resources()
    names = [filename(r) for r in items]
    if len(set(names)) != len(names):
        raise ValueError("two resources share a file name")
    files = {filename(r): dumps(r) for r in items}
    files["package.json"] = dumps(package_json())
    files[".index.json"] = dumps(index_json(items))
    return dict(sorted(files.items()))


def write_tgz(files: Mapping[str, str], target: Path) -> None:
    """A deterministic NPM tarball: ``package/<file>``, fixed mtimes and owners."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh, gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
