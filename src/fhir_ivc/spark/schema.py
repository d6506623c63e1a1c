"""The Spark schema of a case record, derived from ``fhir-ivc schema`` (the case model).

``spark.read.schema(case_schema()).json(path)`` reads case NDJSON into nested columns whose
names and types are the model's, instead of the types Spark would guess record by record (a
column that is absent in the first records, an integer where the model has a number).
Objects become structs, lists arrays, codes strings (or integers where the model's codes are
numbers), numbers doubles, dates strings (FHIR dates may be partial: ``2019-03``). Every field
is nullable: a missing required field is a reject of :func:`fhir_ivc.spark.map_cases`, not a
read error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import types as T

from fhir_ivc.io import case_json_schema

__all__ = ["case_schema"]

_SCALARS: dict[str, T.DataType] = {
    "string": T.StringType(),
    "integer": T.LongType(),
    "number": T.DoubleType(),
    "boolean": T.BooleanType(),
}


def case_schema() -> T.StructType:
    """The ``StructType`` of one case record (the top-level columns of a case DataFrame)."""
    schema = case_json_schema()
    result = _convert(schema, schema.get("$defs", {}), "")
    if not isinstance(result, T.StructType):  # pragma: no cover - the case schema is an object
        raise TypeError("the case schema is not an object")
    return result


def _convert(node: Mapping[str, Any], defs: Mapping[str, Any], where: str) -> T.DataType:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _convert(defs[ref.rsplit("/", 1)[-1]], defs, where)
    for key in ("anyOf", "oneOf"):
        options = [o for o in node.get(key, ()) if o.get("type") != "null"]
        if options:
            if len(options) != 1:
                raise TypeError(f"{where or 'case'}: a union has no Spark type")
            return _convert(options[0], defs, where)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return T.StructType(
            [
                T.StructField(name, _convert(prop, defs, f"{where}.{name}".lstrip(".")), True)
                for name, prop in node.get("properties", {}).items()
            ]
        )
    if kind == "array":
        return T.ArrayType(_convert(node.get("items", {}), defs, f"{where}[]"), True)
    if kind is None:  # an enum or a const without a type: the type of its values
        values = node.get("enum") or [node.get("const")]
        kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    if isinstance(kind, str) and kind in _SCALARS:
        return _SCALARS[kind]
    raise TypeError(f"{where or 'case'}: no Spark type for JSON schema type {kind!r}")
