"""``fhir-ivc pull --state`` / ``--since`` without a real server (the fake of the engine tests).

An interrupted run is simulated by a transport that raises ``KeyboardInterrupt`` on a given
``$everything`` request (with ``-j 1`` it ends the command where a kill would). The kill -9 test
against HAPI is tests/integration/test_pull_state.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tests.cli.test_cli_pull import BASE, plain, run, serve
from tests.exchange.test_pull import SYSTEM, FakeServer, server_resources

from fhir_ivc.cli._pull_outputs import ResumableLines
from fhir_ivc.exchange.pull import SearchSupport
from fhir_ivc.exchange.pull_changes import change_plan, changed_patient_ids, parse_instant
from fhir_ivc.exchange.pull_state import PatientRecord, PullJournal, StateError
from fhir_ivc.testing.synth import synthetic_case


@pytest.fixture
def fake(runner) -> FakeServer:
    originals = [synthetic_case(i, source_system=SYSTEM) for i in range(3)]
    return FakeServer([r for c in originals for r in server_resources(c)])


def everything_requests(fake: FakeServer) -> list[str]:
    return [path for path, _ in fake.requests if path.endswith("$everything")]


def interrupt_at(fake: FakeServer, number: int):
    """The fake's handler, raising KeyboardInterrupt at the ``number``-th $everything."""
    seen = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal seen
        if request.url.path.endswith("$everything"):
            seen += 1
            if seen == number:
                raise KeyboardInterrupt
        return fake.handler(request)

    return handler


def test_an_interrupted_run_resumes_where_it_stopped(runner, fake, tmp_path):
    state, ndjson = tmp_path / "pull.state", tmp_path / "cases.ndjson"
    args = ["--system", SYSTEM, "--ndjson", str(ndjson), "--state", str(state), "-j", "1"]
    serve(runner, interrupt_at(fake, 3))
    first = run(runner, *args)
    assert first.exit_code != 0
    assert not ndjson.exists()
    partial = tmp_path / ".cases.ndjson.partial"
    assert len(partial.read_text(encoding="utf-8").splitlines()) == 2
    partial.write_bytes(partial.read_bytes() + b'{"half": "a line of a patient not committed')

    fake.requests.clear()
    serve(runner, fake.handler)
    second = run(runner, *args)
    assert second.exit_code == 0, second.output
    assert len(everything_requests(fake)) == 1  # only the patient not finished
    ids = [json.loads(line)["case_id"] for line in ndjson.read_text().splitlines()]
    assert sorted(ids) == ["synth-000000", "synth-000001", "synth-000002"]
    assert not partial.exists()
    assert "pulled 3 patients" in second.stderr
    assert "2 of them finished by the interrupted run before" in second.stderr
    losses = tmp_path / "cases.losses.ndjson"
    assert len(losses.read_text().splitlines()) == 3

    fake.requests.clear()  # a completed run is not resumed: the next one pulls everything again
    third = run(runner, *args)
    assert third.exit_code == 0, third.output
    assert len(everything_requests(fake)) == 3
    assert len(ndjson.read_text().splitlines()) == 3


def test_a_json_loss_report_is_resumed_too(runner, fake, tmp_path):
    report = tmp_path / "losses.json"
    args = ["--system", SYSTEM, "--loss-report", str(report), "--state", str(tmp_path / "s")]
    serve(runner, interrupt_at(fake, 2))
    assert run(runner, *args, "-j", "1").exit_code != 0
    serve(runner, fake.handler)
    assert run(runner, *args, "-j", "1").exit_code == 0
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["patients"] == 3
    assert sorted(r["case_id"] for r in document["results"]) == [
        "synth-000000",
        "synth-000001",
        "synth-000002",
    ]


def test_an_unfinished_run_with_other_options_is_refused(runner, fake, tmp_path):
    state = tmp_path / "pull.state"
    serve(runner, interrupt_at(fake, 2))
    run(runner, "--system", SYSTEM, "--ndjson", str(tmp_path / "a.ndjson"), "--state", str(state))
    serve(runner, fake.handler)
    other = run(
        runner, "--system", SYSTEM, "--ndjson", str(tmp_path / "b.ndjson"), "--state", str(state)
    )
    assert other.exit_code == 2
    assert "belongs to an unfinished pull with other options" in plain(other.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last", "--ndjson", "x.ndjson"], "'--since last' needs --state"),
        (["--since", "2026-12-01", "--ndjson", "x.ndjson"], "time zone"),
        (["--since", "yesterday", "--ndjson", "x.ndjson"], "not an instant"),
        (["--state", "s", "--ndjson", "-"], "standard output cannot be resumed"),
        (["--state", "s", "--tables", "t"], "cannot be resumed"),
    ],
)
def test_state_and_since_options_that_cannot_work_are_exit_2(runner, fake, args, message):
    serve(runner, fake.handler)
    result = run(runner, "--system", SYSTEM, *args)
    assert result.exit_code == 2
    assert message in plain(result.stderr)


