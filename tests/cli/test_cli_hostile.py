"""Hostile input through the commands: map, push (cases and --prebuilt) and validate give a
REJECT or an issue naming file and line, never a traceback, and the good records go through."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.tables.conftest import SEED_TABLES

from fhir_ivc.cli._app import app

DEEP = "[" * 100_000 + "]" * 100_000

HOSTILE_LINES = [
    DEEP,
    '{"case_id": "dup", "case_id": "dup2"}',
    '{"case_id": "nan", "n": NaN}',
    '{"case_id": "big", "n": ' + "9" * 5000 + "}",
    '{"case_id": "nul\\u0000"}',
    '"just a string"',
    "{truncated",
]


def no_traceback(result: Any) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


@pytest.fixture
def hostile_cases(tmp_path, seed_records) -> Path:
    """The two seed cases around every hostile line of :data:`HOSTILE_LINES`."""
    path = tmp_path / "hostile.ndjson"
    lines = [json.dumps(seed_records[0]), *HOSTILE_LINES, json.dumps(seed_records[1])]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def rejects(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("REJECT")]


def test_map_rejects_each_hostile_line_and_maps_the_good_ones(runner, hostile_cases, tmp_path):
    result = runner.invoke(app, ["map", str(hostile_cases), "--out", str(tmp_path / "out")])
    no_traceback(result)
    assert result.exit_code == 1
    lines = rejects(result.stderr)
    assert len(lines) == len(HOSTILE_LINES)
    for number, line in enumerate(lines, start=2):
        assert f"({hostile_cases}:{number}" in line
    assert lines[0].endswith(f"nested deeper than 64 levels (--max-depth) ({hostile_cases}:2)")
    written = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert written == [f"case-{n}.{k}.json" for n in (1, 2) for k in ("collection", "transaction")]


def test_map_the_100000_deep_json_file_of_issue_12(runner, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    result = runner.invoke(app, ["map", str(path), "--out", str(tmp_path / "out")])
    no_traceback(result)
    assert result.exit_code == 1
    assert rejects(result.stderr) == [
        f"REJECT <no case_id>: nested deeper than 64 levels (--max-depth) ({path}:1)"
    ]


def test_map_limits_are_options(runner, seed_records, tmp_path):
    path = tmp_path / "cases.ndjson"
    path.write_text(json.dumps(seed_records[0]) + "\n" + json.dumps({"a": [[[[1]]]]}) + "\n")
    out = str(tmp_path / "out")
    small = runner.invoke(app, ["map", str(path), "--out", out, "--max-record-bytes", "100"])
    assert rejects(small.stderr)[0].startswith(
        "REJECT <no case_id>: a record over 100 bytes (--max-record-bytes)"
    )
    shallow = runner.invoke(app, ["map", str(path), "--out", out, "--max-depth", "4"])
    assert rejects(shallow.stderr)[-1].startswith("REJECT <no case_id> a[0][0][0]: nested deeper")
    wrong = runner.invoke(app, ["map", str(path), "--out", out, "--max-depth", "100000"])
    assert wrong.exit_code == 2
    assert "--max-depth" in wrong.stderr


def test_push_dry_run_rejects_the_hostile_lines(runner, hostile_cases):
    result = runner.invoke(app, ["push", str(hostile_cases), "--dry-run"])
    no_traceback(result)
    assert result.exit_code == 1
    assert len(rejects(result.stderr)) == len(HOSTILE_LINES)
    assert "case-1" in result.stdout
    assert "case-2" in result.stdout


def test_push_prebuilt_rejects_hostile_bundles(runner, seed_file, tmp_path):
    bundles = tmp_path / "bundles.ndjson"
    mapped = runner.invoke(
        app, ["map", str(seed_file), "--ndjson", str(bundles), "--kind", "transaction"]
    )
    assert mapped.exit_code == 0, mapped.output
    first, second = bundles.read_text().splitlines()
    hostile = tmp_path / "hostile.ndjson"
    hostile.write_text("\n".join([first, *HOSTILE_LINES, second]) + "\n")
    result = runner.invoke(app, ["push", str(hostile), "--prebuilt", "--dry-run"])
    no_traceback(result)
    assert result.exit_code == 1
    lines = rejects(result.stderr)
    assert len(lines) == len(HOSTILE_LINES)
    assert lines[0].endswith(f"nested deeper than 64 levels (--max-depth) ({hostile}:2)")
    assert "case-1" in result.stdout
    assert "case-2" in result.stdout


def test_validate_reports_hostile_documents_as_errors(runner, tmp_path):
    good = {"resourceType": "Basic", "code": {"text": "x"}}
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join([json.dumps(good), *HOSTILE_LINES, json.dumps(good)]) + "\n")
    result = runner.invoke(app, ["validate", str(path), "--severity", "error"])
    no_traceback(result)
    assert result.exit_code == 1
    errors = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in errors] == [
        f"{path}:{n}" for n in range(2, 2 + len(HOSTILE_LINES))
    ]
    assert errors[0] == (
        f"{path}:2: error: cannot be read: nested deeper than 64 levels (--max-depth)"
    )
    assert f"validated {len(HOSTILE_LINES) + 2} resource(s)" in result.stderr


def test_validate_a_utf16_file_is_one_clear_error(runner, tmp_path):
    path = tmp_path / "resource.json"
    path.write_bytes(json.dumps({"resourceType": "Basic"}).encode("utf-16"))
    result = runner.invoke(app, ["validate", str(path)])
    no_traceback(result)
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}: error: cannot be read: the file is UTF-16 text (byte order mark): "
        "save it as UTF-8\n"
    )


def test_map_takes_the_record_limit_for_case_tables(runner, tmp_path):
    # case-1 gets 400 more imaging rows (~25 kB); each seed case alone holds less than 8000 bytes
    tables = tmp_path / "tables"
    shutil.copytree(SEED_TABLES, tables)
    imaging = tables / "imaging.csv"
    header, *rows = imaging.read_text().splitlines()
    extra = [f"case-1,,ct,,abdomen,,,f{n:06d},,,," for n in range(400)]
    assert header.count(",") == extra[0].count(",")
    last_case_1 = max(i for i, r in enumerate(rows) if r.startswith("case-1,"))
    rows[last_case_1 + 1 : last_case_1 + 1] = extra
    imaging.write_text("\n".join([header, *rows]) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["map", str(tables), "--out", str(out), "--max-record-bytes", "8000"]
    )
    assert result.exit_code == 1
    (reject,) = [line for line in result.stderr.splitlines() if line.startswith("REJECT")]
    assert reject.startswith("REJECT case-1")
    assert "over 8000 bytes (--max-record-bytes" in reject
    assert sorted(p.name for p in out.glob("*.json")) == [
        "case-2.collection.json",
        "case-2.transaction.json",
    ]
