"""``fhir-ivc map``: formats, outputs, rejects, exit codes, summary, re-runs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from tests.cli.conftest import fake_build_bundles

from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._app import app
from fhir_ivc.cli._exit import EXIT_CODES, CliExit, ExitCode, exit_code_for
from fhir_ivc.cli._map_run import MapRun
from fhir_ivc.cli._output import Reporter, reject_line
from fhir_ivc.exceptions import (
    CaseInputError,
    ConfigError,
    FhirIvcError,
    MappingError,
    TransportError,
    UnmappedCodeError,
)
from fhir_ivc.io import BundleKind, iter_case_records
from fhir_ivc.model import Case

SUMMARY = re.compile(
    r"^mapped (\d+) cases?, rejected (\d+), wrote (\d+) bundles? to (.+) in \d+\.\d\d s(; .*)?$"
)


def summary(stderr: str) -> tuple[int, int, int, str]:
    last = stderr.strip().splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, last
    return int(match[1]), int(match[2]), int(match[3]), match[4]


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def plain(text: str) -> str:
    """Terminal text without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def rejects_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the happy path, with the real bundle builder ---------------------------------------------


def test_map_seed_cases_to_a_folder(runner, seed_file, tmp_path):
    out = tmp_path / "out" / "bundles"
    result = runner.invoke(app, ["map", str(seed_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert summary(result.stderr) == (2, 0, 4, str(out))
    assert sorted(tree(out)) == [
        "case-1.collection.json",
        "case-1.transaction.json",
        "case-2.collection.json",
        "case-2.transaction.json",
        "rejects.ndjson",
    ]
    assert (out / "rejects.ndjson").read_bytes() == b""
    transaction = json.loads((out / "case-1.transaction.json").read_text())
    collection = json.loads((out / "case-2.collection.json").read_text())
    assert (transaction["type"], collection["type"]) == ("transaction", "collection")


def test_rerun_into_the_same_folder_gives_identical_files(runner, seed_file, tmp_path):
    args = ["map", str(seed_file), "--out", str(tmp_path), "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    first = tree(tmp_path)
    assert runner.invoke(app, args).exit_code == 0
    assert tree(tmp_path) == first


@pytest.mark.parametrize(
    ("kind", "suffixes"),
    [("transaction", ["transaction"]), ("collection", ["collection"])],
)
def test_kind_selects_the_bundles(runner, seed_file, tmp_path, kind, suffixes):
    result = runner.invoke(app, ["map", str(seed_file), "-o", str(tmp_path), "--kind", kind])
    assert result.exit_code == 0
    names = [n for n in tree(tmp_path) if n != "rejects.ndjson"]
    assert names == [f"case-{i}.{s}.json" for i in (1, 2) for s in suffixes]
    assert summary(result.stderr)[2] == 2


def test_map_to_one_ndjson_file(runner, seed_file, tmp_path):
    target = tmp_path / "bundles.ndjson"
    result = runner.invoke(app, ["map", str(seed_file), "--ndjson", str(target)])
    assert result.exit_code == 0, result.output
    bundles = [json.loads(line) for line in target.read_text().splitlines()]
    assert [b["type"] for b in bundles] == ["transaction", "collection"] * 2
    assert (tmp_path / "bundles.rejects.ndjson").read_bytes() == b""
    assert summary(result.stderr) == (2, 0, 4, str(target))


def test_map_to_stdout(runner, seed_file):
    result = runner.invoke(
        app, ["map", str(seed_file), "--ndjson", "-", "--kind", "collection", "--no-validate"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["collection", "collection"]
    assert summary(result.stderr)[:3] == (2, 0, 2)


def test_every_input_format(runner, seed_records, tmp_path, fake_builder):
    one, two = seed_records
    (tmp_path / "a.json").write_text(json.dumps(one))
    (tmp_path / "b.json").write_text(
        json.dumps([dict(two, case_id="b-1"), dict(two, case_id="b-2")])
    )
    (tmp_path / "c.jsonl").write_text(json.dumps(dict(one, case_id="c-1")) + "\n")
    (tmp_path / "d.yaml").write_text(
        "---\n"
        + yaml.safe_dump(dict(one, case_id="d-1"))
        + "---\n"
        + yaml.safe_dump(dict(two, case_id="d-2"))
    )
    (tmp_path / "e.yml").write_text(yaml.safe_dump([dict(one, case_id="e-1")]))
    inputs = [str(tmp_path / n) for n in ("a.json", "b.json", "c.jsonl", "d.yaml", "e.yml")]
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", *inputs, "--out", str(out), "--kind", "collection"])
    assert result.exit_code == 0, result.output
    written = sorted(n.split(".")[0] for n in tree(out) if n != "rejects.ndjson")
    assert written == ["b-1", "b-2", "c-1", "case-1", "d-1", "d-2", "e-1"]


def test_stdin(runner, seed_records, tmp_path, fake_builder):
    text = "".join(json.dumps(r) + "\n" for r in seed_records)
    result = runner.invoke(app, ["map", "-", "--out", str(tmp_path)], input=text)
    assert result.exit_code == 0, result.output
    assert summary(result.stderr)[:3] == (2, 0, 4)


# --- rejects ----------------------------------------------------------------------------------


def test_broken_ndjson_line_among_good_lines(runner, seed_records, write_ndjson, tmp_path):
    bad = copy.deepcopy(seed_records[1])
    bad["case_id"] = "case-7"
    bad["surgery"]["blood_loss_ml"] = -10
    source = write_ndjson([seed_records[0], "{not json", bad, seed_records[1]])
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(source), "--out", str(out)])
    assert result.exit_code == 1
    assert sorted(tree(out)) == [
        "case-1.collection.json",
        "case-1.transaction.json",
        "case-2.collection.json",
        "case-2.transaction.json",
        "rejects.ndjson",
    ]
    assert rejects_of(out / "rejects.ndjson") == [
        {
            "case_id": None,
            "path": "",
            "reason": "broken JSON: Expecting property name enclosed in double quotes",
            "source": f"{source}:2:2",
        },
        {
            "case_id": "case-7",
            "path": "surgery.blood_loss_ml",
            "reason": "Input should be greater than or equal to 0",
            "source": f"{source}:3",
        },
    ]
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"REJECT <no case_id>: broken JSON: Expecting property name enclosed in double quotes "
        f"({source}:2:2)",
        f"REJECT case-7 surgery.blood_loss_ml: Input should be greater than or equal to 0 "
        f"({source}:3)",
    ]
    assert summary(result.stderr) == (2, 2, 4, str(out))
    assert lines[-1].endswith(f"; rejects in {out / 'rejects.ndjson'}")


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        pytest.param(
            ("patient", "age_at_diagnosis_years", "sixty"),
            "patient.age_at_diagnosis_years",
            "Input should be a valid integer, unable to parse string as an integer",
            id="wrong-type",
        ),
        pytest.param(
            ("patient", "sex", "f"),
            "patient.sex",
            "Input should be 'female', 'male', 'other' or 'unknown' (got 'f')",
            id="unknown-enum",
        ),
        pytest.param(
            ("diagnosis", "ivc_segments", None),
            "diagnosis.ivc_segments",
            "Field required",
            id="missing",
        ),
        pytest.param(
            ("surgery", "blodloss", 3),
            "surgery.blodloss",
            "Extra inputs are not permitted",
            id="extra",
        ),
    ],
)
def test_invalid_record_is_rejected_with_its_path(
    runner, seed_records, write_ndjson, tmp_path, change, path, reason
):
    bad = copy.deepcopy(seed_records[0])
    parent, key, value = change
    if value is None:
        del bad[parent][key]
    else:
        bad[parent][key] = value
    source = write_ndjson([bad, seed_records[1]])
    rejects = tmp_path / "my-rejects.ndjson"
    result = runner.invoke(
        app, ["map", str(source), "--ndjson", str(tmp_path / "b.ndjson"), "--rejects", str(rejects)]
    )
    assert result.exit_code == 1
    assert rejects_of(rejects) == [
        {"case_id": "case-1", "path": path, "reason": reason, "source": f"{source}:1"}
    ]
    assert f"REJECT case-1 {path}: {reason} ({source}:1)" in result.stderr
    assert len((tmp_path / "b.ndjson").read_text().splitlines()) == 2  # case-2 still written


def test_broken_json_file(runner, tmp_path):
    source = tmp_path / "cases.json"
    source.write_text('[\n  {"case_id": "case-1",\n')
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(source), "--out", str(out)])
    assert result.exit_code == 1
    [reject] = rejects_of(out / "rejects.ndjson")
    assert reject["case_id"] is None
    assert str(reject["reason"]).startswith("broken JSON: ")
    assert str(reject["source"]).startswith(f"{source}:3")
    assert summary(result.stderr) == (0, 1, 0, str(out))