def test_since_last_without_a_completed_run_pulls_everything(runner, fake, tmp_path):
    serve(runner, fake.handler)
    args = ["--system", SYSTEM, "--out", str(tmp_path / "o"), "--state", str(tmp_path / "s")]
    result = run(runner, *args, "--since", "last")
    assert result.exit_code == 0, result.output
    assert "no completed run" in result.stderr
    assert len(list((tmp_path / "o").glob("synth-*.json"))) == 3
    # the fake answers the change searches with every resource: all three have "changed"
    again = run(runner, *args, "--since", "last")
    assert again.exit_code == 0, again.output
    assert any(p == "Condition" and "_lastUpdated" in q for p, q in fake.requests)


def test_a_state_file_that_is_not_one_is_exit_2(runner, fake, tmp_path):
    state = tmp_path / "state"
    state.write_text("not sqlite at all, but long enough to be read as a database header")
    serve(runner, fake.handler)
    result = run(runner, "--system", SYSTEM, "--out", str(tmp_path / "o"), "--state", str(state))
    assert result.exit_code == 2
    assert "is not a pull state file" in plain(result.stderr)


# --- the parts --------------------------------------------------------------------------------


def test_resumable_lines_cut_back_to_the_confirmed_length(tmp_path):
    path = tmp_path / "x.ndjson"
    with ResumableLines(path, None) as lines:
        lines.write({"a": 1})
        length = lines.flush()
        lines.write({"b": 2})
        lines.flush()
    with ResumableLines(path, length) as lines:
        lines.write({"c": 3})
        lines.complete()
    assert path.read_text() == '{"a":1}\n{"c":3}\n'
    with pytest.raises(StateError, match="start afresh"):
        ResumableLines(tmp_path / "y.ndjson", 10).__enter__()


def test_the_journal_sums_the_finished_patients(tmp_path):
    with PullJournal(tmp_path / "j") as journal:
        journal.begin("f1", "2026-12-01T00:00:00Z", None)
        assert not journal.resumed
        assert journal.last_completed() is None
        journal.record(PatientRecord("Patient/1", "c1", True, True, 2, 30, 1), {"x": 10})
        journal.record(PatientRecord("Patient/2", None, False, True, 0, 0, 0, False), {"x": 12})
        assert journal.is_done("Patient/1")
        assert not journal.is_done("Patient/3")
        assert journal.lengths() == {"x": 12}
        totals = journal.totals()
        assert (totals.patients, totals.ok, totals.losses, totals.not_fetched) == (2, 1, 2, 1)
        assert journal.complete("2026-12-01T01:00:00Z") is False  # one was not fetched
        assert journal.last_completed() is None
        journal.begin("f1", "2026-12-02T00:00:00Z", None)  # completed: a new run
        assert not journal.resumed
        assert journal.totals().patients == 0
        assert journal.complete("2026-12-02T01:00:00Z") is True
        assert journal.last_completed() == "2026-12-02T00:00:00Z"


def test_instants_are_normalised_to_utc():
    assert parse_instant("2026-12-01T10:00:00+01:00") == "2026-12-01T09:00:00.000Z"
    assert parse_instant("2026-12-01T10:00:00.5Z") == "2026-12-01T10:00:00.500Z"
    with pytest.raises(ValueError, match="time zone"):
        parse_instant("2026-12-01T10:00:00")


def test_change_searches_ask_for_the_patient_element_only():
    plan = dict(change_plan("2026-12-01T00:00:00.000Z", SearchSupport(), count=200))
    assert plan["Patient"] == {"_lastUpdated": "ge2026-12-01T00:00:00.000Z", "_count": 200}
    assert plan["Condition"]["_elements"] == "subject"
    assert plan["FamilyMemberHistory"]["_elements"] == "patient"
    assert "List" in plan
    page = {
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1"}},
            {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p2"}}},
            {"resource": {"resourceType": "List", "subject": {"reference": f"{BASE}/Patient/p3"}}},
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Group/g"}}},
        ]
    }
    assert changed_patient_ids(page) == {"p1", "p2", "p3"}


def test_nothing_of_the_state_file_is_clinical(runner, fake, tmp_path):
    """The journal holds server ids, case ids and counts: no resource content."""
    state = tmp_path / "s"
    serve(runner, fake.handler)
    run(runner, "--system", SYSTEM, "--out", str(tmp_path / "o"), "--state", str(state))
    content = Path(state).read_bytes()
    assert b"Leiomyosarcoma" not in content
    assert b"birthDate" not in content
