"""The table layout of case records, derived from the case model (never listed by hand).

Walking :class:`~fhir_ivc.model.Case` field by field gives:

* ``cases``: one row per case. Single-valued fields of the case and of its nested objects
  (``patient``, ``diagnosis``, ``surgery``, ``pathology``, time points...) are columns named by
  their dotted path: ``patient.sex``, ``diagnosis.when.relative.offset``.
* one table per list of objects, wherever it sits in the case (``imaging``,
  ``surgery.approach`` -> ``surgery_approach``, ``patient.identifiers`` ->
  ``patient_identifiers``), and one per list of free texts (``surgery.notes`` ->
  ``surgery_notes``, one ``value`` column). Each row carries ``case_id``; list items with a
  ``key`` field (:class:`~fhir_ivc.model.ListItem`) have a ``key`` column too. Rows of one case
  keep their file order, which is the order of the list.
* a list of codes or numbers (``diagnosis.ivc_segments``, ``imaging.dimensions_cm``) is one
  cell, its values separated by ``;``.
* ``inferred``: one row per inferred marker, ``(case_id, table, item_key, field)``: the field
  (its dotted path inside a row of ``table``) of the row with that item key (empty for
  ``cases``) whose value is inferred.

Adding a field to the model adds its column; a test keeps docs/tables.md's example in step.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Final, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from fhir_ivc.model import Case, CaseModel, ListItem
from fhir_ivc.model.time import FhirDate, FhirDateOnly

__all__ = [
    "CASES",
    "CASE_ID",
    "INFERRED",
    "INFERRED_COLUMNS",
    "LIST_SEPARATOR",
    "Column",
    "ColumnKind",
    "Layout",
    "Table",
    "layout",
]

#: The key column of every table.
CASE_ID: Final = "case_id"
#: The table of one row per case.
CASES: Final = "cases"
#: The table of inferred markers.
INFERRED: Final = "inferred"
#: Its columns.
INFERRED_COLUMNS: Final = (CASE_ID, "table", "item_key", "field")
#: Separates the values of a list of codes or numbers in one cell.
LIST_SEPARATOR: Final = ";"

ColumnKind = Literal["text", "code", "integer", "number", "boolean", "date"]

#: Units named by a field's suffix (the model's naming rule: ``operative_time_min``).
_UNIT_SUFFIXES: Final = {
    "_cm": "cm",
    "_min": "min",
    "_ml": "mL",
    "_days": "d",
    "_years": "a",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column: a single-valued field (or a list of codes/numbers) inside a row."""

    name: str
    path: tuple[str, ...]
    kind: ColumnKind
    many: bool = False
    required: bool = False
    #: the optional object whose presence makes this field required (``surgery``)
    required_with: str | None = None
    allowed: tuple[str | int, ...] = ()
    unit: str | None = None
    bounds: str = ""
    description: str = ""

    #: a code whose values are integers (``fnclcc_grade``: 1, 2, 3)
    int_codes: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        int_codes = self.kind == "code" and any(isinstance(a, int) for a in self.allowed)
        object.__setattr__(self, "int_codes", int_codes)

    @property
    def required_text(self) -> str:
        if self.required:
            return "yes"
        return f"with {self.required_with}.*" if self.required_with else "no"

    @property
    def type_text(self) -> str:
        """``number``, ``list of code``: how the README names the column's type."""
        return f"list of {self.kind} (';'-separated)" if self.many else self.kind


@dataclass(frozen=True, slots=True)
class Table:
    """A table: ``cases`` (``field_path == ()``), a list of objects, or a list of free texts."""

    name: str
    field_path: tuple[str, ...]
    model: type[BaseModel] | None
    columns: tuple[Column, ...]
    keyed: bool = False
    #: field paths (inside a row) that may be named in ``inferred``, with the table each
    #: belongs to (a list field of a cases-row object belongs to its own table)
    inferable: frozenset[str] = frozenset()
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    @property
    def header(self) -> tuple[str, ...]:
        return (CASE_ID, *(c.name for c in self.columns))

    def column(self, name: str) -> Column | None:
        return self._by_name.get(name)


@dataclass(frozen=True)
class Layout:
    """Every table of the layout, ``cases`` first, ``inferred`` last (not in ``tables``)."""

    tables: tuple[Table, ...]
    by_name: dict[str, Table] = field(init=False, repr=False)
    by_path: dict[tuple[str, ...], Table] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {t.name: t for t in self.tables})
        object.__setattr__(self, "by_path", {t.field_path: t for t in self.tables})

    @property
    def cases(self) -> Table:
        return self.tables[0]

    @property
    def children(self) -> tuple[Table, ...]:
        return self.tables[1:]

    @property
    def names(self) -> tuple[str, ...]:
        """Every table name, ``inferred`` included."""
        return (*(t.name for t in self.tables), INFERRED)


# --- derivation -------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X`` and the metadata met on the way."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            metadata += list(annotation.__metadata__)
            annotation = annotation.__origin__
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"cannot lay out the union {annotation!r}")
            annotation = args[0]
        else:
            return annotation, metadata


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _list_item(annotation: Any) -> Any | None:
    """The item type of ``list[X]`` (unwrapped), else None."""
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return item
    return None