def test_empty_file(runner, tmp_path):
    source = tmp_path / "cases.ndjson"
    source.write_text("")
    result = runner.invoke(app, ["map", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"REJECT <no case_id>: empty file: no case records ({source}:1)" in result.stderr


def test_duplicate_case_id_is_rejected_not_overwritten(
    runner, seed_records, write_ndjson, tmp_path
):
    second = dict(seed_records[1], case_id="case-1")
    source = write_ndjson([seed_records[0], second])
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(source), "--out", str(out)])
    assert result.exit_code == 1
    [reject] = rejects_of(out / "rejects.ndjson")
    assert reject == {
        "case_id": "case-1",
        "path": "case_id",
        "reason": "duplicate case_id: an earlier record has the same id",
        "source": f"{source}:2",
    }
    first = build_bundles(Case.model_validate(seed_records[0]))
    assert json.loads((out / "case-1.collection.json").read_text()) == first.collection
    assert summary(result.stderr)[:2] == (1, 1)


def test_mapping_error_is_a_reject(runner, seed_records, write_ndjson, tmp_path, fake_builder):
    source = write_ndjson([dict(seed_records[0], case_id="unmappable-1"), seed_records[1]])
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(source), "--out", str(out)])
    assert result.exit_code == 1
    assert rejects_of(out / "rejects.ndjson") == [
        {
            "case_id": "unmappable-1",
            "path": "diagnosis.icdo3_morphology",
            "reason": "no code for this morphology",
            "source": f"{source}:1",
        }
    ]
    assert sorted(tree(out))[0] == "case-2.collection.json"


