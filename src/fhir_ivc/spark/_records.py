"""What runs on the executors, without Spark: one case record in, its output rows or rejects out.

A record reaches :class:`RecordMapper` either as JSON text (a string column) or as the dict of a
row of nested columns (``Row.asDict(recursive=True)`` / ``pyarrow`` ``to_pylist()``). Both go
through the CLI's own reader (:func:`fhir_ivc.io.iter_case_records` with the same
:class:`~fhir_ivc.io.InputLimits`): a nested row is first written as JSON, nulls dropped (a null
column is an absent field), so both are checked by exactly the code ``fhir-ivc map`` runs. Then
the case is mapped by :func:`fhir_ivc.build_bundles`, each bundle checked by
:func:`fhir_ivc.bundle.checks.validation_check`, and serialised by
:func:`fhir_ivc.io.dump_json`: the bundle text is byte for byte a line of ``fhir-ivc map
--ndjson`` (without its newline). Nothing here imports pyspark.
"""

from __future__ import annotations

import decimal
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from fhir_ivc.bulk.ids import IdMode
from fhir_ivc.bulk.ndjson import bulk_resources
from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.bundle.checks import BundleCheck, bundle_problem, validation_check
from fhir_ivc.exceptions import CaseInputError, MappingError
from fhir_ivc.io import (
    DEFAULT_LIMITS,
    STDIN,
    BundleKind,
    CaseRecordResult,
    InputFormat,
    InputLimits,
    RecordSource,
    bundle_of,
    dump_json,
    iter_case_records,
)
from fhir_ivc.model import Case

__all__ = [
    "DUPLICATE",
    "OUTPUTS",
    "Output",
    "RecordMapper",
    "Reject",
    "Row",
    "drop_nulls",
    "resource_lines",
]

#: ``bundles``: one row per case and bundle kind; ``bulk``: one row per resource (logical ids).
Output = Literal["bundles", "bulk"]
OUTPUTS: Final[tuple[Output, ...]] = ("bundles", "bulk")

#: The CLI's reason for a second record with the same case id (``fhir-ivc map``).
DUPLICATE: Final = "duplicate case_id: an earlier record has the same id"


@dataclass(frozen=True, slots=True)
class Row:
    """One output row: a bundle (``kind`` = bundle kind) or a resource (``kind`` = its type)."""

    case_id: str
    kind: str
    json: str


@dataclass(frozen=True, slots=True)
class Reject:
    """One problem of a rejected record, as ``fhir-ivc map`` writes it to its rejects file."""

    case_id: str | None
    path: str
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one record gave: rows (it mapped) or rejects (it did not), never both."""

    case_id: str | None
    rows: tuple[Row, ...] = ()
    rejects: tuple[Reject, ...] = ()
    #: the case's bundles when it mapped (for push: the transaction and its sources)
    bundles: CaseBundles | None = None


def drop_nulls(value: Any) -> Any:
    """``value`` without null members of objects, at every depth (null column = absent field)."""
    if isinstance(value, Mapping):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [drop_nulls(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    """What orjson does not write itself (it writes dates and datetimes as ISO 8601)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"a {type(value).__name__} cannot be a case record value")


def resource_lines(bundles: CaseBundles) -> Iterator[Row]:
    """Bulk Data NDJSON: each resource of a logical-id transaction and the case's manifest
    List as one compact JSON line, in the order ``fhir-ivc map --bulk`` writes them (types in
    load order, referenced first: :func:`fhir_ivc.bulk.ndjson.bulk_resources`)."""
    for rtype, resources in bulk_resources(bundles.case_id, bundles.transaction):
        for resource in resources:
            yield Row(bundles.case_id, rtype, dump_json(resource)[:-1].decode())


