"""One case <-> its table rows, by the layout (:mod:`fhir_ivc.io.tables.layout`).

:func:`case_rows` flattens a valid case into ``{table: [row, ...]}`` (a row is a tuple in the
order of the table's header, values typed: str, int, float, bool, list or None).

:func:`assemble` does the opposite for the rows of one case as read (cells are text from CSV or
typed values from Parquet) and validates the result with the case model. Every problem names
the table, the row and the column it comes from, and the case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from pydantic import ValidationError

from fhir_ivc.exceptions import CaseInputError
from fhir_ivc.io._paths import format_loc
from fhir_ivc.io.reader import _reason  # the one policy on what an error may quote
from fhir_ivc.io.tables.layout import (
    CASE_ID,
    CASES,
    INFERRED,
    LIST_SEPARATOR,
    Column,
    Table,
    layout,
)
from fhir_ivc.model import Case, ListItem, item_keys

__all__ = ["Row", "assemble", "case_rows", "format_cell"]

Record = dict[str, Any]
#: ``(table, line)`` -> "imaging.csv:3" or "imaging.parquet row 2"
Label = Callable[[str, int], str]


@dataclass(frozen=True, slots=True)
class Row:
    """One row as read: its line (CSV) or 1-based row number (Parquet), its cells, or why the
    row itself cannot be read (``problem``, e.g. a row with more cells than the header)."""

    table: str
    line: int
    values: Mapping[str, Any]
    problem: str | None = None

    @property
    def case_id(self) -> str | None:
        return clean_id(self.values.get(CASE_ID))


def clean_id(value: Any) -> str | None:
    """A case id cell, stripped; None when blank or not printable text of at most 64 chars."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= 64 and value.isprintable() else None


# --- case -> rows -----------------------------------------------------------------------------


def _get(data: Any, path: Sequence[str]) -> Any:
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def case_rows(case: Case) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of one case, per table (``inferred`` included), in header order."""
    lay = layout()
    dump = case.model_dump(mode="json")
    case_id = case.case_id
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in lay.names}
    rows[CASES].append((case_id, *(_get(dump, c.path) for c in lay.cases.columns)))
    inferred = rows[INFERRED]
    _inferred_rows(case_id, dump, CASES, "", (), lay.cases, inferred)
    for table in lay.children:
        items = _get(dump, table.field_path) or []
        if table.model is None:
            rows[table.name] = [(case_id, item) for item in items]
            continue
        rows[table.name] = [
            (case_id, *(_get(item, c.path) for c in table.columns)) for item in items
        ]
        if table.keyed:
            models = _models_at(case, table.field_path)
            for item, key in zip(items, item_keys(models), strict=True):
                _inferred_rows(case_id, item, table.name, key, (), table, inferred)
    return rows


def _models_at(case: Case, path: Sequence[str]) -> list[ListItem]:
    obj: Any = case
    for name in path:
        obj = getattr(obj, name, None) if obj is not None else None
    return list(obj or [])


def _inferred_rows(
    case_id: str,
    data: Record,
    table_name: str,
    key: str,
    prefix: tuple[str, ...],
    table: Table,
    out: list[tuple[Any, ...]],
) -> None:
    for name in data.get("inferred") or ():
        out.append((case_id, table_name, key, ".".join((*prefix, name))))
    for name, value in data.items():
        if isinstance(value, dict) and ".".join((*prefix, name)) in table.inferable:
            _inferred_rows(case_id, value, table_name, key, (*prefix, name), table, out)


def format_cell(value: Any) -> str:
    """A typed value as CSV text: ``true``, ``150``, ``7.5``, ``middle;lower``; None -> ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list):
        return LIST_SEPARATOR.join(format_cell(v) for v in value)
    return str(value)


# --- rows -> case -----------------------------------------------------------------------------

_INTEGER: Final = re.compile(r"^[+-]?\d+$")


