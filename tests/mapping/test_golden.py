"""Golden bundles: ``tests/data/<scenario>/input/case.json`` -> ``expected/<kind>.json``.

Compared as parsed JSON, never as bytes. Identifiers and uuids are uuid5 values derived from
(source system, case id, element key) and no bundle carries a timestamp, so nothing needs
freezing. ``pytest tests/mapping --update-golden`` rewrites the expected files; read the diff
before committing it (the facts it must keep are spelled out in test_seed_facts.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhir_ivc.bundle import build_bundles

from ._fhir import DATA, load_case

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"
SCENARIOS = sorted(p.parents[1] for p in DATA.glob("*/*/input/case.json"))
KINDS = ("transaction", "collection")


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _diff(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Paths where two JSON values differ (the first few, for a readable failure)."""
    if type(expected) is not type(actual):
        return [f"{path}: {type(expected).__name__} != {type(actual).__name__}"]
    if isinstance(expected, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            elif key not in expected:
                out.append(f"{path}.{key}: unexpected")
            else:
                out += _diff(expected[key], actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list):
        out = [f"{path}: length {len(expected)} != {len(actual)}"] * (len(expected) != len(actual))
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            out += _diff(e, a, f"{path}[{i}]")
        return out
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]


def test_there_are_golden_scenarios() -> None:
    assert {p.parent.name + "/" + p.name for p in SCENARIOS} >= {"seed/case-1", "seed/case-2"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("kind", KINDS)
def test_golden_bundle(scenario: Path, kind: str, update_golden: bool) -> None:
    bundles = build_bundles(load_case(scenario / "input" / "case.json"))
    actual = json.loads(json.dumps(getattr(bundles, kind)))  # tuples -> lists, as on the wire
    expected_path = scenario / "expected" / f"{kind}.json"
    if update_golden:
        expected_path.parent.mkdir(parents=True, exist_ok=True)
        expected_path.write_text(_dump(actual), encoding="utf-8")
        return
    assert expected_path.exists(), f"no golden file {expected_path}; run with --update-golden"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    differences = _diff(expected, actual)
    assert not differences, (
        f"{expected_path.relative_to(DATA)} differs ({len(differences)}):\n"
        + "\n".join(differences[:25])
    )


@pytest.mark.parametrize("case_id", ["case-1", "case-2"])
def test_seed_inputs_are_the_example_records(case_id: str) -> None:
    """The golden inputs are the records of examples/cases/seed-cases.yaml, not a drifted copy."""
    with EXAMPLES.open(encoding="utf-8") as f:
        records = {r["case_id"]: r for r in yaml.safe_load(f)}
    golden = json.loads((DATA / "seed" / case_id / "input" / "case.json").read_text("utf-8"))
    assert golden == records[case_id]


def test_diff_reports_changed_paths() -> None:
    """The comparison helper itself: it must see a change deep inside a bundle."""
    a = {"entry": [{"resource": {"valueQuantity": {"value": 300}}}]}
    b = {"entry": [{"resource": {"valueQuantity": {"value": 301}}}]}
    assert _diff(a, b) == ["$.entry[0].resource.valueQuantity.value: 300 != 301"]
    assert _diff(a, a) == []
    assert _diff({"x": 1}, {"x": 1.5}) == ["$.x: int != float"]
    assert _diff([1], [1, 2]) == ["$: length 1 != 2"]
