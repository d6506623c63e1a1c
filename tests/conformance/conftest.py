"""The HL7 validation engine over everything the adapter emits, run ONCE per test session.

Every test in this folder is marked ``java`` (a hook below). The session fixture
:func:`conformance` makes the inputs of every group in :data:`INPUT_GROUPS` (the seed cases and
200 synthetic cases mapped by ``fhir-ivc map``, both bundle kinds; the broken-resource suite and
its valid bases; the mutation suite of tests/validation/_mutants.py; third-party data: the mCODE
and US Core 6.1.0 examples; the emitted Patients claiming US Core's patient profile), then
runs ``scripts/fhir-validate`` a single time over all of them, with the full package chain
(scripts/fhir-packages), profiles/ and a tarball of the project package built by
``scripts/build_profiles.py --tgz`` loaded and checked.

To add inputs to the same engine run (as the mutation suite does), add one producer to
:data:`INPUT_GROUPS`: ``name -> function(work_dir) -> [files]``; the test reads its results with
``conformance.of(conformance.group("name"))``.

``FHIR_IVC_CONFORMANCE_REPORT=FILE`` keeps the engine's raw JSON report in FILE.

The fixture never skips: without Java, Maven or a pinned package the tests fail with the
resolver's or the engine's message, as CI must.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fhir_ivc.testing.synth import synthetic_cases
from fhir_ivc.validation.hl7 import run_hl7_engine
from tests._fhir_packages import example_files, package_tarball
from tests.validation import _mutants as mutation_suite

from ._found import Found, collect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED_CASES = ROOT / "examples" / "cases" / "seed-cases.yaml"
N_SYNTH = 200
BROKEN = ROOT / "tests" / "validation" / "broken"
VALID = ROOT / "tests" / "validation" / "valid"
MCODE_EXAMPLES = ROOT / "tests" / "data" / "mcode-examples"
US_CORE_PATIENT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"
#: what US Core 6.1.0 requires of every Patient (min 1); the controls leave each out in turn
US_CORE_PATIENT_REQUIRED = ("identifier", "name", "gender")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every item of the session, not only this folder's: filter by path.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.java)


def _fhir_ivc(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "fhir-ivc"
    cmd = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from fhir_ivc.cli import main; main()"]
    )
    return subprocess.run([*cmd, *args], capture_output=True, text=True, check=False, timeout=600)


def _map(inputs: Path, out: Path) -> list[Path]:
    proc = _fhir_ivc("map", str(inputs), "--out", str(out), "--no-validate", "--quiet")
    assert proc.returncode == 0, f"fhir-ivc map {inputs.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return sorted(out.glob("*.json"))


def _seed(work: Path) -> list[Path]:
    return _map(SEED_CASES, work / "seed")


def _synth(work: Path) -> list[Path]:
    cases = work / "synth-cases.ndjson"
    with cases.open("w", encoding="utf-8") as fh:
        for case in synthetic_cases(N_SYNTH):
            fh.write(case.model_dump_json() + "\n")
    return _map(cases, work / "synth")


def _broken(work: Path) -> list[Path]:
    return [p for p in sorted(BROKEN.glob("*.json")) if not p.name.endswith(".expected.json")]


def _valid(work: Path) -> list[Path]:
    return sorted(VALID.glob("*.json"))


def _mcode_examples(work: Path) -> list[Path]:
    return sorted(MCODE_EXAMPLES.glob("*.json"))


def _us_core_examples(work: Path) -> list[Path]:
    return example_files(package_tarball("hl7.fhir.us.core"), work / "us-core-examples")


def _us_core_patients(work: Path) -> list[Path]:
    """Every emitted Patient (of the collection bundles), claiming US Core's patient profile
    itself instead of mCODE's CancerPatient: one NDJSON file, a Patient per line. A second file
    holds the controls: the first of them without ``name``, without ``gender``, without
    ``identifier`` (each must be an error, or the check proves nothing)."""
    patients = []
    for bundle in sorted((work / "seed").glob("*.collection.json")) + sorted(
        (work / "synth").glob("*.collection.json")
    ):
        for entry in json.loads(bundle.read_text(encoding="utf-8"))["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Patient":
                patients.append({**resource, "meta": {"profile": [US_CORE_PATIENT]}})
    out = work / "us-core-patients.ndjson"
    out.write_text("".join(json.dumps(p) + "\n" for p in patients), encoding="utf-8")
    controls = work / "us-core-patient-controls.ndjson"
    lines = []
    for element in US_CORE_PATIENT_REQUIRED:
        lines.append(json.dumps({k: v for k, v in patients[0].items() if k != element}) + "\n")
    controls.write_text("".join(lines), encoding="utf-8")
    return [out, controls]


def _mutants(work: Path) -> list[Path]:
    """The mutation suite (tests/validation/_mutants.py): one bundle file per mutant."""
    return mutation_suite.write(work / "mutants")


#: The inputs of the one engine run, by group, made in this order (us-core-patients reads the
#: bundles of seed and synth). Extend here; the test reads ``conformance.group(name)``.
INPUT_GROUPS: dict[str, Callable[[Path], list[Path]]] = {
    "seed": _seed,
    "synth": _synth,
    "broken": _broken,
    "valid": _valid,
    "mcode-examples": _mcode_examples,
    "us-core-examples": _us_core_examples,
    "us-core-patients": _us_core_patients,
    "mutants": _mutants,
}


@dataclass
class ConformanceRun:
    report: dict[str, Any]
    found: list[Found]
    groups: dict[str, list[Path]]
    tgz: Path | None
    tgz_error: str
    seconds: float
    documents: dict[str, Any] = field(repr=False, default_factory=dict)

    def group(self, name: str) -> list[Path]:
        return self.groups[name]

    @property
    def seed(self) -> list[Path]:
        return self.groups["seed"]

    @property
    def synth(self) -> list[Path]:
        return self.groups["synth"]

    @property
    def emitted(self) -> list[Path]:
        return self.seed + self.synth

    @property
    def broken(self) -> dict[str, Path]:
        return {p.stem: p for p in self.groups["broken"]}

    @property
    def valid(self) -> dict[str, Path]:
        return {p.stem: p for p in self.groups["valid"]}

    def of(self, paths: list[Path]) -> list[Found]:
        wanted = {str(p) for p in paths}
        return [f for f in self.found if f.file in wanted]


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> ConformanceRun:
    work = tmp_path_factory.mktemp("conformance")
    groups = {name: make(work) for name, make in INPUT_GROUPS.items()}

    tgz: Path | None = work / "fhir-ivc.tgz"
    build = subprocess.run(  # --check: never rewrite profiles/, only pack the tarball
        [sys.executable, str(ROOT / "scripts" / "build_profiles.py"), "--check", "--tgz", str(tgz)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    tgz_error = "" if build.returncode == 0 and tgz.is_file() else build.stdout + build.stderr
    if tgz_error:
        tgz = None

    inputs = [p for paths in groups.values() for p in paths]
    extra = ["--check-package", str(tgz)] if tgz else []
    started = time.perf_counter()
    report = run_hl7_engine(inputs, extra_args=extra)
    seconds = time.perf_counter() - started
    if os.environ.get("FHIR_IVC_CONFORMANCE_REPORT"):  # keep the raw report, for a person
        Path(os.environ["FHIR_IVC_CONFORMANCE_REPORT"]).write_text(json.dumps(report), "utf-8")
    documents = {
        str(p): json.loads(p.read_text(encoding="utf-8")) for p in inputs if p.suffix == ".json"
    }
    return ConformanceRun(report, collect(report), groups, tgz, tgz_error, seconds, documents)