def _cell(column: Column, value: Any) -> Any:
    """A cell as the model reads it; ``None`` for an empty cell. Text is left to pydantic's
    conversions (numbers, booleans), except what pydantic would not read from text: lists
    and integer codes. Typed values (Parquet) go to the model as they are."""
    if not value or not isinstance(value, str):  # an empty list is no value, as an empty cell
        return None if value is None or value == "" or value == [] else value
    value = value.strip()
    if not value:
        return None
    if column.many:
        return [_one(column, part.strip()) for part in value.split(LIST_SEPARATOR)]
    return _one(column, value)


def _one(column: Column, text: str) -> Any:
    if column.int_codes:
        return int(text) if _INTEGER.match(text) else text
    return text


def _put(data: Record, path: Sequence[str], value: Any) -> None:
    for name in path[:-1]:
        child = data.get(name)
        if not isinstance(child, dict):
            child = data[name] = {}
        data = child
    data[path[-1]] = value


def _object(data: Record, path: Sequence[str]) -> Record:
    for name in path:
        child = data.get(name)
        if not isinstance(child, dict):
            child = data[name] = {}
        data = child
    return data


def _record(table: Table, row: Row) -> Any:
    if table.model is None:
        return _cell(table.columns[0], row.values.get("value"))
    return _fill({}, table, row)


def _fill(record: Record, table: Table, row: Row) -> Record:
    """``record`` with the non-empty cells of ``row`` put at their fields' paths."""
    for name, text in row.values.items():
        if text is None or text == "" or text == [] or name == CASE_ID:
            continue
        column = table.column(name)
        if column is None:  # pragma: no cover - the header was checked against the layout
            continue
        value = _cell(column, text)
        if value is not None:
            _put(record, column.path, value)
    return record


@dataclass
class _Problems:
    case_id: str | None
    label: Label
    errors: list[CaseInputError] = field(default_factory=list)

    def add(self, path: str, row: Row | None, column: str, reason: str) -> None:
        where = self.label(row.table, row.line) if row is not None else ""
        if column:
            where += f", column {column}"
        text = f"{where}: {reason}" if where else reason
        self.errors.append(CaseInputError(self.case_id, path, text))


def assemble(
    case_row: Row, children: Mapping[str, Sequence[Row]], label: Label
) -> Case | list[CaseInputError]:
    """The case made of one ``cases`` row and the rows of its child tables (``inferred``
    included), or every problem found in them."""
    lay = layout()
    problems = _Problems(case_row.case_id, label)
    record: Record = {CASE_ID: case_row.case_id}
    item_rows: dict[str, list[Row]] = {}
    for row in (case_row, *(r for rows in children.values() for r in rows)):
        if row.problem:
            problems.add("", row, "", row.problem)
    _fill(record, lay.cases, case_row)
    for table in lay.children:
        rows = [r for r in children.get(table.name, ()) if not r.problem]
        if not rows:
            continue
        item_rows[table.name] = rows
        _put(record, table.field_path, [_record(table, r) for r in rows])
        if table.keyed:
            _check_keys(table, rows, problems)
    inferred_lines = _apply_inferred(record, children.get(INFERRED, ()), item_rows, problems)
    try:
        case = Case.model_validate(record)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            at, name = _locate(err["loc"], err["msg"], case_row, item_rows, inferred_lines)
            problems.add(format_loc(err["loc"]), at, name, _reason(err))
        return problems.errors
    return problems.errors or case


def _check_keys(table: Table, rows: Sequence[Row], problems: _Problems) -> None:
    first: dict[str, Row] = {}
    for row in rows:
        key = row.values.get("key")
        key = key.strip() if isinstance(key, str) else key
        if not key:
            continue
        if key in first:
            problems.add(
                ".".join(table.field_path),
                row,
                "key",
                f"duplicate item key: {label_key(key)} is also the key of "
                f"{problems.label(table.name, first[key].line)}",
            )
        else:
            first[key] = row


def label_key(key: Any) -> str:
    shown = repr(key)
    return shown if len(shown) <= 66 else "a key"


