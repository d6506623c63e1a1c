"""The pinned FHIR packages of scripts/fhir-packages, for tests that read third-party data.

:func:`package_tarball` resolves a package exactly as the HL7 engine's wrapper does (shared folder
or npm, verified against the pins, copied into the git-ignored cache); a missing package fails
with the resolver's message (where it looked, how to get it), never a skip.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESOLVER = ROOT / "scripts" / "fhir-packages"


def package_tarball(name: str) -> Path:
    """The verified cached tarball of the pinned package ``name`` (``NAME`` or ``NAME@VERSION``)."""
    proc = subprocess.run(
        ["bash", str(RESOLVER), "--path", name],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, f"scripts/fhir-packages --path {name} failed:\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


def _example_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    return sorted(
        (
            m
            for m in tar.getmembers()
            if m.isfile()
            and m.name.startswith("package/example/")
            and m.name.endswith(".json")
            and not m.name.rsplit("/", 1)[-1].startswith(".")
        ),
        key=lambda m: m.name,
    )


def example_files(tgz: Path, out: Path) -> list[Path]:
    """The JSON examples of a package (``package/example/``), unpacked into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    with tarfile.open(tgz, "r:gz") as tar:
        for member in _example_members(tar):
            data = tar.extractfile(member)
            assert data is not None, member.name
            target = out / member.name.rsplit("/", 1)[-1]
            target.write_bytes(data.read())
            files.append(target)
    return files


def examples(tgz: Path) -> dict[str, dict[str, Any]]:
    """The JSON examples of a package, read in memory: file name -> resource."""
    out: dict[str, dict[str, Any]] = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for member in _example_members(tar):
            data = tar.extractfile(member)
            assert data is not None, member.name
            out[member.name.rsplit("/", 1)[-1]] = json.loads(data.read())
    return out
