"""A Bulk Data folder: one NDJSON file per resource type, the cases, a manifest.

``fhir-ivc map --bulk DIR`` writes (``fhir-ivc push --bulk DIR`` reads)::

    DIR/Patient.ndjson        one resource per line (FHIR Bulk Data format, R4 JSON)
    DIR/Condition.ndjson      ... one file per resource type that occurs
    DIR/List.ndjson           each case's manifest (the List ``push`` writes for corrections)
    DIR/cases.ndjson          per case: its id and the ids of its resources, by type
    DIR/manifest.json         the files (type, name, resource count, bytes), the counts
    DIR/rejects.ndjson        records that were not mapped (as ``map`` writes them)

Resources carry their logical ids (:mod:`fhir_ivc.bulk.ids`) and reference each other as
``Type/id``, so every reference resolves inside the folder and a load upserts by id. The cases
are written one after another: a case's resources of one type are consecutive lines of that
type's file, in case order, and within a type a referenced resource comes before the ones that
reference it. So ``cases.ndjson`` read in step with the type files gives back each case's
resources without an index (:func:`iter_case_resources`), and memory stays one case.

Every file is written to a temporary name and moved into place when the run ends without an
error; files of an earlier run that this run did not write again are removed then.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Self

import orjson

from fhir_ivc._types import ExcInfo
from fhir_ivc._version import __version__
from fhir_ivc.exchange.manifest import manifest_entry
from fhir_ivc.exchange.resources import _references
from fhir_ivc.io import BundleSet, atomic_write_bytes, dump_json
from fhir_ivc.io.writer import _AtomicLines

__all__ = [
    "CASES_FILE",
    "FORMAT",
    "MANIFEST_FILE",
    "NDJSON_TYPE",
    "REJECTS_FILE",
    "TYPE_ORDER",
    "BulkCase",
    "BulkDirWriter",
    "BulkFile",
    "BulkManifest",
    "bulk_resources",
    "iter_case_resources",
    "read_manifest",
    "type_rank",
]

FORMAT: Final = "fhir-ivc-bulk/1"
MANIFEST_FILE: Final = "manifest.json"
CASES_FILE: Final = "cases.ndjson"
REJECTS_FILE: Final = "rejects.ndjson"
#: the media type of every NDJSON body: $import input, $export output, the files served
NDJSON_TYPE: Final = "application/fhir+ndjson"

#: Load order: a type comes after the types its resources reference (HAPI's $import sorts its
#: inputs the same way; a transaction fallback sends each case in this order).
TYPE_ORDER: Final[tuple[str, ...]] = (
    "Organization",
    "Practitioner",
    "Medication",
    "Patient",
    "RelatedPerson",
    "FamilyMemberHistory",
    "Encounter",
    "BodyStructure",
    "Specimen",
    "Condition",
    "Procedure",
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationStatement",
    "Observation",
    "DiagnosticReport",
    "List",
)


def type_rank(resource_type: str) -> tuple[int, str]:
    """Sort key of a resource type in :data:`TYPE_ORDER` (unknown types last, by name)."""
    try:
        return (TYPE_ORDER.index(resource_type), resource_type)
    except ValueError:
        return (len(TYPE_ORDER), resource_type)


@dataclass(frozen=True, slots=True)
class BulkFile:
    """One NDJSON file of the folder: its resource type, name, lines and bytes."""

    type: str
    name: str
    count: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "url": self.name, "count": self.count, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class BulkManifest:
    """``manifest.json`` of a Bulk Data folder."""

    root: Path
    files: tuple[BulkFile, ...]
    cases: int
    rejected: int
    raw: Mapping[str, Any]

    @property
    def resources(self) -> int:
        return sum(f.count for f in self.files)

    def path(self, file: BulkFile) -> Path:
        return self.root / file.name


def _safe_name(name: object) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name[0] == ".":
        raise ValueError(f"the manifest names a file outside its folder: {name!r}")
    return name


def read_manifest(root: str | os.PathLike[str]) -> BulkManifest:
    """Read ``DIR/manifest.json``; ``ValueError`` when it is missing or not ours."""
    folder = Path(root)
    path = folder / MANIFEST_FILE
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(
            f"{folder} has no {MANIFEST_FILE}: write the folder with 'fhir-ivc map --bulk'"
        ) from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fhir-ivc bulk manifest (format {FORMAT})")
    files = []
    for item in raw.get("output") or []:
        if not isinstance(item, dict):
            raise ValueError(f"{path}: an output entry is not an object")
        name = _safe_name(item.get("url"))
        files.append(
            BulkFile(str(item.get("type")), name, int(item.get("count", 0)), int(item["bytes"]))
        )
    cases = raw.get("cases") or {}
    return BulkManifest(
        root=folder,
        files=tuple(files),
        cases=int(cases.get("count", 0)),
        rejected=int(raw.get("rejected", 0)),
        raw=raw,
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def referenced_first(resources: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``resources`` (one type) reordered so a referenced one precedes those referencing it.

    Stable: without references among them the order is kept. A cycle keeps its input order.
    """
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    index = {key: i for i, key in enumerate(keys)}
    deps = [
        {index[ref] for ref in _references(r) if ref in index and index[ref] != i}
        for i, r in enumerate(resources)
    ]
    done: set[int] = set()
    order: list[int] = []

    def visit(i: int, path: set[int]) -> None:
        if i in done or i in path:
            return
        path.add(i)
        for dep in sorted(deps[i]):
            visit(dep, path)
        path.discard(i)
        done.add(i)
        order.append(i)

    for i in range(len(resources)):
        visit(i, set())
    return [resources[i] for i in order]


