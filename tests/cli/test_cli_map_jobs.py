"""``fhir-ivc map -j N`` (issue 10): the same output, byte for byte and in the same order, as
``-j 1``, with rejects (a bad record, a duplicate id, a mapping error, an invalid bundle) among
good cases; and the parallel reader keeps a bounded window of records ahead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import fake_build_bundles

from fhir_ivc.cli._app import app
from fhir_ivc.cli._map_jobs import CHUNK, WINDOW_PER_JOB, Work, parallel_outcomes
from fhir_ivc.io import BundleKind, iter_case_records
from fhir_ivc.testing.synth import synthetic_cases

N_CASES = 12


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic cases with, among them, a broken line and a duplicate id."""
    path = tmp_path_factory.mktemp("jobs") / "cases.ndjson"
    lines = [case.model_dump_json() for case in synthetic_cases(N_CASES)]
    lines.insert(7, '{"case_id": "broken", "patient": 3}')
    lines.insert(10, lines[3])  # the same case again: rejected as a duplicate
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("target", ["--out", "--ndjson"])
def test_j2_output_is_byte_identical_to_j1(runner, cases_file, tmp_path, target) -> None:
    outputs = {}
    for jobs in ("1", "2"):
        where = tmp_path / f"j{jobs}"
        dest = where if target == "--out" else where / "bundles.ndjson"
        where.mkdir()
        result = runner.invoke(app, ["map", str(cases_file), target, str(dest), "-q", "-j", jobs])
        assert result.exit_code == 1, result.output  # the broken line and the duplicate
        outputs[jobs] = (_tree(where), result.stdout + result.stderr)
    assert outputs["1"] == outputs["2"]
    files, stdout = outputs["2"]
    assert "duplicate case_id" in stdout
    rejects = next(v for k, v in files.items() if k.endswith("rejects.ndjson"))
    rejected = [json.loads(line)["case_id"] for line in rejects.splitlines()]
    assert list(dict.fromkeys(rejected)) == ["broken", "synth-000003"]
    if target == "--ndjson":
        bundles = [json.loads(line) for line in files["bundles.ndjson"].splitlines()]
        assert [b["type"] for b in bundles] == ["transaction", "collection"] * N_CASES


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

    work = Work(fake_build_bundles, None, [BundleKind.TRANSACTION])
    jobs = 2
    window = CHUNK * (WINDOW_PER_JOB * jobs + 1)
    outcomes = parallel_outcomes(endless(), work, jobs)  # type: ignore[arg-type]
    for count, (record, done) in enumerate(itertools.islice(outcomes, 200), start=1):
        assert done is not None
        assert done.bundles is not None
        assert done.bundles.case_id == record.case.case_id  # type: ignore[union-attr]
        assert pulled <= count + window, (count, pulled)
    outcomes.close()  # the pool ends with the generator
