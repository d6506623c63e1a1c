"""Rewrite every golden of the mapping from the current mappers and rows, then test them.

    .venv/bin/python scripts/update_golden.py

Rewrites, through ``pytest --update-golden`` (the option lives in tests/mapping/conftest.py):
the golden bundles ``tests/data/<scenario>/expected/*.json`` (tests/mapping/test_golden.py) and
the validator suite's examples taken from the seed mapping, ``tests/validation/valid/*.json``
and the broken cases derived from the rows (tests/mapping/test_validation_examples.py); then
``examples/bundles/`` with ``fhir-ivc map``. It then runs the mapping suite against the new
files (the seed facts must still hold) and prints ``git diff --stat`` of what it rewrote: read
that diff before committing, it is the review of every change the mappers made to the FHIR.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_TESTS = ("tests/mapping/test_golden.py", "tests/mapping/test_validation_examples.py")
REWRITTEN = ("tests/data", "tests/validation/valid", "tests/validation/broken", "examples/bundles")


def _pytest(*args: str) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def _example_bundles() -> int:
    with tempfile.TemporaryDirectory() as tmp:  # the rejects file of a clean run is not kept
        command = [
            *(sys.executable, "-c", "from fhir_ivc.cli import main; main()"),
            *("map", "examples/cases/seed-cases.yaml"),
            *("--out", "examples/bundles", "--rejects", str(Path(tmp) / "rejects.ndjson")),
        ]
        return subprocess.run(command, cwd=ROOT, check=False).returncode


def main() -> int:
    status = _pytest(*GOLDEN_TESTS, "--update-golden") or _example_bundles()
    if status:
        return status
    status = _pytest("tests/mapping", "tests/test_examples.py")
    subprocess.run(["git", "diff", "--stat", "--", *REWRITTEN], cwd=ROOT, check=False)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
