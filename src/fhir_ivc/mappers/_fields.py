"""Walk the case model's fields as dotted paths (``surgery.ivc_management[].method``)."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from fhir_ivc.model import TimePoint

__all__ = ["field_paths"]

_BOOKKEEPING = frozenset({"inferred", "key", "schema_version"})


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(innermost type, whether a list was crossed) of an annotation."""
    is_list = False
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        elif origin is list:
            is_list = True
            tp = typing.get_args(tp)[0]
        else:
            return tp, is_list


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every clinical field of ``model``; time points are one element, not three."""
    for name, info in model.model_fields.items():
        if name in _BOOKKEEPING:
            continue
        tp, is_list = _unwrap(info.annotation)
        path = f"{prefix}{name}{'[]' if is_list else ''}"
        if isinstance(tp, type) and issubclass(tp, BaseModel) and tp is not TimePoint:
            yield from field_paths(tp, f"{path}.")
        else:
            yield path