def _keys(table: Table, records: Sequence[Any]) -> list[str] | None:
    """The items' keys as the bundle builder derives them (``lung``, ``lung-2``)."""
    model = table.model
    if model is None or not issubclass(model, ListItem):
        return None
    try:
        return item_keys([cast(ListItem, _Item(model, r)) for r in records])
    except (AttributeError, TypeError):  # a required field is missing: reported by the model
        return None


class _Item:
    """Just enough of a list item for its key: ``key`` and the model's ``natural_key()``
    (which reads plain fields), without validating the whole item."""

    def __init__(self, model: type[ListItem], record: Record) -> None:
        self._model = model
        self._record = record
        self.key = record.get("key")

    def __getattr__(self, name: str) -> Any:
        if name in self._record:
            return self._record[name]
        info = self._model.model_fields.get(name)
        if info is None or info.is_required():
            raise AttributeError(name)
        return info.get_default(call_default_factory=True)

    def natural_key(self) -> str:
        return self._model.natural_key(cast(ListItem, self))


def _apply_inferred(
    record: Record,
    rows: Sequence[Row],
    item_rows: Mapping[str, Sequence[Row]],
    problems: _Problems,
) -> dict[tuple[Any, ...], list[Row]]:
    """Put each inferred marker into the object it names; the rows behind each object."""
    lay = layout()
    lines: dict[tuple[Any, ...], list[Row]] = {}
    keys_cache: dict[str, list[str] | None] = {}
    for row in rows:
        if row.problem:
            continue
        table_name = _text(row.values.get("table"))
        key = _text(row.values.get("item_key"))
        name = _text(row.values.get("field"))
        table = lay.by_name.get(table_name or "")
        if table is None:
            problems.add("inferred", row, "table", "not a table of the layout")
            continue
        if not name or name not in table.inferable:
            allowed = ", ".join(sorted(table.inferable)) or "none"
            problems.add(
                "inferred", row, "field", f"not a field of {table.name} (one of {allowed})"
            )
            continue
        if table.name == CASES:
            if key:
                problems.add("inferred", row, "item_key", "must be empty for the cases table")
                continue
            target, base = record, tuple[Any, ...]()
        else:
            items = _get(record, table.field_path) or []
            if table.name not in keys_cache:
                keys_cache[table.name] = _keys(table, items)
            keys = keys_cache[table.name] or []
            if key not in keys:
                problems.add(
                    "inferred",
                    row,
                    "item_key",
                    f"no row of {table.name} of this case has the item key "
                    f"{label_key(key) if key else '(empty)'}",
                )
                continue
            index = keys.index(key)
            target, base = items[index], (*table.field_path, index)
        *parents, last = name.split(".")
        obj = _object(target, parents)
        obj.setdefault("inferred", []).append(last)
        lines.setdefault((*base, *parents), []).append(row)
    return lines


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _locate(
    loc: tuple[int | str, ...],
    message: str,
    case_row: Row,
    item_rows: Mapping[str, Sequence[Row]],
    inferred: Mapping[tuple[Any, ...], Sequence[Row]],
) -> tuple[Row | None, str]:
    """The row and column behind an error at ``loc`` in the case record."""
    row: Row | None = case_row
    rest = list(loc)
    for table in layout().children:
        size = len(table.field_path)
        if tuple(loc[:size]) == table.field_path and len(loc) > size:
            index = loc[size]
            rows = item_rows.get(table.name, ())
            if isinstance(index, int) and index < len(rows):
                row, rest = rows[index], list(loc[size + 1 :])
                if table.model is None:
                    return row, "value"
                break
    names: list[str] = []
    for part in rest:
        if isinstance(part, int):
            break
        names.append(part)
    # the model checks ``inferred`` on the object that holds it: name the inferred row
    if names[-1:] == ["inferred"] or (not names and "inferred" in message):
        base = tuple(loc[: len(loc) - len(rest)]) + tuple(names[:-1] if names else ())
        marked = inferred.get(base)
        if marked:
            return marked[0], "field"
    return row, ".".join(names)
