"""The commands with case tables: map, validate, schema --tables/--template, pull --tables.

push reads tables through the same reader as map (``iter_inputs``); it is run against HAPI in
tests/integration/test_tables.py, with pull --tables.
"""

from __future__ import annotations

import json
import shutil

from tests.cli.test_cli_pull import originals, server  # noqa: F401 - the fake server fixtures
from tests.exchange.test_pull import SYSTEM
from tests.tables.conftest import SEED_TABLES, SEED_YAML
from tests.tables.test_roundtrip import _cases

from fhir_ivc.cli._app import app
from fhir_ivc.io.tables import layout


def _plain(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_map_of_the_seed_tables_writes_the_yaml_bundles(runner, tmp_path):
    from_yaml = runner.invoke(app, ["map", str(SEED_YAML), "--out", str(tmp_path / "yaml")])
    archive = shutil.make_archive(str(tmp_path / "seed"), "zip", SEED_TABLES)
    for source, out in ((SEED_TABLES, "csv"), (archive, "zip")):
        result = runner.invoke(app, ["map", str(source), "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        assert "mapped 2 cases, rejected 0" in result.stderr
        for bundle in (tmp_path / "yaml").glob("*.json"):
            assert (tmp_path / out / bundle.name).read_bytes() == bundle.read_bytes()
    assert from_yaml.exit_code == 0


def test_map_of_bad_tables_exits_1_and_names_table_row_column_and_case(runner, tmp_path):
    tables = tmp_path / "tables"
    shutil.copytree(SEED_TABLES, tables)
    path = tables / "surgery_complications.csv"
    path.write_text(path.read_text().replace("hematoma,", "haematoma,", 1))
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(tables), "--out", str(out)])
    assert result.exit_code == 1
    line = next(x for x in result.stderr.splitlines() if x.startswith("REJECT"))
    assert line.startswith(
        "REJECT case-2 surgery.complications[0].kind: surgery_complications.csv:2, column kind: "
        "Input should be"
    )
    assert f"(got 'haematoma') ({tables / 'cases.csv'}:3)" in line
    assert (out / "case-1.transaction.json").is_file()
    assert not (out / "case-2.transaction.json").exists()
    (reject,) = [json.loads(x) for x in (out / "rejects.ndjson").read_text().splitlines()]
    assert reject["case_id"] == "case-2"
    assert reject["source"] == f"{tables / 'cases.csv'}:3"


def test_a_folder_without_tables_exits_2(runner, tmp_path):
    result = runner.invoke(app, ["map", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "without cases.csv or cases.parquet" in _plain(result.stderr)


def test_validate_reads_the_cases_of_tables(runner, tmp_path):
    ok = runner.invoke(app, ["validate", str(SEED_TABLES), "--severity", "error"])
    assert ok.exit_code == 0, ok.output
    assert "validated 4 resource(s) in 1 file(s) offline: 0 error(s)" in ok.stderr
    tables = tmp_path / "tables"
    shutil.copytree(SEED_TABLES, tables)
    cases = tables / "cases.csv"
    cases.write_text(cases.read_text().replace(",female,", ",feminine,", 1))
    bad = runner.invoke(app, ["validate", str(tables)])
    assert bad.exit_code == 1
    assert f"{cases}:2: error: case table: case 'case-1' at patient.sex: cases.csv:2, " in (
        bad.stdout
    )
    assert "validated 3 resource(s)" in bad.stderr


def test_schema_tables_prints_the_layout(runner):
    result = runner.invoke(app, ["schema", "--tables"])
    assert result.exit_code == 0
    assert result.stdout.startswith("cases: one row per case\n  case_id: text; required yes\n")
    assert "surgery_ivc_management: one row per item of `surgery.ivc_management`" in result.stdout


def test_schema_template_writes_empty_tables_and_a_readme(runner, tmp_path):
    result = runner.invoke(app, ["schema", "--template", str(tmp_path / "tpl")])
    assert result.exit_code == 0, result.output
    files = {p.name for p in (tmp_path / "tpl").iterdir()}
    assert files == {f"{name}.csv" for name in layout().names} | {"README.md"}
    header = (tmp_path / "tpl" / "imaging.csv").read_text()
    assert header == ",".join(layout().by_name["imaging"].header) + "\n"
    readme = (tmp_path / "tpl" / "README.md").read_text()
    assert "| `surgery.blood_loss_ml` | number | no |  | mL | >= 0, <= 50000 |" in readme
    # the empty tables are a valid input: no cases
    mapped = runner.invoke(app, ["map", str(tmp_path / "tpl"), "--out", str(tmp_path / "o")])
    assert mapped.exit_code == 0
    assert "mapped 0 cases" in mapped.stderr


def test_pull_tables_writes_the_cases_as_tables(runner, tmp_path, server, originals):  # noqa: F811
    out = tmp_path / "pulled"
    result = runner.invoke(
        app, ["pull", "--server", "http://fhir.test/fhir", "--system", SYSTEM, "--tables", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"cases in {out}" in result.stderr
    assert sorted(_cases(out), key=lambda c: c.case_id) == originals
    assert not (out / "loss-report.ndjson").exists()  # only --out/--ndjson put it beside


def test_pull_tables_alone_is_something_to_write(runner):
    result = runner.invoke(app, ["pull", "--server", "http://fhir.test/fhir", "--system", SYSTEM])
    assert result.exit_code == 2
    assert "--tables" in _plain(result.stderr)


def test_push_prebuilt_refuses_a_folder_of_tables(runner):
    result = runner.invoke(
        app, ["push", "--prebuilt", str(SEED_TABLES), "--server", "http://fhir.test/fhir"]
    )
    assert result.exit_code == 2
    assert "is a directory." in _plain(result.stderr)
