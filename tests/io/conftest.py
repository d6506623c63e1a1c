"""Fixtures of the io tests: the seed cases as raw records, and writers of input files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


@pytest.fixture(scope="session")
def seed_records() -> list[dict[str, Any]]:
    """The two seed cases as plain dicts (what a JSON/YAML reader produces)."""
    records = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    assert [r["case_id"] for r in records] == ["case-1", "case-2"]
    return records


@pytest.fixture
def ndjson_text() -> Callable[[list[Any]], str]:
    def render(records: list[Any]) -> str:
        return "".join(json.dumps(r) + "\n" for r in records)

    return render
