"""Write the seed cases as CSV case tables: examples/cases/seed-tables/ from seed-cases.yaml.

    .venv/bin/python scripts/build_case_tables.py            # (re)write the tables
    .venv/bin/python scripts/build_case_tables.py --check    # exit 1 if the tables are stale

The YAML is the source; the tables are what ``fhir_ivc.io.tables.TableWriter`` (the writer of
``fhir-ivc pull --tables``) makes of it, plus the README of the columns that
``fhir-ivc schema --template`` writes. tests/io/tables/test_examples.py runs the check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fhir_ivc.io import iter_case_records
from fhir_ivc.io.tables import TableWriter
from fhir_ivc.io.tables.template import README_NAME, readme_text

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "cases" / "seed-cases.yaml"
TABLES = ROOT / "examples" / "cases" / "seed-tables"


def build(folder: Path, source: Path = SOURCE) -> None:
    """The tables of ``source`` in ``folder`` (every table of the layout, and the README)."""
    with TableWriter(folder) as writer:
        for result in iter_case_records(source):
            if result.case is None:
                raise SystemExit(f"{source}: {result.errors[0]}")
            writer.write(result.case)
    (folder / README_NAME).write_text(readme_text(), encoding="utf-8")


def stale(folder: Path = TABLES, source: Path = SOURCE) -> list[str]:
    """The files of ``folder`` that differ from a fresh build (missing and extra ones too)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        build(fresh, source)
        names = {p.name for p in fresh.iterdir()} | {p.name for p in folder.glob("*")}
        return sorted(
            name
            for name in names
            if not (folder / name).is_file()
            or not (fresh / name).is_file()
            or (folder / name).read_bytes() != (fresh / name).read_bytes()
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables are stale")
    args = parser.parse_args()
    if args.check:
        differ = stale()
        if differ:
            print(f"stale in {TABLES.relative_to(ROOT)}: {', '.join(differ)}", file=sys.stderr)
            print("run: .venv/bin/python scripts/build_case_tables.py", file=sys.stderr)
            return 1
        print(f"{TABLES.relative_to(ROOT)} is current")
        return 0
    TABLES.mkdir(parents=True, exist_ok=True)
    build(TABLES)
    print(f"wrote {TABLES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