def bulk_resources(
    case_id: str, transaction: Mapping[str, Any]
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """A case's Bulk Data resources: ``(type, resources)`` in load order, referenced first.

    The resources of its logical-id ``transaction`` and the case's manifest ``List``, the one
    ``push`` writes beside them (:func:`fhir_ivc.exchange.manifest.manifest_entry`, with
    ``Type/id`` references), so a later ``push --corrections delete`` of a corrected record
    knows what the bulk load stored and removes what the record no longer has.
    """
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    manifest = manifest_entry(transaction)
    entries = [*(transaction.get("entry") or []), *([manifest] if manifest else [])]
    for entry in entries:
        resource = entry["resource"]
        if not isinstance(resource.get("id"), str):
            raise ValueError(
                f"case {case_id}: a resource has no logical id "
                "(bulk output needs bundles built with ids='logical')"
            )
        by_type.setdefault(resource["resourceType"], []).append(resource)
    return [(rtype, referenced_first(by_type[rtype])) for rtype in sorted(by_type, key=type_rank)]


class _TypeFile(_AtomicLines):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.count = 0
        self.bytes = 0

    def write(self, resource: Mapping[str, Any]) -> None:
        line = dump_json(resource)
        self._write(line)
        self.count += 1
        self.bytes += len(line)


class BulkDirWriter:
    """Writes a Bulk Data folder case by case (``map --bulk``); a ``map`` BundleWriter.

    ``write`` takes a case's bundles built with ``ids="logical"`` and splits the transaction's
    resources into the type files. The manifest is written on a clean exit, last.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.destination = str(self.root)
        self._stack = contextlib.ExitStack()
        self._types: dict[str, _TypeFile] = {}
        self._cases: _AtomicLines | None = None
        self.cases = 0
        self.rejected = 0

    def __enter__(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        self._cases = self._stack.enter_context(_AtomicLines(self.root / CASES_FILE))
        return self

    def _file(self, resource_type: str) -> _TypeFile:
        file = self._types.get(resource_type)
        if file is None:
            if not resource_type.isalpha():
                raise ValueError(f"not a resource type: {resource_type!r}")
            file = self._stack.enter_context(_TypeFile(self.root / f"{resource_type}.ndjson"))
            self._types[resource_type] = file
        return file

    def write(self, bundles: BundleSet) -> int:
        ids: dict[str, list[str]] = {}
        for rtype, resources in bulk_resources(bundles.case_id, bundles.transaction):
            file = self._file(rtype)
            for resource in resources:
                file.write(resource)
                ids.setdefault(rtype, []).append(str(resource["id"]))
        if self._cases is None:
            raise RuntimeError("BulkDirWriter is used outside its 'with' block")
        self._cases._write(dump_json({"case_id": bundles.case_id, "resources": ids}))
        self.cases += 1
        return 1

    def files(self) -> list[BulkFile]:
        return [
            BulkFile(rtype, f"{rtype}.ndjson", f.count, f.bytes)
            for rtype, f in sorted(self._types.items(), key=lambda kv: type_rank(kv[0]))
        ]

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        files = self.files()
        self._stack.__exit__(*exc_info)
        if exc_info[0] is not None:
            return
        old = self._old_files()
        manifest = {
            "format": FORMAT,
            "tool": f"fhir-ivc {__version__}",
            "transactionTime": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "ids": "logical",
            "inputFormat": NDJSON_TYPE,
            "output": [f.as_dict() for f in files],
            "resources": sum(f.count for f in files),
            "cases": {"url": CASES_FILE, "count": self.cases},
            "rejected": self.rejected,
        }
        atomic_write_bytes(self.root / MANIFEST_FILE, dump_json(manifest, pretty=True))
        for name in old - {f.name for f in files}:
            with contextlib.suppress(OSError):
                (self.root / name).unlink()

    def _old_files(self) -> set[str]:
        try:
            return {f.name for f in read_manifest(self.root).files}
        except ValueError:
            return set()


# --------------------------------------------------------------------------------------------
# Reading back, case by case
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkCase:
    """One case of a Bulk Data folder: its id, resource ids by type and line number."""

    index: int
    case_id: str
    resources: Mapping[str, Sequence[str]]

    @property
    def keys(self) -> list[str]:
        return [f"{t}/{i}" for t, ids in self.resources.items() for i in ids]

    def counts(self) -> dict[str, int]:
        return {t: len(ids) for t, ids in self.resources.items()}


def iter_cases(manifest: BulkManifest) -> Iterator[BulkCase]:
    """The cases of ``cases.ndjson``, in order."""
    name = _safe_name((manifest.raw.get("cases") or {}).get("url", CASES_FILE))
    with (manifest.root / name).open("rb") as file:
        for number, line in enumerate(file):
            if line.strip():
                item = orjson.loads(line)
                yield BulkCase(number, str(item["case_id"]), item.get("resources") or {})


def iter_case_resources(
    manifest: BulkManifest,
) -> Iterator[tuple[BulkCase, list[dict[str, Any]]]]:
    """Each case with its resources (type order), read in step from the type files."""
    with contextlib.ExitStack() as stack:
        readers: dict[str, IO[bytes]] = {
            f.type: stack.enter_context(manifest.path(f).open("rb")) for f in manifest.files
        }
        for case in iter_cases(manifest):
            resources: list[dict[str, Any]] = []
            for rtype in sorted(case.resources, key=type_rank):
                reader = readers.get(rtype)
                if reader is None:
                    raise ValueError(f"{CASES_FILE} names {rtype}, which has no file")
                for rid in case.resources[rtype]:
                    resource = orjson.loads(reader.readline() or b"null")
                    if not isinstance(resource, dict) or resource.get("id") != rid:
                        raise ValueError(
                            f"{rtype}.ndjson does not match {CASES_FILE} at case "
                            f"{case.case_id} (edited by hand?): write it again with map --bulk"
                        )
                    resources.append(resource)
            yield case, resources
