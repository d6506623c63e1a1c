"""``spark-submit`` with the wheel, as docs/spark.md "Running it on a cluster" says to run it.

The wheel is built from this checkout (``pip wheel --no-deps``), installed with pip into an
interpreter of its own (the executors' Python), and ``spark-submit --master local[2] --conf
spark.pyspark.python=THAT_PYTHON examples/spark_map_job.py`` maps case records with it, driver
and Python workers both running the installed wheel, not this source tree. Its bundles and
rejects must be the CLI's for the same records.

The one liberty taken: the interpreter gets the wheel's dependencies (pyspark, pydantic,
orjson...) from this test environment's site-packages through a ``.pth`` line instead of
downloading them again (``pip install 'fhir_ivc-…whl[spark]'`` does that on a real executor).
The line only puts that folder on the path; its ``.pth`` files (the editable install of this
checkout) are not run, so ``fhir_ivc`` comes from the wheel: the test checks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections import Counter
from pathlib import Path

import orjson

from fhir_ivc.testing import synthetic_cases

from .conftest import case_line, cli_map, write_ndjson

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "examples" / "spark_map_job.py"
SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")


#: seconds for one command: on the shared 2-core machine at load average 20-30 the whole test
#: took 9 min once, and spark-submit alone over 10 min once (beside another Spark session)
TIMEOUT = 1800


def _run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        **kwargs,
    )  # type: ignore[call-overload]
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr[-4000:]}"
    return result


def _executor_python(tmp: Path) -> Path:
    """Build the wheel and pip-install it (no deps) into a fresh interpreter; return it."""
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT])
    (wheel,) = dist.glob("fhir_ivc-*-py3-none-any.whl")
    env = tmp / "executor-env"
    _run([sys.executable, "-m", "venv", "--without-pip", env])
    python = env / "bin" / "python"
    purelib = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    # the dependencies, from this environment (see the module docstring)
    (purelib / "zz-test-dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    where = _run(
        [python, "-c", "import fhir_ivc.validation as v; print(v.__file__)"], cwd=tmp
    ).stdout.strip()
    assert Path(where).is_relative_to(purelib), where  # the wheel's copy, not src/
    return python


def test_spark_submit_with_the_installed_wheel_writes_the_clis_bundles(tmp_path: Path) -> None:
    records = [case_line(case) for case in synthetic_cases(30, seed=23)]
    bad = orjson.loads(records[5])
    bad["patient"]["sex"] = "not-a-sex"
    records.insert(7, orjson.dumps(bad).decode())
    records.insert(12, '{"case_id": "no-patient"}')
    cases = write_ndjson(tmp_path / "cases.ndjson", records)
    cli_bundles, cli_rejects = cli_map(cases, tmp_path / "cli.ndjson")
    assert len(cli_rejects) >= 2

    python = _executor_python(tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYSPARK_", "SPARK_", "PYTHON"))
    }
    # as in an activated venv: spark-submit finds its SPARK_HOME with the python3 on PATH
    env["PATH"] = f"{SPARK_SUBMIT.parent}{os.pathsep}{env.get('PATH', '')}"
    out = tmp_path / "out"
    result = _run(
        [
            SPARK_SUBMIT,
            "--master",
            "local[2]",
            "--conf",
            f"spark.pyspark.python={python}",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            "spark.ui.enabled=false",
            JOB,
            cases,
            out,
            "--partitions",
            "2",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert f"{len(cli_bundles)} bundles" in result.stdout

    parts = sorted((out / "bundles").glob("part-*"))
    assert len(parts) == 2  # both tasks mapped records
    bundles = [line for p in parts for line in p.read_text(encoding="utf-8").splitlines()]
    assert Counter(bundles) == Counter(cli_bundles)
    rejects = [
        orjson.loads(line)
        for p in sorted((out / "rejects").glob("part-*"))
        for line in p.read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(map(_key, rejects)) == sorted(map(_key, cli_rejects))


def _key(reject: dict[str, object]) -> tuple[str, str, str]:
    return str(reject["case_id"]), str(reject["path"]), str(reject["reason"])
