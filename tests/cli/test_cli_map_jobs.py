"""``fhir-ivc map -j N`` (issue 10): the same output, byte for byte and in the same order, as
``-j 1``, with rejects (broken lines, records the case model refuses, refused values, a
duplicate id, a mapping error, an invalid bundle) among good cases, for every input format;
the workers get records and send back bytes (no case or bundle crosses between processes);
and the parallel reader keeps a bounded window of records ahead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.conftest import SEED, fake_build_bundles

from fhir_ivc.bundle import CaseBundles
from fhir_ivc.cli._app import app
from fhir_ivc.cli._map_jobs import CHUNK, WINDOW_PER_JOB, Work, parallel_finished
from fhir_ivc.io import BundleEncoder, BundleKind, iter_case_records
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_cases

N_CASES = 12
TABLES = SEED.parent / "seed-tables"

#: lines every case reader refuses, each for its own reason (case id, field, problem)
BAD_LINES = [
    b'{"case_id": "broken", "patient": 3}',  # the case model: patient is not an object
    b'{"case_id": "half", "patient": {',  # broken JSON: the column is reported
    b"   ",  # blank: skipped, not a record
    b"[1, 2]",  # not an object
    b'{"case_id": "dup-key", "case_id": "dup-key"}',  # a duplicate key
    b'{"case_id": "ctl", "note": "a\\u0001b"}',  # a control character
    b'{"case_id": 17, "schema_version": "1.0"}',  # an int case id, missing fields
    b'{"case_id": "latin", "x": "caf\xe9"}',  # not UTF-8
    b'{"case_id": "big", "pad": "' + b"x" * 9000 + b'"}',  # over --max-record-bytes
]
#: (case id, line) of the records rejected from cases_file, in order
REJECTED = [
    ("broken", 3), (None, 4), (None, 6), (None, 7), ("ctl", 8), ("17", 9), (None, 10),
    (None, 11), ("robot", 15), ("synth-000000", 17),
]  # fmt: skip


@pytest.fixture(scope="module")
def synth_records() -> list[dict[str, Any]]:
    return [json.loads(case.model_dump_json()) for case in synthetic_cases(N_CASES)]


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory: pytest.TempPathFactory, synth_records) -> Path:
    """12 synthetic cases with, among them, BAD_LINES, a sex the case model does not have and
    the first case again (a duplicate id)."""
    path = tmp_path_factory.mktemp("jobs") / "cases.ndjson"
    good = [json.dumps(record).encode() for record in synth_records]
    robot = {**synth_records[5], "case_id": "robot"}
    robot["patient"] = {**robot["patient"], "sex": "robot"}
    lines = [*good[:2], *BAD_LINES, *good[2:5], json.dumps(robot).encode(), good[5], good[0]]
    lines += good[6:]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))}


def _run(
    runner, tmp_path: Path, args: list[str], jobs: str, target: str = "--ndjson", **kwargs: Any
):
    where = tmp_path / f"j{jobs}"
    where.mkdir()
    dest = where if target == "--out" else where / "bundles.ndjson"
    options = [target, str(dest), "-q", "-j", jobs, "--max-record-bytes", "8000"]
    result = runner.invoke(app, ["map", *args, *options], **kwargs)
    return result, (_tree(where), result.stdout + result.stderr)


@pytest.mark.parametrize(
    ("target", "kind"),
    [("--out", "both"), ("--ndjson", "both"), ("--ndjson", "collection"), ("--out", "transaction")],
)
def test_j2_output_is_byte_identical_to_j1(runner, cases_file, tmp_path, target, kind) -> None:
    outputs = {}
    for jobs in ("1", "2"):
        result, outputs[jobs] = _run(
            runner, tmp_path, [str(cases_file), "--kind", kind], jobs, target
        )
        assert result.exit_code == 1, result.output
    assert outputs["1"] == outputs["2"]
    files, output = outputs["2"]
    rejects = next(v for k, v in files.items() if k.endswith("rejects.ndjson"))
    rejected = [json.loads(line) for line in rejects.splitlines()]
    where = [(r["case_id"], int(r["source"].split(":")[1])) for r in rejected]
    assert list(dict.fromkeys(where)) == REJECTED
    problems = {(r["case_id"], r["path"]): r["reason"] for r in rejected}
    assert "(got 'robot')" in problems["robot", "patient.sex"]
    assert ("broken", "patient") in problems
    half = next(r for r in rejected if r["source"].split(":")[1] == "4")
    assert half["reason"].startswith("broken JSON")
    assert half["source"].count(":") == 2  # file:line:column
    assert "duplicate case_id" in output
    bundles = [name for name in files if "rejects" not in name]
    if target == "--ndjson":
        lines = files["bundles.ndjson"].splitlines()
        kinds = ["transaction", "collection"] if kind == "both" else [kind]
        assert [json.loads(line)["type"] for line in lines] == kinds * N_CASES
    else:
        assert len(bundles) == N_CASES * (2 if kind == "both" else 1)


@pytest.mark.parametrize("fmt", ["json", "yaml", "tables", "stdin", "mixed"])
def test_j2_is_byte_identical_on_every_input_format(runner, synth_records, tmp_path, fmt) -> None:
    """JSON arrays and YAML are decoded in the parent, tables assembled there: the workers get
    values or cases instead of lines, and the output is the same; standard input is NDJSON."""
    records: list[Any] = [*synth_records[:6], {"case_id": "broken", "patient": 3}, synth_records[1]]
    inputs: list[Path | str] = []
    stdin = "".join(json.dumps(record) + "\n" for record in records) + "{broken\n"
    if fmt == "stdin":
        inputs.append("-")
    if fmt in ("json", "mixed"):
        inputs.append(tmp_path / "cases.json")
        inputs[-1].write_text(json.dumps(records, indent=1), encoding="utf-8")
    if fmt in ("yaml", "mixed"):
        inputs.append(tmp_path / "cases.yaml")
        inputs[-1].write_text(yaml.safe_dump_all(records[::-1]), encoding="utf-8")
    if fmt in ("tables", "mixed"):
        inputs.append(TABLES)
    outputs = {}
    for jobs in ("1", "2"):
        result, outputs[jobs] = _run(runner, tmp_path, [str(p) for p in inputs], jobs, input=stdin)
        assert result.exit_code == (0 if fmt == "tables" else 1), result.output
    assert outputs["1"] == outputs["2"]
    assert outputs["2"][0]["bundles.ndjson"]


def test_j2_sends_records_out_and_bytes_back(runner, cases_file, tmp_path, monkeypatch) -> None:
    """NDJSON lines go to the workers undecoded and bundles come back serialised: a case or a
    bundle that had to be pickled (the parent reading records into cases, a worker sending its
    bundles back) fails the run."""

    def refuse(self: object, protocol: int) -> Any:
        raise TypeError(f"{type(self).__name__} crossed between processes")

    monkeypatch.setattr(Case, "__reduce_ex__", refuse)
    monkeypatch.setattr(CaseBundles, "__reduce_ex__", refuse)
    _, expected = _run(runner, tmp_path, [str(cases_file)], "1")
    result, output = _run(runner, tmp_path, [str(cases_file)], "2")
    assert result.exit_code == 1, result.output
    assert output == expected


def test_j2_with_mapping_errors_and_invalid_bundles(runner, seed_records, write_ndjson, tmp_path):
    """The fake builder's failures (MappingError, an invalid bundle) land in the same order."""
    runner.use(build_bundles=fake_build_bundles)
    records = []
    for i in range(30):
        prefix = ("unmappable", "invalid", "case")[i % 3]
        records.append({**seed_records[i % 2], "case_id": f"{prefix}-{i:02d}"})
    source = write_ndjson(records)
    outputs = []
    for jobs in ("1", "3"):
        out = tmp_path / f"j{jobs}"
        result = runner.invoke(app, ["map", str(source), "--out", str(out), "-q", "-j", jobs])
        assert result.exit_code == 1
        outputs.append((_tree(out), result.stdout + result.stderr))
    assert outputs[0] == outputs[1]
    assert outputs[0][1].count("REJECT") == 30  # 10 unmappable, 10 invalid x 2 bundles


def test_jobs_must_be_positive(runner, seed_file, tmp_path) -> None:
    result = runner.invoke(app, ["map", str(seed_file), "--out", str(tmp_path), "-j", "0"])
    assert result.exit_code == 2


def test_the_parallel_reader_reads_a_bounded_window_ahead(seed_file) -> None:
    seed = list(iter_case_records(seed_file))
    pulled = 0

    def endless() -> Iterator[object]:
        nonlocal pulled
        for record in itertools.cycle(seed):
            pulled += 1
            yield record

    kinds = (BundleKind.TRANSACTION,)
    work = Work(fake_build_bundles, None, kinds)
    jobs = 2
    window = CHUNK * (WINDOW_PER_JOB * jobs + 1)
    finished = parallel_finished(endless(), work, BundleEncoder(kinds), jobs)  # type: ignore[arg-type]
    ids = [record.case.case_id for record in seed]  # type: ignore[union-attr]
    for count, done in enumerate(itertools.islice(finished, 200), start=1):
        assert done.case_id == ids[(count - 1) % len(ids)]
        assert done.documents is not None
        assert json.loads(done.documents[0])["type"] == "transaction"
        assert pulled <= count + window, (count, pulled)
    finished.close()  # the pool ends with the generator