@dataclass
class RecordMapper:
    """Maps the records of one partition; keeps the case ids seen (the CLI's duplicate rule).

    ``kinds`` are the bundles written per case (``output="bundles"``); ``output="bulk"`` writes
    the resources of the logical-id transaction instead (``ids`` must be ``"logical"``) and
    checks that transaction. ``check=None`` skips validation (``--no-validate``).
    """

    kinds: Sequence[BundleKind] = (BundleKind.TRANSACTION, BundleKind.COLLECTION)
    ids: IdMode = "conditional"
    output: Output = "bundles"
    check: BundleCheck | None = validation_check
    limits: InputLimits = DEFAULT_LIMITS
    _seen: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {self.output!r}")
        if self.output == "bulk":
            if self.ids != "logical":
                raise ValueError("Bulk NDJSON needs logical ids (ids='logical')")
            self.kinds = (BundleKind.TRANSACTION,)
        self.kinds = tuple(BundleKind(kind) for kind in self.kinds)
        if not self.kinds:
            raise ValueError("kinds is empty: name at least one bundle kind")

    @classmethod
    def of_task(
        cls,
        kinds: Sequence[BundleKind],
        ids: IdMode,
        output: Output = "bundles",
        *,
        validate: bool,
        limits: InputLimits,
    ) -> RecordMapper:
        """The mapper a Spark task runs: ``validate=False`` is ``--no-validate`` (no check)."""
        return cls(kinds, ids, output, validation_check if validate else None, limits)

    # --- reading -------------------------------------------------------------------------------

    def read_json(self, text: str | bytes | None) -> CaseRecordResult | None:
        """The record in JSON text, read as ``fhir-ivc map`` reads a ``.json`` file of one case.

        ``None`` for a null or blank value (reported by :meth:`map` as a reject).
        """
        data = text.encode("utf-8") if isinstance(text, str) else text
        if data is None or not data.strip():
            return None
        return self._read(data)

    def _read(self, data: bytes) -> CaseRecordResult:
        results = list(
            iter_case_records(
                STDIN, input_format=InputFormat.JSON, stdin=io.BytesIO(data), limits=self.limits
            )
        )
        if len(results) == 1 and results[0].source.index is None:
            return results[0]
        # a JSON array: the CLI reads the elements of a .json array as records, a cell is one
        reason = "a case record must be an object (a mapping), not an array"
        return CaseRecordResult(RecordSource(STDIN, 1), errors=(CaseInputError(None, "", reason),))

    def read_columns(self, row: Mapping[str, Any]) -> CaseRecordResult:
        """The record in a row of nested columns (null = absent), read like JSON text."""
        try:
            text = orjson.dumps(drop_nulls(row), default=_json_default)
        except TypeError as exc:  # orjson.JSONEncodeError: a cell of a type JSON has not
            error = CaseInputError(_row_case_id(row), "", f"a value JSON cannot hold ({exc})")
            return CaseRecordResult(RecordSource(STDIN, 1), errors=(error,))
        return self._read(text)  # at least "{}": never blank

    # --- mapping -------------------------------------------------------------------------------

    def map(self, result: CaseRecordResult | None, source: str) -> Mapped:
        """Rows for a valid, new, mappable case whose bundles pass the check; else its rejects."""
        if result is None:
            return self._rejected(None, [("", "no case record (null or blank)")], source)
        if result.case is None:
            problems = [(err.path, err.reason) for err in result.errors]
            return self._rejected(result.case_id, problems, source, ids=result.errors)
        case = result.case
        if case.case_id in self._seen:
            return self._rejected(case.case_id, [("case_id", DUPLICATE)], source)
        self._seen.add(case.case_id)
        try:
            return self._build(case, source)
        except MappingError as exc:
            return self._rejected(exc.case_id or case.case_id, [(exc.path, str(exc))], source)
        except Exception as exc:  # a bug: this case is a reject, the partition's job goes on
            # the type only: a message could quote the record (no patient data in rejects)
            reason = f"internal error while mapping ({type(exc).__name__}): please report it"
            return self._rejected(case.case_id, [("", reason)], source)

    def _build(self, case: Case, source: str) -> Mapped:
        bundles = build_bundles(case, ids=self.ids)
        if self.check is not None:
            problems = [
                problem
                for kind in self.kinds
                if (
                    problem := bundle_problem(
                        bundle_of(bundles, kind), bundles.sources, self.check, kind
                    )
                )
            ]
            if problems:
                return self._rejected(case.case_id, problems, source)
        if self.output == "bulk":
            rows = tuple(resource_lines(bundles))
        else:
            rows = tuple(
                Row(case.case_id, str(kind), dump_json(bundle_of(bundles, kind))[:-1].decode())
                for kind in self.kinds
            )
        return Mapped(case.case_id, rows=rows, bundles=bundles)

    @staticmethod
    def _rejected(
        case_id: str | None,
        problems: Sequence[tuple[str, str]],
        source: str,
        *,
        ids: Sequence[CaseInputError] = (),
    ) -> Mapped:
        # a record's errors each carry the case id as read (the CLI writes err.case_id)
        case_ids = [err.case_id for err in ids] or [case_id] * len(problems)
        rejects = tuple(
            Reject(cid, path, reason, source)
            for cid, (path, reason) in zip(case_ids, problems, strict=True)
        )
        return Mapped(case_id, rejects=rejects)


def _row_case_id(row: Mapping[str, Any]) -> str | None:
    value = row.get("case_id")
    return value if isinstance(value, str) and value else None
