"""Generate docs/mapping.md (from the ELEMENTS rows) and docs/terminology.md (from the code tables).

.venv/bin/python scripts/gen_mapping_doc.py            # (re)write both pages
.venv/bin/python scripts/gen_mapping_doc.py --check    # exit 1 if one is stale (CI)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from fhir_ivc.mappers import ELEMENTS
from fhir_ivc.terminology import codes, systems
from fhir_ivc.terminology._tables import Code, CodeTable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "mapping.md"
TERMINOLOGY = ROOT / "docs" / "terminology.md"

#: the hand-written parts of docs/mapping.md, before and after the generated table
HEAD = """# Case element → FHIR mapping

Audience: developers who change the mapping, integrators and reviewers. Type: reference, with
one how-to ("Changing one element", at the end). **Generated** by `scripts/gen_mapping_doc.py`
from the `ELEMENTS` rows in `src/fhir_ivc/mappers/`; edit the rows, not this file.

## How the mapping is built

```
src/fhir_ivc/mappers/
  _rows.py         ElementMap(source, Target(resource, element, profile), to_fhir, from_fhir,
                   equivalence, note, code, unit): one row per case element, holding the
                   functions and the terminology objects themselves; Rows(resource, profile,
                   to_fhir, from_fhir) declares a writer/reader pair once, .row(source,
                   element, ...) is then one row
  measures.py      the operative measures, declared entirely by their rows (Measure: field,
                   identifier key, code, unit, value transforms, synthetic distribution); one
                   loop writes them, one reads them, and the profile, its invariants, the rows
                   and the synthetic cases' values (fhir_ivc.testing) derive from them
  patient.py, condition.py, tumor.py, procedure.py, observation.py, follow_up.py, report.py,
  medication.py    one module per resource family: to_fhir_* and from_fhir_* side by side,
                   the module's READ_SHAPES (what its readers take) and ELEMENTS rows at its end
  canonical.py     every profile and extension URL the mappers write (fhir_ivc.authoring
                   builds profiles/ from the same constants)
  _context.py      MapContext: deterministic ids, references, the case-element marker;
                   keyed(items, path): a case list as (path, element key, item)
  _observation.py  add_observation: the common body of every Observation
  _read.py         ReadContext: the index of a patient's resources, the loss report
  _fields.py       the case-model field paths (the row-coverage test's list)
  __init__.py      MAPPERS (the bundle order) and ELEMENTS (all rows)
```

`fhir_ivc.bundle.build_bundles` runs `MAPPERS`; `fhir_ivc.bundle.read_case` classifies each
resource and calls the `from_fhir_*` reader a row names (tests/test_mapping_rows.py checks
that every named writer runs and every named reader is really called when reading back).
Codes come from `fhir_ivc.terminology` ([terminology.md](terminology.md)), never inlined.

