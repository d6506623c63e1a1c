"""Case tables against the real HAPI FHIR server: push a folder of CSV tables, pull them back
with ``pull --tables``, and get the same files byte for byte.

The seed tables are copied with a source system of this test module (the server may be shared
and long-running: nothing else carries that system), so the pulled cases are exactly these.
"""

from __future__ import annotations

import shutil
import uuid

from typer.testing import CliRunner

from fhir_ivc.cli._app import app
from tests.tables.conftest import SEED_TABLES

SEED_SYSTEM = "https://fhir-ivc.example.org/fhir/sid/seed-report"


def test_push_tables_then_pull_tables_gives_the_same_files(fhir_base_url, tmp_path):
    system = f"https://fhir-ivc.example.org/fhir/sid/test-tables-{uuid.uuid4()}"
    tables = tmp_path / "tables"
    shutil.copytree(SEED_TABLES, tables)
    (tables / "README.md").unlink()
    cases = tables / "cases.csv"
    cases.write_text(cases.read_text(encoding="utf-8").replace(SEED_SYSTEM, system), "utf-8")
    runner = CliRunner()
    pushed = runner.invoke(app, ["push", str(tables), "--server", fhir_base_url])
    assert pushed.exit_code == 0, pushed.output
    again = runner.invoke(app, ["push", str(tables), "--server", fhir_base_url])
    assert again.exit_code == 0, again.output
    out = tmp_path / "pulled"
    pulled = runner.invoke(
        app,
        [
            "pull",
            "--server",
            fhir_base_url,
            "--identifier",
            f"{system}|case-1",
            "--identifier",
            f"{system}|case-2",
            "--concurrency",
            "1",
            "--tables",
            str(out),
        ],
    )
    assert pulled.exit_code == 0, pulled.output
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tables.iterdir())
    for path in tables.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name
