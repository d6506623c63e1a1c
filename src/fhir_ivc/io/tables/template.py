"""The layout for people: ``fhir-ivc schema --tables`` (text) and ``--template DIR`` (empty
tables and a README of their columns: type, required, allowed values, unit, range, example).

Examples are the first value of the column among synthetic cases (``fhir_ivc.testing.synth``),
so they follow the model too; nothing here lists a column by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

from fhir_ivc.io.tables.layout import (
    CASE_ID,
    CASES,
    INFERRED,
    INFERRED_COLUMNS,
    LIST_SEPARATOR,
    Table,
    layout,
)
from fhir_ivc.io.tables.records import case_rows, format_cell
from fhir_ivc.io.tables.writer import TableFormat, TableWriter

__all__ = ["README_NAME", "layout_text", "readme_text", "write_template"]

README_NAME: Final = "README.md"
_EXAMPLE_CASES: Final = 60
_EXAMPLE_CHARS: Final = 40

_INFERRED_DOC: Final = {
    CASE_ID: "the case",
    "table": "the table of the row whose value is inferred",
    "item_key": "the row's item key (`key`, or the key derived from the item); empty for cases",
    "field": "the field inside that row, e.g. `diagnosis.ivc_segments`, `method`, `detected`",
}


def _purpose(table: Table) -> str:
    if table.name == CASES:
        return "one row per case"
    where = ".".join(table.field_path)
    if table.model is None:
        return f"one row per text of `{where}` (in order)"
    keyed = ", with the item `key` (optional)" if table.keyed else ""
    return f"one row per item of `{where}` (in order){keyed}"


@cache
def _examples() -> dict[tuple[str, str], str]:
    """``(table, column) -> the first non-empty cell among synthetic cases``."""
    from fhir_ivc.testing.synth import synthetic_case

    found: dict[tuple[str, str], str] = {}
    lay = layout()
    for index in range(_EXAMPLE_CASES):
        for table, rows in case_rows(synthetic_case(index)).items():
            header = INFERRED_COLUMNS if table == INFERRED else lay.by_name[table].header
            for row in rows:
                for name, value in zip(header, row, strict=True):
                    text = format_cell(value)
                    if text and (table, name) not in found:
                        found[table, name] = text
    return found


def _example(table: str, column: str) -> str:
    text = _examples().get((table, column), "")
    if len(text) > _EXAMPLE_CHARS:
        text = text[: _EXAMPLE_CHARS - 1] + "…"
    return text.replace("|", "\\|")


def _allowed(values: tuple[Any, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _rows(table: Table) -> Iterator[tuple[str, ...]]:
    yield (f"`{CASE_ID}`", "text", "yes", "", "", "", _example(table.name, CASE_ID), "the case")
    for c in table.columns:
        yield (
            f"`{c.name}`",
            c.type_text,
            c.required_text,
            _allowed(c.allowed),
            c.unit or "",
            c.bounds,
            _example(table.name, c.name),
            c.description.replace("|", "\\|"),
        )


def readme_text() -> str:
    """The README of a template folder (also the column reference of docs/tables.md)."""
    head = ("column", "type", "required", "allowed values", "unit", "range", "example", "notes")
    out = [
        "# Case tables: the columns",
        "",
        "Generated from the case model by `fhir-ivc schema --template` (docs/tables.md has the "
        "rules). Empty cell = no value. Lists of codes or numbers are one cell, values "
        f"separated by `{LIST_SEPARATOR}`. Booleans are `true`/`false`. Dates are FHIR dates "
        "(`2019`, `2019-03`, `2019-03-14`, or a date-time with a zone). A time is either "
        "`….date` or `….relative.offset` + `….relative.unit` (+ `….relative.relation`, default "
        '`after`): an offset from the index surgery. "required: with X.*" means required '
        "when any column of X is filled.",
        "",
    ]
    for table in layout().tables:
        out += [f"## `{table.name}`: {_purpose(table)}", ""]
        out += _markdown([head, *_rows(table)])
        out.append("")
    out += [f"## `{INFERRED}`: one row per inferred value", ""]
    rows = [(*head[:3], "example", "notes")]
    for name in INFERRED_COLUMNS:
        required = "yes" if name != "item_key" else "for child tables"
        rows.append((f"`{name}`", "text", required, _example(INFERRED, name), _INFERRED_DOC[name]))
    out += _markdown(rows)
    return "\n".join(out) + "\n"


def _markdown(rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return lines


def layout_text() -> str:
    """The layout in a few lines per table (``fhir-ivc schema --tables``)."""
    out = []
    for table in layout().tables:
        out.append(f"{table.name}: {_purpose(table)}")
        out.append(f"  {CASE_ID}: text; required yes")
        for c in table.columns:
            facts = [c.type_text]
            if c.required_text != "no":
                facts.append(f"required {c.required_text}")
            if c.allowed:
                facts.append("one of " + ", ".join(str(v) for v in c.allowed))
            if c.unit:
                facts.append(f"unit {c.unit}")
            if c.bounds:
                facts.append(c.bounds)
            out.append(f"  {c.name}: {'; '.join(facts)}")
        out.append("")
    out.append(f"{INFERRED}: one row per inferred value")
    out += [f"  {name}: {_INFERRED_DOC[name]}" for name in INFERRED_COLUMNS[1:]]
    return "\n".join(out) + "\n"


def write_template(folder: str | os.PathLike[str], table_format: TableFormat = "csv") -> Path:
    """Empty tables (headers only) and ``README.md`` in ``folder``; returns the README path."""
    path = Path(folder)
    with TableWriter(path, table_format):
        pass
    readme = path / README_NAME
    tmp = readme.with_name(f".{README_NAME}.tmp")
    tmp.write_text(readme_text(), encoding="utf-8")
    os.replace(tmp, readme)
    return readme
