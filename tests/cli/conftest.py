"""Fixtures of the CLI tests: a CliRunner, the seed cases, input files, a fake bundle builder.

``runner`` passes its :class:`~fhir_ivc.cli._services.Services` to every command as
``typer.Context.obj``; a fixture or test changes them with ``runner.use(...)`` (a fake server's
transport, a failing builder) instead of patching module globals. Most tests run the real
``fhir_ivc.bundle.build_bundles``; ``fake_builder`` replaces it where a test needs a mapping
failure or an invalid bundle on demand.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer import Typer
from typer.testing import CliRunner, Result

from fhir_ivc.cli._services import Services
from fhir_ivc.exceptions import MappingError
from fhir_ivc.model import Case

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"


class ServicesRunner(CliRunner):
    """A CliRunner that hands the test's services to the app: ``invoke(..., obj=services)``."""

    def __init__(self) -> None:
        super().__init__()
        self.services = Services()

    def use(self, **changes: Any) -> None:
        """Replace some services for the following invocations (``async_fhir_client=…``)."""
        self.services = dataclasses.replace(self.services, **changes)

    def invoke(  # type: ignore[override]
        self, app: Typer, args: str | Sequence[str] | None = None, **kwargs: Any
    ) -> Result:
        kwargs.setdefault("obj", self.services)
        return super().invoke(app, args, **kwargs)


@pytest.fixture
def runner() -> ServicesRunner:
    return ServicesRunner()


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
def fake_builder(runner: ServicesRunner) -> None:
    runner.use(build_bundles=fake_build_bundles)
