"""``map_cases``: a DataFrame of case records to bundles (or Bulk NDJSON rows) and rejects.

One ``mapInArrow`` pass: each Python worker reads its partition's Arrow batches, maps record by
record with :class:`~fhir_ivc.spark._records.RecordMapper` (the CLI's reader, mapper, checks
and serialiser) and yields output batches of at most :data:`OUT_BATCH` records, so a worker
holds one input batch and one small output batch. Good rows and rejects leave the pass as one
DataFrame (:attr:`MapResult.frame`); :attr:`MapResult.rows` and :attr:`MapResult.rejects` are
its two projections. Without :meth:`MapResult.persist`, every action on either recomputes the
pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pyarrow as pa
from pyspark import StorageLevel, TaskContext
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from fhir_ivc.bulk.ids import IdMode
from fhir_ivc.io import DEFAULT_LIMITS, BundleKind, InputLimits
from fhir_ivc.spark._records import Mapped, Output, RecordMapper

__all__ = ["OUT_BATCH", "REJECT", "MapResult", "map_cases"]

#: Records per output Arrow batch (a bundle is tens of kB: 256 records are a few MB).
OUT_BATCH: Final = 256
#: ``kind`` of a reject row in :attr:`MapResult.frame`.
REJECT: Final = "reject"

#: The one output of the pass: rows (kind = bundle kind or resource type) and rejects.
FRAME_SCHEMA: Final = T.StructType(
    [
        T.StructField("case_id", T.StringType(), True),
        T.StructField("kind", T.StringType(), False),
        T.StructField("json", T.StringType(), True),
        T.StructField("path", T.StringType(), True),
        T.StructField("reason", T.StringType(), True),
        T.StructField("source", T.StringType(), True),
    ]
)
_ARROW_SCHEMA: Final = to_arrow_schema(FRAME_SCHEMA)


@dataclass(frozen=True)
class MapResult:
    """The mapped rows and the rejects of one :func:`map_cases` call."""

    frame: DataFrame
    output: Output

    @property
    def rows(self) -> DataFrame:
        """``bundles``: ``(case_id, kind, bundle)``, ``kind`` transaction or collection, the
        bundle as ``fhir-ivc map --ndjson`` writes it; ``bulk``: ``(case_id, resource_type,
        resource)``, one Bulk Data NDJSON line per resource."""
        kind, value = (
            ("kind", "bundle") if self.output == "bundles" else ("resource_type", "resource")
        )
        return self.frame.where(F.col("kind") != REJECT).select(
            "case_id", F.col("kind").alias(kind), F.col("json").alias(value)
        )

    @property
    def rejects(self) -> DataFrame:
        """``(case_id, path, reason, source)``: one row per problem of each rejected record."""
        return self.frame.where(F.col("kind") == REJECT).select(
            "case_id", "path", "reason", "source"
        )

    def persist(self, level: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> MapResult:
        """Keep the pass's output, so that ``rows`` and ``rejects`` are computed once."""
        return MapResult(self.frame.persist(level), self.output)


@dataclass
class _Batch:
    """Output columns being filled, turned into an Arrow batch."""

    columns: dict[str, list[Any]] = field(
        default_factory=lambda: {name: [] for name in _ARROW_SCHEMA.names}
    )
    records: int = 0

    def add(self, mapped: Mapped) -> None:
        self.records += 1
        for row in mapped.rows:
            self._append(row.case_id, row.kind, row.json, None, None, None)
        for reject in mapped.rejects:
            self._append(reject.case_id, REJECT, None, reject.path, reject.reason, reject.source)

    def _append(self, *values: str | None) -> None:
        for name, value in zip(_ARROW_SCHEMA.names, values, strict=True):
            self.columns[name].append(value)

    def batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict(self.columns, schema=_ARROW_SCHEMA)


def partition_id() -> int:
    """The Spark partition this worker runs (0 outside a task)."""
    context = TaskContext.get()
    return context.partitionId() if context is not None else 0


