"""Fixtures of the CLI tests: a CliRunner, the seed cases, input files, a fake bundle builder.

Most tests run the real ``fhir_ivc.bundle.build_bundles``; ``fake_builder`` replaces it where a
test needs a mapping failure or an invalid bundle on demand.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import fhir_ivc.bundle
from fhir_ivc.exceptions import MappingError
from fhir_ivc.model import Case

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def seed_records() -> list[dict[str, Any]]:
    return yaml.safe_load(SEED.read_text(encoding="utf-8"))


@pytest.fixture
def seed_file() -> Path:
    return SEED


@pytest.fixture
def write_ndjson(tmp_path) -> Callable[..., Path]:
    """Write records (dicts, or raw strings for broken lines) as an NDJSON file."""

    def write(records: list[Any], name: str = "cases.ndjson") -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("".join(line + "\n" for line in lines))
        return path

    return write


@dataclass(frozen=True)
class FakeBundles:
    case_id: str
    transaction: dict[str, Any]
    collection: dict[str, Any]
    sources: dict[str, str]


def fake_build_bundles(case: Case) -> FakeBundles:
    """Patient only. Case ids starting ``unmappable`` raise MappingError, ``invalid`` give a
    Patient with an element FHIR does not have."""
    if case.case_id.startswith("unmappable"):
        raise MappingError(
            "no code for this morphology", case_id=case.case_id, path="diagnosis.icdo3_morphology"
        )
    full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, case.source_system + '|' + case.case_id)}"
    patient: dict[str, Any] = {"resourceType": "Patient", "gender": case.patient.sex}
    if case.case_id.startswith("invalid"):
        patient["favouriteColour"] = "blue"
    request = {"method": "PUT", "url": f"Patient?identifier={case.case_id}"}
    return FakeBundles(
        case_id=case.case_id,
        transaction={
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"fullUrl": full_url, "resource": patient, "request": request}],
        },
        collection={
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": full_url, "resource": patient}],
        },
        sources={full_url: "patient"},
    )


@pytest.fixture
def fake_builder(monkeypatch) -> None:
    monkeypatch.setattr(fhir_ivc.bundle, "build_bundles", fake_build_bundles)