**Identifiers are a contract.** Every resource's identifier is `<uuid5 of source system and
case id>/<element key>` (the Patient's is the case id), and a push is a transaction of
conditional `PUT Type?identifier=system|value`. A changed element key creates the resource
again on every server that holds the case. `tests/mapping/test_identifiers.py` pins the
identifiers and conditional URLs of the seed cases; `--update-golden` does not rewrite them.
An intended change needs a migration note here (how servers holding the old identifiers are
brought over) and `pytest tests/mapping/test_identifiers.py --update-identifiers`. No
migration has been needed so far. The case manifest (`List`, key `manifest`, written by `push`
since issue 11, see [push.md](push.md#corrections-a-case-is-the-unit-of-truth)) was *added* to
the contract: no existing identifier moved, so servers holding cases need no migration; their
first push with corrections writes the manifest.

**Times.** A time is a real (partial) FHIR date or an offset from the index surgery; an offset
is written as `data-absent-reason = unknown` plus `cqf-relativeDateTime` (target: the index
surgery by identifier), never as an invented date (`fhir_ivc.fhir.datetimes`).

**Changes to the emitted bundles.** The operative measure Observations carry their own case
element in the `case-element` marker (`surgery.blood_loss_ml`, was `surgery`), so push
failures and reports name the element; identifiers unchanged.

Equivalence `derived`: written for receivers, not read back (`from_fhir` is `-`).

## The rows
"""
TAIL = """
## Changing one element: blood loss to another code and unit

Everything about a measure is its row in `src/fhir_ivc/mappers/measures.py`. To send blood
loss as LOINC 81661-1 "Blood loss [Volume] Measured" in litres instead of the local
`estimated-blood-loss` in mL (done on a scratch branch that was never merged; the counts are
`git diff --stat` of that branch):

1. `src/fhir_ivc/terminology/codes.py`: the new code, because it is new:
   `BLOOD_LOSS: Final = Code(LOINC, "81661-1", "Blood loss [Volume] Measured")`.
2. `src/fhir_ivc/mappers/measures.py`, the blood loss row: `C.BLOOD_LOSS`, `U.LITER`,
   `to_fhir=lambda ml: ml / 1000`, `from_fhir=lambda liters: liters * 1000` (the case field
   stays `blood_loss_ml`, so the case model, the synthetic cases and the Hypothesis strategies
   do not change).
3. Regenerate, then review the diff: `python scripts/build_profiles.py` (the profile's code and
   unit value sets, its `ivc-om-*` unit invariants, docs/profiles.md), `python
   scripts/gen_mapping_doc.py` (this page) and `python scripts/update_golden.py` (every golden
   of the mapping: the seed bundles, the validator suite's examples and `examples/bundles/`;
   it then runs the mapping tests).

The forward mapping, the reader, the validator's invariants (`validation/_invariants.py` reads
`measures.unit_constraints()`), the profile and this page follow from the row. The tests that
state blood loss on purpose do not name its code or unit: the seed facts
(`tests/mapping/test_seed_facts.py`) find a measure by its case element and compare its
quantity in the report's unit (300 mL is 0.3 L), and the validator suite's operative-measure
example and its wrong-unit case (`tests/validation/valid/operative-measure.json`,
`broken/operative-measure-wrong-unit*.json`) are goldens extracted from the seed mapping and
derived from the row (`tests/mapping/test_validation_examples.py`).

Measured on the scratch branch: **18 files changed, 2 of them edited by hand** (the row and the
terminology entry); the other 16 were rewritten by the three commands: 3 profiles
(`StructureDefinition-ivc-operative-measure`, its code and unit value sets), docs/profiles.md,
docs/mapping.md, 4 seed goldens, 3 validator suite examples and 4 example bundles. The fast
tests passed on that branch with no test edited (tests/mapping through update_golden.py, the
rest with `pytest -m "not integration and not java"`: 1,150 passed), as did `mypy --strict
src`. Before this redesign the same change needed 6 files edited by hand (the row, the
terminology entry, the seed facts and the three validator suite files) and 13 regenerated;
before the rows, about 17 files in 20 places.
"""


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


TERMINOLOGY_HEAD = """# Terminology: where the codes come from

Audience: developers and reviewers of the codes. Type: reference. **Generated** by
`scripts/gen_mapping_doc.py` from `src/fhir_ivc/terminology/`; edit the code tables, not this
file. The evidence behind each code is in
[terminology-verification.md](terminology-verification.md).

## Where codes live

* `terminology/systems.py`: the code system URIs and the project's canonical base.
* `terminology/codes.py`: every code the mappers emit: single `Code` objects
  (`Code(system, code, display, verified)`) and two-way `CodeTable`s keyed by the case model's
  values (standard codings first, the project's local coding last, so the exact value always
  round-trips). The tables are data, in `terminology/codes.toml`, read once: `[name.codes]`
  lists a key's standard codings as `[SYSTEM, code, display]` (a 4th item `"unverified"` for
  mark M), and `local = "<system>"` makes it a table over a local code system: every code of
  that system, its standard codings (where it has any) before its local coding. Mappers never
  inline a code; an unknown code on reading raises `UnmappedCodeError` or becomes a Loss,
  never a placeholder.
* `terminology/local.py`: the project's own code systems, for elements no standard code
  carries, their codes and definitions as data in `terminology/local.toml`; each is published
  as a CodeSystem and a ValueSet in `profiles/` ([profiles.md](profiles.md)).
* `terminology/units.py`: the UCUM units as objects (code on the wire, name for value sets).

## Confidence marks

Comments next to codes carry one of these marks:

| mark | meaning |
|---|---|
| V | checked in an authoritative artifact (mCODE 4.0.0 package, FHIR R4 core, HL7 IG sources) |
| V2 | code and display found together in public FHIR IGs or code lists, not in the release |
| M | from memory, not confirmed: the `Code` has `verified=False` (listed below) |
| P | a proposal: a modelling choice or a local code, because no standard one was found |
| inf. | (case records) a value the source implies but does not state: the `inferred` field |

Open questions that need a terminology server or the target registry (whether ICD-O-3 indexes
the IVC to C49.4 or C48.0, membership of 260528009 "Middle" in mCODE's required qualifier value
set, the R-stage codes) are in the "Still open" list of
[terminology-verification.md](terminology-verification.md#recommendations).

## Code systems

| system | URI |
|---|---|
"""


def _unverified() -> list[tuple[str, Code]]:
    found: list[tuple[str, Code]] = []
    for name, value in vars(codes).items():
        if isinstance(value, Code) and not value.verified:
            found.append((f"`{name}`", value))
        elif isinstance(value, CodeTable):
            found += [
                (f"`{name}[{key!r}]`", c)
                for key, cs in value.entries.items()
                for c in cs
                if not c.verified
            ]
    return found


def render_terminology() -> str:
    lines = TERMINOLOGY_HEAD.splitlines()
    for name, value in vars(systems).items():
        if name.isupper() and isinstance(value, str) and value.startswith("http"):
            lines.append(f"| `{name}` | `{value}` |")
    lines += [
        "",
        "## Codes carried unverified (`verified=False`)",
        "",
        "They are emitted as they are, never silently replaced; check each before a release.",
        "",
        "| where | system | code | display |",
        "|---|---|---|---|",
    ]
    for where, code in _unverified():
        lines.append(f"| {where} | `{code.system}` | `{code.code}` | {_cell(code.display)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    pages = {OUT: render(), TERMINOLOGY: render_terminology()}
    if "--check" in sys.argv:
        stale = [p for p, text in pages.items() if not p.exists() or p.read_text("utf-8") != text]
        for path in stale:
            print(f"{path} is stale: run python scripts/gen_mapping_doc.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