@dataclass(frozen=True)
class RecordReader:
    """How a partition's Arrow batches become ``(record, source)``: a JSON column or nested
    columns, sources from a column or ``partition P row N``. Pickled to the executors."""

    json_column: str | None
    source_column: str | None

    def records(
        self, batches: Iterable[pa.RecordBatch], mapper: RecordMapper
    ) -> Iterator[tuple[Any, str]]:
        partition = partition_id()
        number = 0
        for batch in batches:
            sources: list[Any] | None = None
            if self.source_column is not None:
                sources = batch.column(self.source_column).to_pylist()
            if self.json_column is not None:
                values = batch.column(self.json_column).to_pylist()
                results = [mapper.read_json(value) for value in values]
            else:
                names = [n for n in batch.schema.names if n != self.source_column]
                results = [mapper.read_columns(row) for row in batch.select(names).to_pylist()]
            for i, result in enumerate(results):
                where = sources[i] if sources is not None else None
                yield (
                    result,
                    str(where) if where is not None else f"partition {partition} row {number}",
                )
                number += 1


@dataclass(frozen=True)
class MapPartition:
    """The function ``mapInArrow`` runs on each partition (pickled with its settings)."""

    reader: RecordReader
    kinds: tuple[BundleKind, ...]
    ids: IdMode
    output: Output
    validate: bool
    limits: InputLimits

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        mapper = RecordMapper.of_task(
            self.kinds, self.ids, self.output, validate=self.validate, limits=self.limits
        )
        out = _Batch()
        for result, source in self.reader.records(batches, mapper):
            out.add(mapper.map(result, source))
            if out.records >= OUT_BATCH:
                yield out.batch()
                out = _Batch()
        if out.records:
            yield out.batch()


def check_columns(df: DataFrame, json_column: str | None, source_column: str | None) -> None:
    """A ``ValueError`` now, on the driver, for a column the DataFrame does not have."""
    for name in (json_column, source_column):
        if name is not None and name not in df.columns:
            raise ValueError(f"the DataFrame has no column {name!r} (columns: {df.columns})")
    if json_column is not None:
        kind = df.schema[json_column].dataType
        if not isinstance(kind, T.StringType | T.BinaryType):
            raise ValueError(f"column {json_column!r} must hold JSON text (string), not {kind}")


def map_cases(
    df: DataFrame,
    *,
    json_column: str | None = None,
    source_column: str | None = None,
    kinds: Sequence[BundleKind | str] = (BundleKind.TRANSACTION, BundleKind.COLLECTION),
    ids: IdMode = "conditional",
    output: Output = "bundles",
    validate: bool = True,
    limits: InputLimits = DEFAULT_LIMITS,
) -> MapResult:
    """Map every case record of ``df``, as ``fhir-ivc map`` does, on the executors.

    ``json_column`` names a column of JSON text, one case record per cell; without it, the
    columns of ``df`` are the record's fields (nested, as :func:`fhir_ivc.spark.case_schema`
    reads them; null = absent). ``source_column`` (for example ``F.input_file_name()`` added
    as a column) names where each record came from in the rejects; by default ``partition P
    row N``. ``kinds``, ``ids``, ``validate`` and ``limits`` are ``map``'s ``--kind``,
    ``--ids``, ``--validate`` and ``--max-record-bytes``/``--max-depth``; ``output="bulk"``
    gives one row per resource of the logical-id transaction (Bulk Data NDJSON; ``ids`` must
    be ``"logical"``). A second record with the same case id is rejected when it is in the
    same partition (``df.repartition("case_id")`` puts all records of one id together).
    """
    check_columns(df, json_column, source_column)
    probe = RecordMapper(tuple(BundleKind(k) for k in kinds), ids, output)  # bad settings: now
    task = MapPartition(
        RecordReader(json_column, source_column),
        tuple(probe.kinds),
        ids,
        output,
        validate,
        limits,
    )
    return MapResult(df.mapInArrow(task, FRAME_SCHEMA), output)
