"""The journal of ``fhir-ivc pull --state FILE``: resume a killed pull, and ``--since last``.

One SQLite file (the standard library's ``sqlite3``, WAL mode). It holds **one run** at a time:

* ``run``: what the run is (a fingerprint of the server, the selection and the outputs), when it
  started (the instant to use as the next ``--since last``) and whether it completed;
* ``done``: one row per finished patient (``Patient/[id]``, or ``identifier:system|value`` for an
  identifier nobody carries) with the counts the summary needs (a patient whose data could not
  be fetched is finished too: it is in the loss report; the run then does not move
  ``--since last`` forward);
* ``outputs``: for each line file of the run, its length after the last finished patient.

A patient's row and the new lengths are committed in **one transaction** after its lines have
reached the operating system, so after ``kill -9`` at any moment the journal names exactly the
patients whose output is complete: a resumed run cuts each file back to the committed length
(the half-written patient disappears), skips the finished patients without a request, and pulls
the rest. A completed run is kept as the reference of ``--since last``; the next run starts
afresh. Nothing here holds clinical data: keys are server ids and identifiers, counts are counts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

from fhir_ivc._types import ExcInfo
from fhir_ivc.exceptions import ConfigError

__all__ = ["PatientRecord", "PullJournal", "RunTotals", "StateError", "open_sqlite"]

SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    started TEXT NOT NULL,
    since TEXT,
    completed TEXT
);
CREATE TABLE IF NOT EXISTS done (
    key TEXT PRIMARY KEY,
    case_id TEXT,
    ok INTEGER NOT NULL,
    found INTEGER NOT NULL,
    losses INTEGER NOT NULL,
    resources INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    fetched INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs (path TEXT PRIMARY KEY, length INTEGER NOT NULL);
"""


class StateError(ConfigError):
    """The state file cannot be used for this run (another run's, or not a pull journal)."""


def open_sqlite(path: str | Path) -> sqlite3.Connection:
    """A connection for a small local journal: WAL, ``synchronous=NORMAL``, explicit transactions.

    WAL with ``synchronous=NORMAL`` keeps every committed transaction across a killed process
    (only a power loss can undo the last ones); ``isolation_level=None`` lets the caller group
    statements with ``BEGIN``/``COMMIT``.
    """
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


@dataclass(frozen=True)
class PatientRecord:
    """What the journal keeps of one finished patient (no clinical data)."""

    key: str
    case_id: str | None
    ok: bool
    found: bool
    losses: int
    resources: int
    requests: int
    #: False when the patient's data could not be fetched (server error, transport)
    fetched: bool = True


@dataclass(frozen=True)
class RunTotals:
    """The finished patients of the run so far, summed (for the summary of a resumed run)."""

    patients: int = 0
    ok: int = 0
    not_found: int = 0
    with_losses: int = 0
    losses: int = 0
    resources: int = 0
    requests: int = 0
    not_fetched: int = 0


class PullJournal:
    """The pull journal in ``path`` (created if missing). Use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        #: set by :meth:`begin`: whether this run goes on from a killed one
        self.resumed = False

    # -- opening ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            db = open_sqlite(self.path)
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'pull_state'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('pull_state', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise StateError(f"{self.path}: pull state version {row[0]}, not {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path} is not a pull state file: {exc}") from exc
        self._db = db
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("PullJournal is used outside its 'with' block")
        return self._db

    # -- the run --------------------------------------------------------------------------------

    def last_completed(self) -> str | None:
        """When the last completed run started (the instant ``--since last`` means)."""
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = 'last_completed_started'"
        ).fetchone()
        return str(row[0]) if row else None

    def begin(self, fingerprint: str, started: str, since: str | None) -> None:
        """Go on with the unfinished run of ``fingerprint``, or start a new run.

        An unfinished run with another fingerprint (other server, selection or outputs) is
        refused: its partial outputs would be left half done.
        """
        row = self.db.execute("SELECT fingerprint, completed FROM run").fetchone()
        if row is not None and row[1] is None:
            if row[0] != fingerprint:
                raise StateError(
                    f"{self.path} belongs to an unfinished pull with other options (server, "
                    "selection, --since or outputs): re-run that one to finish it, or use "
                    "another state file"
                )
            self.resumed = True
            return
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM run")
        self.db.execute("DELETE FROM done")
        self.db.execute("DELETE FROM outputs")
        self.db.execute(
            "INSERT INTO run (id, fingerprint, started, since) VALUES (1, ?, ?, ?)",
            (fingerprint, started, since),
        )
        self.db.execute("COMMIT")
        self.resumed = False

    def started(self) -> str:
        row = self.db.execute("SELECT started FROM run").fetchone()
        if row is None:
            raise RuntimeError("no run has begun")
        return str(row[0])

    def complete(self, completed: str) -> bool:
        """Mark the run completed; ``True`` if its start became the next ``--since last``.

        It does not when a patient's data could not be fetched: the next ``--since last`` then
        starts from the run before, so that patient is not passed over as unchanged.
        """
        fetched_all = self.totals().not_fetched == 0
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("UPDATE run SET completed = ?", (completed,))
        if fetched_all:
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_completed_started', "
                "(SELECT started FROM run))"
            )
        self.db.execute("COMMIT")
        return fetched_all

    # -- patients -------------------------------------------------------------------------------

    def is_done(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM done WHERE key = ?", (key,)).fetchone() is not None

    def record(self, patient: PatientRecord, lengths: Mapping[str, int]) -> None:
        """One finished patient and the lengths of the output files after it, atomically."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "INSERT OR REPLACE INTO done VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                patient.key,
                patient.case_id,
                int(patient.ok),
                int(patient.found),
                patient.losses,
                patient.resources,
                patient.requests,
                int(patient.fetched),
            ),
        )
        self.db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?)", sorted(lengths.items()))
        self.db.execute("COMMIT")

    def lengths(self) -> dict[str, int]:
        """The committed length of each output file of the run."""
        return {str(p): int(n) for p, n in self.db.execute("SELECT path, length FROM outputs")}

    def case_ids(self) -> Iterator[str]:
        """The case ids written by the finished patients (to refuse a duplicate later)."""
        for (case_id,) in self.db.execute("SELECT case_id FROM done WHERE ok = 1"):
            yield str(case_id)

    def totals(self) -> RunTotals:
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(ok), 0), coalesce(sum(1 - found), 0), "
            "coalesce(sum(losses > 0), 0), coalesce(sum(losses), 0), "
            "coalesce(sum(resources), 0), coalesce(sum(requests), 0), "
            "coalesce(sum(1 - fetched), 0) FROM done"
        ).fetchone()
        return RunTotals(*(int(v) for v in row))
