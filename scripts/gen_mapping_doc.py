"""Generate docs/mapping.md from the mappers' ELEMENTS rows (``--check`` for CI)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from fhir_ivc.mappers import ELEMENTS

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "mapping.md"

#: the hand-written parts of docs/mapping.md, before and after the generated table
HEAD = """# Case element → FHIR mapping

Audience: integrators and reviewers. Type: reference. **Generated** by
`scripts/gen_mapping_doc.py` from the `ELEMENTS` rows in `src/fhir_ivc/mappers/`;
edit the rows, not this file.
"""
TAIL = ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _function(fn: Callable[..., object] | None) -> str:
    """``module.function`` of a row's callable (``-``: not read back)."""
    if fn is None:
        return "-"
    return f"`{fn.__module__.removeprefix('fhir_ivc.mappers.')}.{fn.__qualname__}`"


def render() -> str:
    lines = [*HEAD.splitlines(), ""]
    lines += [
        "| case element | FHIR element | profile | code | unit | to_fhir | from_fhir | "
        "equivalence | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ELEMENTS:
        profile = row.profile.rsplit("/", 1)[-1]
        code = f"`{row.code.system.rsplit('/', 1)[-1]}\\|{row.code.code}`" if row.code else ""
        cells = [
            f"`{row.source}`",
            _cell(str(row.target)),
            profile,
            code,
            f"`{row.unit.code}`" if row.unit else "",
            _function(row.to_fhir),
            _function(row.from_fhir),
            row.equivalence,
            _cell(row.note),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + TAIL


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
