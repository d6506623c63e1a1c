"""The JSON Schema of the case input format (what ``fhir-ivc schema`` prints)."""

from __future__ import annotations

from typing import Any, Final

from fhir_ivc.model import SCHEMA_VERSION, Case

__all__ = ["SCHEMA_ID", "case_json_schema"]

#: ``$id`` of the schema: one per case schema version.
SCHEMA_ID: Final = f"https://fhir-ivc.example.org/schema/case-{SCHEMA_VERSION}.json"
_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def case_json_schema() -> dict[str, Any]:
    """``Case.model_json_schema()`` (validation mode) with ``$schema``, ``$id`` and a title."""
    schema = Case.model_json_schema()
    return {
        "$schema": _DIALECT,
        "$id": SCHEMA_ID,
        "title": f"fhir-ivc case record, schema {SCHEMA_VERSION}",
        **{key: value for key, value in schema.items() if key != "title"},
    }
