"""The run journal of ``push --state FILE``: which cases the server confirmed, with which bundle.

A small SQLite database (the standard library's ``sqlite3``, no server): one row per
``(server, case id)`` with the hash of the bundle the server last confirmed (a transaction
answered ``ok``). A re-run skips a case whose bundle hashes the same and is confirmed — no
request at all — and pushes the others. A case is written to the journal only *after* the
server's answer, so a crash (``kill -9``) between the server's commit and the journal's leaves a
case unconfirmed: it is pushed again, which is harmless (every entry is a conditional PUT: it
comes back ``unchanged``). A case that fails is forgotten, so a later run sends it again.

:func:`open_journal` opens the file as the pull journal does
(:func:`fhir_ivc.exchange.pull_state.open_sqlite`): WAL mode, so a reader (a test, a monitor)
never blocks the writer and a commit is one append; ``synchronous=NORMAL``, which in WAL mode
survives a crash of the process (the case here) but may lose the last commits on a power cut —
they are then pushed again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping
from typing import Any, Final, Self

import orjson

from fhir_ivc.exchange.pull_state import open_sqlite

__all__ = ["SCHEMA_VERSION", "PushState", "bundle_hash", "open_journal"]

#: ``PRAGMA user_version`` of a journal this module writes
SCHEMA_VERSION: Final = 1

_PUSH_TABLE: Final = """
CREATE TABLE IF NOT EXISTS push_confirmed (
    server TEXT NOT NULL,
    case_id TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    confirmed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (server, case_id)
) WITHOUT ROWID
"""


def open_journal(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (or create) a journal file with the pull journal's settings
    (:func:`fhir_ivc.exchange.pull_state.open_sqlite`: WAL, ``synchronous=NORMAL``).

    Raises ``sqlite3.DatabaseError`` for a file that is not an SQLite database, or one written
    by a newer schema.
    """
    conn = open_sqlite(os.fspath(path))
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"{os.fspath(path)} was written by a newer fhir-ivc (schema {version})"
            )
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


def bundle_hash(bundle: Mapping[str, Any], **options: Any) -> str:
    """SHA-256 of the bundle's canonical JSON and of the options that change what is sent."""
    digest = hashlib.sha256(orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS))
    if options:
        digest.update(orjson.dumps(options, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


class PushState:
    """The confirmed cases of one server in a journal file (see the module docstring).

    One connection, used from the thread that opened it (the CLI's event loop).
    """

    def __init__(self, path: str | os.PathLike[str], server: str) -> None:
        self.path = os.fspath(path)
        self.server = server
        self._conn = open_journal(path)
        self._conn.execute(_PUSH_TABLE)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def confirmed(self, case_id: str, digest: str) -> bool:
        """Whether the server confirmed ``case_id`` with exactly this bundle hash."""
        row = self._conn.execute(
            "SELECT bundle_hash FROM push_confirmed WHERE server = ? AND case_id = ?",
            (self.server, case_id),
        ).fetchone()
        return row is not None and row[0] == digest

    def confirm(self, case_id: str, digest: str) -> None:
        """Record that the server accepted ``case_id``'s bundle with hash ``digest``."""
        self._conn.execute(
            "INSERT INTO push_confirmed (server, case_id, bundle_hash) VALUES (?, ?, ?) "
            "ON CONFLICT (server, case_id) DO UPDATE SET bundle_hash = excluded.bundle_hash, "
            "confirmed_at = excluded.confirmed_at",
            (self.server, case_id, digest),
        )

    def forget(self, case_id: str) -> None:
        """The case failed: its next run sends it whatever its hash."""
        self._conn.execute(
            "DELETE FROM push_confirmed WHERE server = ? AND case_id = ?",
            (self.server, case_id),
        )

    def count(self) -> int:
        """Cases confirmed for this server."""
        row = self._conn.execute(
            "SELECT count(*) FROM push_confirmed WHERE server = ?", (self.server,)
        ).fetchone()
        return int(row[0])
