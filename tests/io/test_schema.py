"""fhir_ivc.io.case_json_schema: the published schema accepts the seed cases."""

from __future__ import annotations

import copy

import jsonschema

from fhir_ivc.io import SCHEMA_ID, case_json_schema
from fhir_ivc.model import Case


def test_schema_has_id_title_and_dialect():
    schema = case_json_schema()
    assert list(schema)[:3] == ["$schema", "$id", "title"]
    assert schema["$id"] == SCHEMA_ID == "https://fhir-ivc.example.org/schema/case-1.0.json"
    assert schema["title"] == "fhir-ivc case record, schema 1.0"
    assert schema["additionalProperties"] is False
    assert {"case_id", "patient", "diagnosis"} <= set(schema["required"])
    assert schema["properties"] == Case.model_json_schema()["properties"]


def test_schema_validates_the_seed_cases(seed_records):
    validator = jsonschema.Draft202012Validator(case_json_schema())
    validator.check_schema(validator.schema)
    for record in seed_records:
        assert list(validator.iter_errors(record)) == []
    bad = copy.deepcopy(seed_records[0])
    bad["surgery"]["blood_loss_ml"] = -1
    bad["unknown"] = 1
    assert len(list(validator.iter_errors(bad))) == 2
