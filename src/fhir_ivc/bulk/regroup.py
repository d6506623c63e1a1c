"""From exported NDJSON files back to patients: an on-disk index, then one patient at a time.

An export is per resource type; a case is per patient. :class:`ExportIndex` (SQLite in a
temporary file, standard library) takes every exported resource once, keyed ``Type/id``, with
the patient it belongs to: the Patient itself, else the patient its ``subject`` / ``patient``
(or, failing those, any) reference names. :func:`read_patients` then yields one
:class:`~fhir_ivc.exchange.pull.PatientPull` per exported Patient, read with the same reader as
``pull`` (:func:`fhir_ivc.exchange.pull.read_pulled`): the patient's resources plus whatever
they reference that the export holds (Medication, Organization, …), references followed
transitively; a reference the export does not hold is a loss ("not in the export"), as a
missing reference is for ``pull``. Memory stays one patient's resources, whatever the export.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Self

import orjson

from fhir_ivc._types import ExcInfo
from fhir_ivc.exchange.pull import (
    MAX_REFERENCE_READS,
    PatientPull,
    PatientQuery,
    PullTarget,
    read_pulled,
)
from fhir_ivc.exchange.resources import ResourceSet, _references
from fhir_ivc.fhir.ids import PATIENT_REF
from fhir_ivc.mappers._read import Loss

__all__ = ["ExportIndex", "owner_of", "read_patients"]

_BATCH: Final = 1000
#: types that list patients rather than belong to one
_NOT_OWNED: Final = frozenset({"Group", "List"})


def owner_of(resource: Mapping[str, Any]) -> str | None:
    """The id of the patient a resource belongs to, ``None`` for one outside every patient.

    A Patient is its own; otherwise ``subject`` or ``patient``, else the one Patient it
    references anywhere. A Group (``Group/[id]/$export`` exports the Group itself) or anything
    else that references several patients belongs to none of them.
    """
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    if rtype in _NOT_OWNED:
        return None
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            match = PATIENT_REF.search(ref["reference"])
            if match:
                return match[1]
    found = {m[1] for ref in _references(resource) if (m := PATIENT_REF.search(ref))}
    return found.pop() if len(found) == 1 else None


class ExportIndex:
    """Every exported resource once (``Type/id``), with its patient, in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS res ("
            "  n INTEGER PRIMARY KEY, key TEXT UNIQUE, type TEXT, owner TEXT, body BLOB)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS by_owner ON res(owner, n)")
        self.resources = 0
        self.duplicates = 0
        self.unreadable = 0
        #: exported patients the query did not select
        self.unselected = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        self._db.close()

    def add_file(self, path: Path) -> int:
        """Index one NDJSON file (streaming); returns the resources it added."""
        added = 0
        rows: list[tuple[str, str, str | None, bytes]] = []
        with path.open("rb") as file:
            for line in file:
                if not line.strip():
                    continue
                try:
                    resource = orjson.loads(line)
                    key = f"{resource['resourceType']}/{resource['id']}"
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    self.unreadable += 1
                    continue
                rows.append((key, resource["resourceType"], owner_of(resource), line.strip()))
                if len(rows) >= _BATCH:
                    added += self._insert(rows)
        return added + self._insert(rows)

    def _insert(self, rows: list[tuple[str, str, str | None, bytes]]) -> int:
        before = self._db.total_changes
        self._db.executemany(
            "INSERT OR IGNORE INTO res(key, type, owner, body) VALUES (?, ?, ?, ?)", rows
        )
        self._db.commit()
        added = self._db.total_changes - before
        self.duplicates += len(rows) - added
        self.resources += added
        rows.clear()
        return added

    def patients(self) -> Iterator[dict[str, Any]]:
        """Every exported Patient, in export order."""
        cursor = self._db.execute("SELECT body FROM res WHERE type = 'Patient' ORDER BY n")
        for (body,) in cursor:
            yield orjson.loads(body)

    def owned(self, patient_id: str) -> Iterator[dict[str, Any]]:
        cursor = self._db.execute(
            "SELECT body FROM res WHERE owner = ? AND type != 'Patient' ORDER BY n", (patient_id,)
        )
        for (body,) in cursor:
            yield orjson.loads(body)

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT body FROM res WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def orphans(self) -> int:
        """Resources that belong to no exported patient (their patient was not exported)."""
        row = self._db.execute(
            "SELECT count(*) FROM res r WHERE r.owner IS NOT NULL AND r.type != 'Patient' AND "
            "NOT EXISTS (SELECT 1 FROM res p WHERE p.key = 'Patient/' || r.owner)"
        ).fetchone()
        return int(row[0])


def _target(patient: dict[str, Any], query: PatientQuery | None) -> PullTarget | None:
    if query is not None:
        pair = query.selecting_identifier(patient)
        if pair is None:
            return None
        return PullTarget(source_system=pair[0], case_id=pair[1], patient=patient)
    idents = [i for i in patient.get("identifier") or [] if isinstance(i, Mapping)]
    first = idents[0] if idents else {}
    system, value = first.get("system"), first.get("value")
    return PullTarget(
        source_system=system if isinstance(system, str) else None,
        case_id=value if isinstance(value, str) else None,
        patient=patient,
    )


def read_patients(
    index: ExportIndex,
    base_url: str,
    query: PatientQuery | None = None,
    *,
    skip: Callable[[PullTarget], bool] | None = None,
) -> Iterator[PatientPull]:
    """One pulled patient per exported Patient that ``query`` selects (all without one).

    ``skip`` leaves out targets already done (``pull --state`` resuming).
    """
    for patient in index.patients():
        target = _target(patient, query)
        if target is None:
            index.unselected += 1
            continue
        if skip is not None and skip(target):
            continue
        found = ResourceSet(base_url)
        found.add(patient)
        for resource in index.owned(str(patient["id"])):
            found.add(resource)
        reads = 0
        while missing := found.missing():
            for key in missing:
                reads += 1
                if reads > MAX_REFERENCE_READS:
                    found.losses.append(
                        Loss(key, "", f"more than {MAX_REFERENCE_READS} references followed")
                    )
                    found.attempt(key)
                    continue
                held = index.get(key)
                if held is None:
                    found.unreadable(key, "the export does not hold it")
                else:
                    found.attempt(key)
                    found.add(held)
        yield read_pulled(target, found, strategy="export", requests=0)
