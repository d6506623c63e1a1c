"""examples/cases/seed-tables/ is what scripts/build_case_tables.py makes of the seed YAML."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from types import ModuleType

from tests.tables.conftest import ROOT, SEED_TABLES

SCRIPT = ROOT / "scripts" / "build_case_tables.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_case_tables", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_seed_tables_are_current():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr + "\nrun: python scripts/build_case_tables.py"


def test_the_check_finds_a_changed_missing_or_extra_file(tmp_path):
    folder = tmp_path / "seed-tables"
    shutil.copytree(SEED_TABLES, folder)
    script = _script()
    assert script.stale(folder) == []
    (folder / "imaging.csv").write_text("case_id\n")
    (folder / "metastases.csv").unlink()
    (folder / "extra.csv").write_text("")
    assert script.stale(folder) == ["extra.csv", "imaging.csv", "metastases.csv"]
