"""The table layout follows the case model: every field has exactly one home."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_ivc.io import case_json_schema
from fhir_ivc.io.tables import layout, layout_text
from fhir_ivc.io.tables.layout import CASE_ID, CASES, INFERRED
from fhir_ivc.io.tables.template import readme_text
from fhir_ivc.model import Case


def test_the_repeated_groups_of_the_issue_each_have_a_table():
    names = set(layout().names)
    assert names >= {
        CASES,
        "imaging",
        "tumor_markers",
        "surgery_approach",
        "surgery_associated_resections",
        "surgery_ivc_management",
        "surgery_complications",
        "metastases",
        "systemic_therapy",
        "therapy_not_given",
        "follow_up",
        INFERRED,
    }


def test_every_top_level_field_is_a_column_prefix_or_a_table():
    lay = layout()
    columns = {c.name.split(".")[0] for c in lay.cases.columns} | {CASE_ID}
    tables = {t.field_path[0] for t in lay.children}
    for name in Case.model_fields:
        if name == "inferred":
            continue
        assert name in columns | tables, name
    # and the JSON Schema names the same top-level fields
    assert set(case_json_schema()["properties"]) == set(Case.model_fields)


@pytest.mark.parametrize("table", layout().tables, ids=lambda t: t.name)
def test_headers_are_unique_and_start_with_case_id(table):
    assert table.header[0] == CASE_ID
    assert len(set(table.header)) == len(table.header)
    assert ("key" in table.header) == table.keyed


def test_columns_carry_type_allowed_values_unit_and_bounds():
    cases = layout().cases
    sex = cases.column("patient.sex")
    assert sex is not None
    assert (sex.kind, sex.required, sex.allowed) == (
        "code",
        True,
        ("female", "male", "other", "unknown"),
    )
    blood = cases.column("surgery.blood_loss_ml")
    assert blood is not None
    assert (blood.kind, blood.unit, blood.bounds) == ("number", "mL", ">= 0, <= 50000")
    segments = cases.column("surgery.resected_segments")
    assert segments is not None
    assert segments.many
    assert segments.required_text == "with surgery.*"
    dims = layout().by_name["imaging"].column("dimensions_cm")
    assert dims is not None
    assert (dims.kind, dims.many, dims.unit) == ("number", True, "cm")
    assert layout().by_name["surgery_notes"].header == (CASE_ID, "value")


def test_layout_text_and_readme_name_every_column():
    text, readme = layout_text(), readme_text()
    for table in layout().tables:
        assert f"{table.name}: " in text
        assert f"## `{table.name}`" in readme
        for column in table.columns:
            assert f"  {column.name}: " in text
            assert f"| `{column.name}` |" in readme


def test_the_layout_excerpt_in_docs_tables_md_is_current():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "tables.md").read_text("utf-8")
    excerpt = docs.split("`fhir-ivc schema --tables` prints this for every table; its start:")[1]
    block = excerpt.split("```")[1].strip("\n")
    assert layout_text().startswith(block + "\n")
