"""Rewrite the golden bundles (``tests/data/<scenario>/expected/*.json``) from the current mappers.

    .venv/bin/python scripts/update_golden.py

Runs ``pytest tests/mapping/test_golden.py --update-golden`` (the option lives in
tests/mapping/conftest.py), then the whole mapping suite against the new files (the seed facts
must still hold), and prints ``git diff --stat`` of tests/data: read that diff before committing,
it is the review of every change the mappers made to the emitted FHIR.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main() -> int:
    status = _pytest("tests/mapping/test_golden.py", "--update-golden")
    if status:
        return status
    status = _pytest("tests/mapping")
    subprocess.run(["git", "diff", "--stat", "--", "tests/data"], cwd=ROOT, check=False)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