def _bounds(metadata: list[Any]) -> str:
    parts = []
    for item in metadata:
        inner = item.metadata if isinstance(item, FieldInfo) else [item]
        for constraint in inner:
            for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                value = getattr(constraint, attr, None)
                if isinstance(constraint, annotated_types.BaseMetadata) and value is not None:
                    parts.append(f"{sign} {value:g}")
    return ", ".join(parts)


def _scalar(annotation: Any, metadata: list[Any]) -> tuple[ColumnKind, tuple[str | int, ...]]:
    if any(getattr(m, "func", None) in _DATE_CHECKS for m in metadata):
        return "date", ()
    if typing.get_origin(annotation) is Literal:
        return "code", tuple(typing.get_args(annotation))
    kinds: dict[Any, ColumnKind] = {bool: "boolean", int: "integer", float: "number", str: "text"}
    if annotation in kinds:
        return kinds[annotation], ()
    raise TypeError(f"no column kind for {annotation!r}")


_DATE_CHECKS: Final = frozenset(
    m.func
    for alias in (FhirDate, FhirDateOnly)
    for m in typing.get_args(alias)[1:]
    if hasattr(m, "func")
)


def _unit(name: str) -> str | None:
    for suffix, unit in _UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            return unit
    return None


class _Walker:
    def __init__(self) -> None:
        self.tables: list[Table] = []

    def table(
        self, name: str, field_path: tuple[str, ...], model: type[BaseModel], top: bool
    ) -> None:
        columns: list[Column] = []
        inferable: set[str] = set()
        slot = len(self.tables)
        self.tables.append(Table(name, field_path, model, ()))  # keep cases first
        self._fields(model, (), field_path, columns, inferable, top=top, anchor=None)
        self.tables[slot] = Table(
            name,
            field_path,
            model,
            tuple(columns),
            keyed=issubclass(model, ListItem),
            inferable=frozenset(inferable),
        )

    def _fields(
        self,
        model: type[BaseModel],
        prefix: tuple[str, ...],
        case_path: tuple[str, ...],
        columns: list[Column],
        inferable: set[str],
        *,
        top: bool,
        anchor: str | None,
    ) -> None:
        for fname, info in model.model_fields.items():
            if fname == "inferred" and issubclass(model, CaseModel):
                continue
            path = (*prefix, fname)
            dotted = ".".join(path)
            if issubclass(model, CaseModel) and fname not in model._not_inferable:
                inferable.add(dotted)
            annotation, metadata = _unwrap(info.annotation)
            metadata += list(info.metadata)
            item = _list_item(annotation)
            if item is not None:
                item_type, item_meta = _unwrap(item)
                if _is_model(item_type) or item_type is str:
                    if not top:
                        raise TypeError(f"a list inside a list item ({dotted}) has no table")
                    self._child(".".join((*case_path, *path)), (*case_path, *path), item_type)
                    continue
                kind, allowed = _scalar(item_type, item_meta)
                columns.append(
                    Column(
                        dotted,
                        path,
                        kind,
                        many=True,
                        required=anchor is None and info.is_required(),
                        required_with=anchor if info.is_required() else None,
                        allowed=allowed,
                        unit=_unit(fname),
                        bounds=_bounds(item_meta),
                        description=info.description or "",
                    )
                )
            elif _is_model(annotation):
                self._fields(
                    annotation,
                    path,
                    case_path,
                    columns,
                    inferable,
                    top=top,
                    anchor=anchor if info.is_required() else dotted,
                )
            else:
                kind, allowed = _scalar(annotation, metadata)
                relative = path[-2:] == ("relative", "offset")
                unit = f"as in {dotted.removesuffix('.offset')}.unit" if relative else None
                columns.append(
                    Column(
                        dotted,
                        path,
                        kind,
                        required=anchor is None and info.is_required(),
                        required_with=anchor if info.is_required() else None,
                        allowed=allowed,
                        unit=unit or _unit(fname),
                        bounds=_bounds(metadata),
                        description=info.description or "",
                    )
                )

    def _child(self, dotted: str, field_path: tuple[str, ...], item_type: Any) -> None:
        name = dotted.replace(".", "_")
        if _is_model(item_type):
            self.table(name, field_path, item_type, top=False)
            return
        value = Column("value", (), "text", required=True, description="One text of the list.")
        self.tables.append(Table(name, field_path, None, (value,)))


@cache
def layout() -> Layout:
    """The layout of the current case model (computed once)."""
    walker = _Walker()
    walker.table(CASES, (), Case, top=True)
    tables = walker.tables
    names = [t.name for t in tables]
    if len(set(names)) != len(names) or INFERRED in names:
        raise TypeError(f"table names collide: {names}")
    cases = tables[0]
    tables[0] = Table(
        cases.name,
        (),
        Case,
        tuple(c for c in cases.columns if c.name != CASE_ID),
        inferable=cases.inferable,
    )
    return Layout(tuple(tables))


def iter_columns() -> Iterator[tuple[Table, Column]]:
    """Every ``(table, column)`` pair, in layout order (``case_id`` not included)."""
    for table in layout().tables:
        for column in table.columns:
            yield table, column