def test_invalid_bundle_is_a_reject_unless_not_validating(
    runner, seed_records, write_ndjson, tmp_path, fake_builder
):
    source = write_ndjson([dict(seed_records[0], case_id="invalid-1")])
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(source), "--out", str(out), "--kind", "transaction"])
    assert result.exit_code == 1
    assert rejects_of(out / "rejects.ndjson") == [
        {
            "case_id": "invalid-1",
            "path": "patient",  # from the builder's sources: the entry's case element
            "reason": "transaction bundle is invalid: "
            "Bundle.entry[0].resource.favouriteColour: "
            "unknown element (not defined in FHIR R4 here)",
            "source": f"{source}:1",
        }
    ]
    assert not (out / "invalid-1.transaction.json").exists()

    result = runner.invoke(app, ["map", str(source), "--out", str(out), "--no-validate"])
    assert result.exit_code == 0
    assert (out / "invalid-1.transaction.json").exists()
    assert (out / "rejects.ndjson").read_bytes() == b""  # the earlier run's rejects are gone


def test_the_injected_bundle_check_is_used(runner, seed_file, tmp_path, fake_builder):
    seen: list[str] = []

    def check_bundle(bundle):
        seen.append(bundle["type"])
        return ["profile says no"]

    runner.use(check_bundle=check_bundle)
    result = runner.invoke(app, ["map", str(seed_file), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert seen == ["transaction", "collection"] * 2
    assert "REJECT case-1: transaction bundle is invalid: profile says no" in result.stderr


# --- could not run (exit 2) -------------------------------------------------------------------


def test_missing_input_file(runner, tmp_path):
    result = runner.invoke(app, ["map", str(tmp_path / "nope.json"), "--out", str(tmp_path)])
    assert result.exit_code == ExitCode.CANNOT_RUN == 2
    assert f"Invalid value for 'INPUT': file '{tmp_path / 'nope.json'}' does not exist." in plain(
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_input_that_is_a_folder(runner, tmp_path):
    result = runner.invoke(app, ["map", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "is a directory" in plain(result.stderr)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "outputs", [[], ["--out", "o", "--ndjson", "b.ndjson"]], ids=["none", "both"]
)
def test_exactly_one_output(runner, seed_file, outputs):
    result = runner.invoke(app, ["map", str(seed_file), *outputs])
    assert result.exit_code == 2
    assert "exactly one of --out DIR or --ndjson FILE" in plain(result.stderr)


def test_rejects_must_differ_from_ndjson(runner, seed_file, tmp_path):
    target = str(tmp_path / "b.ndjson")
    result = runner.invoke(app, ["map", str(seed_file), "--ndjson", target, "--rejects", target])
    assert result.exit_code == 2


def test_unwritable_output(runner, seed_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["map", str(seed_file), "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert result.stderr.startswith("fhir-ivc: error: ")


# --- output details ---------------------------------------------------------------------------


def test_quiet_hides_the_summary_not_the_rejects(runner, seed_records, write_ndjson, tmp_path):
    source = write_ndjson([seed_records[0], "[1]"])
    result = runner.invoke(app, ["map", str(source), "--out", str(tmp_path), "-q"])
    assert result.exit_code == 1
    reason = "a case record must be an object (a mapping), not an array"
    assert result.stderr.splitlines() == [f"REJECT <no case_id>: {reason} ({source}:2)"]


def test_progress_bar_is_drawn_only_when_asked(capsys):
    with Reporter(quiet=False, doing="mapping", unit="records", progress=True) as reporter:
        reporter.advance()
        reporter.reject("c", "p", "r", "f:1")
    with Reporter(quiet=False, doing="mapping", unit="records") as reporter:  # not a terminal
        assert reporter._progress is None
    assert "REJECT c p: r (f:1)" in capsys.readouterr().err


def test_reject_line_is_one_line():
    assert reject_line("c", "", "a\nb  c", "f:1") == "REJECT c: a b c (f:1)"


def test_map_streams(seed_file, tmp_path):
    """Each record is mapped and written before the next one is read."""
    events: list[str] = []

    def records():
        for result in iter_case_records(seed_file):
            events.append(f"read {result.case_id}")
            yield result

    class Writer:
        destination = "memory"

        def write(self, bundles):
            events.append(f"wrote {bundles.case_id}")
            return 1

    run = MapRun(
        fake_build_bundles,
        None,
        [BundleKind.TRANSACTION],
        Writer(),
        None,
        Reporter(quiet=True, doing="mapping", unit="records"),
    )
    run.consume(records())
    assert events == ["read case-1", "wrote case-1", "read case-2", "wrote case-2"]


# --- exit codes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (CaseInputError("c", "p", "r"), ExitCode.SOME_FAILED),
        (UnmappedCodeError("s", "c"), ExitCode.SOME_FAILED),
        (MappingError("m"), ExitCode.SOME_FAILED),
        (ConfigError("x"), ExitCode.CANNOT_RUN),
        (FileNotFoundError(2, "No such file", "x"), ExitCode.CANNOT_RUN),
        (TransportError("down"), ExitCode.CANNOT_RUN),
        (FhirIvcError("x"), ExitCode.CANNOT_RUN),
        (RuntimeError("bug"), None),
    ],
)
def test_exit_code_table(exc, code):
    assert exit_code_for(exc) is code


def test_exit_is_a_system_exit():
    assert issubclass(CliExit, SystemExit)
    assert CliExit(ExitCode.SOME_FAILED).code == 1
    assert all(isinstance(code, ExitCode) for _, code in EXIT_CODES)
