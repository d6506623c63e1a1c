"""Generate docs/mapping.md from the mappers' ELEMENTS rows (``--check`` for CI)."""

from __future__ import annotations

import sys
from pathlib import Path

from fhir_ivc.mappers import ELEMENTS

OUT = Path(__file__).resolve().parent.parent / "docs" / "mapping.md"


def render() -> str:
    lines = [
        "# Case element → FHIR mapping",
        "",
        "Audience: integrators and reviewers. Type: reference. **Generated** by",
        "`scripts/gen_mapping_doc.py` from the `ELEMENTS` rows in `src/fhir_ivc/mappers/`;",
        "edit the rows, not this file. Each row names the function that writes the element",
        "(`to_fhir_*`) and the one that reads it back (`from_fhir_*`), in the same module.",
        "Equivalence `derived` rows are written for receivers but not read back.",
        "",
        "| case element | FHIR element | profile | to_fhir | from_fhir | equivalence | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ELEMENTS:
        profile = row.profile.rsplit("/", 1)[-1]
        cells = [
            f"`{row.source}`",
            row.target.replace("|", "\\|"),
            profile,
            f"`{row.to_fhir}`",
            f"`{row.from_fhir}`",
            row.equivalence,
            row.note.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run python scripts/gen_mapping_doc.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
