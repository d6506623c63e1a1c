"""The examples/ folder: its script runs, and its bundles are what the adapter produces now."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhir_ivc.bundle import build_bundles
from fhir_ivc.model import Case

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_example_script_runs_and_reports_an_exact_round_trip():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "map_seed_cases.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("case-1: 30 resources")
    assert "read back equal: True" in lines[1]
    assert any(line.startswith("case-2: 43 resources") for line in lines)
    # the two facts the report implies for case 2 but does not state travel as markers
    case2 = result.stdout.split("case-2:")[1]
    assert "pathology.r_classification" in case2
    assert "surgery.ivc_management[0].graft_material" in case2


@pytest.mark.parametrize("case_id", ["case-1", "case-2"])
@pytest.mark.parametrize("kind", ["transaction", "collection"])
def test_example_bundles_are_current(case_id: str, kind: str):
    records = yaml.safe_load((EXAMPLES / "cases" / "seed-cases.yaml").read_text(encoding="utf-8"))
    case = Case.model_validate(next(r for r in records if r["case_id"] == case_id))
    expected = getattr(build_bundles(case), kind)
    shipped = json.loads((EXAMPLES / "bundles" / f"{case_id}.{kind}.json").read_text("utf-8"))
    assert shipped == expected, (
        f"examples/bundles/{case_id}.{kind}.json is stale: "
        "fhir-ivc map examples/cases/seed-cases.yaml --out examples/bundles"
    )
