"""The ``push --state`` journal and the dead-letter file, without a server."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fhir_ivc.exceptions import FhirHttpError
from fhir_ivc.exchange.deadletters import (
    DeadLetter,
    DeadLetterWriter,
    failing_element,
    read_dead_letters,
)
from fhir_ivc.exchange.push import CasePushResult, EntryResult
from fhir_ivc.exchange.state import PushState, bundle_hash, open_journal

BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": [{"a": 1, "b": 2}]}


def test_the_hash_is_canonical_and_covers_the_options():
    reordered = {"entry": [{"b": 2, "a": 1}], "type": "transaction", "resourceType": "Bundle"}
    assert bundle_hash(BUNDLE) == bundle_hash(reordered)
    assert bundle_hash(BUNDLE, corrections="delete") != bundle_hash(BUNDLE, corrections="off")
    assert bundle_hash(BUNDLE) != bundle_hash({**BUNDLE, "entry": []})


def test_confirm_forget_per_server(tmp_path):
    path = tmp_path / "state.sqlite"
    with PushState(path, "http://a/fhir") as state:
        assert not state.confirmed("c1", "h1")
        state.confirm("c1", "h1")
        assert state.confirmed("c1", "h1")
        assert not state.confirmed("c1", "h2")  # the bundle changed: push again
        state.confirm("c1", "h2")
        assert state.confirmed("c1", "h2")
        assert state.count() == 1
    with PushState(path, "http://b/fhir") as other:  # another server: nothing confirmed there
        assert not other.confirmed("c1", "h2")
    with PushState(path, "http://a/fhir") as state:  # survives a reopen
        assert state.confirmed("c1", "h2")
        state.forget("c1")
        assert not state.confirmed("c1", "h2")


def test_the_journal_is_wal_and_refuses_other_files(tmp_path):
    conn = open_journal(tmp_path / "j.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(sqlite3.DatabaseError, match="newer fhir-ivc"):
        open_journal(tmp_path / "j.sqlite")
    junk = tmp_path / "junk"
    junk.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(sqlite3.DatabaseError):
        PushState(junk, "http://a")


def _failed(exc: BaseException | None = None) -> CasePushResult:
    entries = [
        EntryResult("urn:uuid:1", "Patient", "patient", "failed", 422, message="not written: …"),
        EntryResult(
            "urn:uuid:2",
            "Observation",
            "surgery.blood_loss_ml",
            "failed",
            422,
            None,
            None,
            "Observation.valueQuantity: bad unit",
        ),
    ]
    return CasePushResult("c1", False, entries, "case 'c1': HTTP 422", 422, exc)


def test_a_letter_names_the_element_and_counts_attempts(tmp_path):
    assert failing_element(_failed()) == "surgery.blood_loss_ml"
    exc = FhirHttpError("rejected", status_code=422, attempts=3)
    letter = DeadLetter.of(
        _failed(exc), source="x.yaml:3", record={"case_id": "c1"}, earlier_attempts=2
    )
    assert (letter.attempts, letter.element, letter.status_code) == (
        5,
        "surgery.blood_loss_ml",
        422,
    )
    assert letter.bundle is None
    path = tmp_path / "d.ndjson"
    with DeadLetterWriter(path) as writer:
        writer.write(letter)
    with DeadLetterWriter(path) as writer:  # appends
        writer.write(letter)
    read = list(read_dead_letters(path))
    assert [(n, got) for n, _, got in read] == [(1, letter), (2, letter)]
    assert orjson.loads(read[0][1])["record"] == {"case_id": "c1"}


def test_a_replay_rewrite_is_atomic(tmp_path):
    path = tmp_path / "d.ndjson"
    path.write_text('{"x": 1}\n\n')
    ((number, line, reason),) = list(read_dead_letters(path))
    assert number == 1
    assert isinstance(reason, str)

    def interrupted() -> None:
        with DeadLetterWriter(path, replace=True) as writer:
            writer.keep(line)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert path.read_text() == '{"x": 1}\n\n'  # untouched
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    with DeadLetterWriter(path, replace=True) as writer:
        writer.commit()
    assert path.read_text() == ""


# --- file modes: a dead letter holds a raw case record (PHI) -------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which open() creates 0644 files."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _letter() -> DeadLetter:
    exc = FhirHttpError("rejected", status_code=422, attempts=1)
    return DeadLetter.of(_failed(exc), source="x.yaml:3", record={"case_id": "c1"})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_a_new_dead_letter_file_is_0600_appended_or_replayed(tmp_path):
    appended = tmp_path / "push.ndjson"
    with DeadLetterWriter(appended) as writer:
        writer.write(_letter())
    assert _mode(appended) == 0o600
    replayed = tmp_path / "replay.ndjson"  # a replace with no file yet
    with DeadLetterWriter(replayed, replace=True) as writer:
        writer.write(_letter())
        writer.commit()
    assert _mode(replayed) == 0o600


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400], ids=oct)
def test_a_dead_letter_file_keeps_the_mode_an_operator_set(tmp_path, mode):
    path = tmp_path / "d.ndjson"
    with DeadLetterWriter(path) as writer:
        writer.write(_letter())
    os.chmod(path, mode | 0o200)  # the owner may write, to append
    with DeadLetterWriter(path) as writer:  # a push run appends
        writer.write(_letter())
    assert _mode(path) == mode | 0o200
    os.chmod(path, mode)
    with DeadLetterWriter(path, replace=True) as writer:  # a replay rewrites
        for _, line, _letter_or_reason in read_dead_letters(path):
            writer.keep(line)
        writer.commit()
    assert _mode(path) == mode
    assert len(list(read_dead_letters(path))) == 2
