"""``fhir-ivc --version`` and ``fhir-ivc schema``."""

from __future__ import annotations

import json

import jsonschema

from fhir_ivc import __version__
from fhir_ivc.cli._app import app
from fhir_ivc.io import SCHEMA_ID, case_json_schema


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"fhir-ivc {__version__}\n"


def test_no_arguments_shows_help(runner):
    result = runner.invoke(app, [])
    assert "map" in result.output
    assert "schema" in result.output


def test_schema_to_stdout_validates_the_seed_cases(runner, seed_records):
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == case_json_schema()
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"].startswith("fhir-ivc case record")
    validator = jsonschema.Draft202012Validator(schema)
    for record in seed_records:
        validator.validate(record)


def test_schema_to_a_file(runner, tmp_path):
    target = tmp_path / "case.schema.json"
    result = runner.invoke(app, ["schema", "--out", str(target)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text()) == case_json_schema()
    assert target.read_bytes() == runner.invoke(app, ["schema"]).stdout.encode()


def test_schema_into_a_missing_folder(runner, tmp_path):
    result = runner.invoke(app, ["schema", "--out", str(tmp_path / "no" / "such.json")])
    assert result.exit_code == 2
    assert result.stderr.startswith("fhir-ivc: error: ")
