"""One local Spark session for the whole test session (``local[2]``, loopback only, no UI).

The Python workers must run this interpreter (the one with fhir_ivc installed): Spark starts
``$PYSPARK_PYTHON`` for them, so it is set before the session is built. Also the CLI's output
on the same records, so every test compares against ``fhir-ivc map`` itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from fhir_ivc.cli._app import app
from fhir_ivc.model import Case


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("fhir-ivc-tests")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def case_line(case: Case) -> str:
    """A case record as one NDJSON line (the JSON of the model, defaults included)."""
    return case.model_dump_json(exclude_none=True)


def write_ndjson(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def cli_map(inputs: Path, out: Path, *args: str) -> tuple[list[str], list[dict[str, object]]]:
    """``fhir-ivc map INPUT --ndjson OUT ARGS``: its bundle lines and its rejects."""
    rejects = out.with_name(f"{out.stem}.rejects.ndjson")
    result = CliRunner().invoke(
        app, ["map", str(inputs), "--ndjson", str(out), "--rejects", str(rejects), "-q", *args]
    )
    assert result.exit_code in (0, 1), result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    return lines, [orjson.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
