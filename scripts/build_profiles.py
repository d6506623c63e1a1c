"""Write the project's FHIR package (profiles/) and docs/profiles.md from ``fhir_ivc.authoring``.

    .venv/bin/python scripts/build_profiles.py            # (re)write profiles/ and the docs page
    .venv/bin/python scripts/build_profiles.py --check    # exit 1 if anything on disk is stale
    .venv/bin/python scripts/build_profiles.py --tgz      # also pack build/fhir-ivc.tgz

The resources are authored in the package (``src/fhir_ivc/authoring/``, typed, under mypy);
this script only writes, compares and packs them. The output folder is an NPM-style FHIR
package: package.json, .index.json and one JSON file per resource (``<Type>-<id>.json``).
``--tgz`` packs it as ``package/...`` in a deterministic tarball under build/ (gitignored), the
form HAPI's NpmPackageValidationSupport loads.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from fhir_ivc.authoring import package_files, render_doc, resources, write_tgz

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
DOC = ROOT / "docs" / "profiles.md"
TGZ = ROOT / "build" / "fhir-ivc.tgz"


def expected_files() -> dict[Path, str]:
    """Every generated file (package folder + docs page) -> its text."""
    files = {PROFILES / name: text for name, text in package_files().items()}
    files[DOC] = render_doc(resources())
    return files


def stale(expected: Mapping[Path, str]) -> list[str]:
    """Problems between ``expected`` and the disk: missing, different, or extra JSON files."""
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"missing: {path.relative_to(ROOT)}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"out of date: {path.relative_to(ROOT)}")
    for path in sorted(set(PROFILES.glob("*.json")) | set(PROFILES.glob(".*.json"))):
        if path not in expected:
            problems.append(f"not generated: {path.relative_to(ROOT)}")
    return problems


def _is_resource_file(path: Path) -> bool:
    return (
        re.fullmatch(r"(CodeSystem|ValueSet|StructureDefinition)-[A-Za-z0-9.-]+\.json", path.name)
        is not None
    )


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if stale")
    parser.add_argument(
        "--tgz",
        nargs="?",
        const=TGZ,
        type=Path,
        metavar="PATH",
        help=f"also write the package tarball (default {TGZ.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    expected = expected_files()
    if args.check:
        problems = stale(expected)
        for p in problems:
            out(p)
        if problems:
            out("run: .venv/bin/python scripts/build_profiles.py")
            return 1
        out(f"profiles/ and {DOC.relative_to(ROOT)} are up to date ({len(expected)} files)")
    else:
        for path in sorted(PROFILES.glob("*.json")):
            if path not in expected and _is_resource_file(path):
                path.unlink()  # a resource the sources no longer define
                out(f"removed: {path.relative_to(ROOT)}")
        written = 0
        for path, text in expected.items():
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written += 1
        out(f"{written} of {len(expected)} files written")
    if args.tgz:
        write_tgz(package_files(), args.tgz)
        out(f"package tarball: {args.tgz}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
