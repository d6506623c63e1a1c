"""The HL7 validation engine over everything the adapter emits, run ONCE per test session.

Every test in this folder is marked ``java`` (a hook below). The session fixture
:func:`conformance` maps the seed cases and 200 synthetic cases with ``fhir-ivc map`` (both
bundle kinds), then runs ``scripts/fhir-validate`` a single time over all those bundles, the
broken-resource suite (tests/validation/broken/ and its valid bases), with profiles/ and a tarball
of the project package built by ``scripts/build_profiles.py --tgz`` loaded and checked. The JVM
starts once (~20 s); the whole run takes a few minutes on 2 cores (docs/conformance.md).

The fixture never skips: without Java, Maven or the pinned packages the tests fail with the
engine's message, as CI must.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fhir_ivc.testing.synth import synthetic_cases
from fhir_ivc.validation.hl7 import run_hl7_engine

from ._gaps import Found, classify

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED_CASES = ROOT / "examples" / "cases" / "seed-cases.yaml"
N_SYNTH = 200
BROKEN = ROOT / "tests" / "validation" / "broken"
VALID = ROOT / "tests" / "validation" / "valid"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every item of the session, not only this folder's: filter by path.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.java)


@dataclass
class ConformanceRun:
    report: dict[str, Any]
    found: list[Found]
    seed: list[Path]
    synth: list[Path]
    broken: dict[str, Path]
    valid: dict[str, Path]
    tgz: Path | None
    tgz_error: str
    seconds: float
    documents: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def emitted(self) -> list[Path]:
        return self.seed + self.synth

    def of(self, paths: list[Path]) -> list[Found]:
        wanted = {str(p) for p in paths}
        return [f for f in self.found if f.file in wanted]


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


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> ConformanceRun:
    work = tmp_path_factory.mktemp("conformance")
    cases = work / "synth-cases.ndjson"
    with cases.open("w", encoding="utf-8") as fh:
        for case in synthetic_cases(N_SYNTH):
            fh.write(case.model_dump_json() + "\n")
    seed = _map(SEED_CASES, work / "seed")
    synth = _map(cases, work / "synth")

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

    broken = {
        p.stem: p for p in sorted(BROKEN.glob("*.json")) if not p.name.endswith(".expected.json")
    }
    valid = {p.stem: p for p in sorted(VALID.glob("*.json"))}
    inputs = [*seed, *synth, *broken.values(), *valid.values()]
    extra = ["--check-package", str(tgz)] if tgz else []
    started = time.perf_counter()
    report = run_hl7_engine(inputs, extra_args=extra)
    seconds = time.perf_counter() - started
    documents = {str(p): json.loads(p.read_text(encoding="utf-8")) for p in inputs}
    found = classify(report, documents)
    return ConformanceRun(
        report, found, seed, synth, broken, valid, tgz, tgz_error, seconds, documents
    )
