"""``push_cases``: map and push a DataFrame's case records, partition by partition.

Each partition is one Spark task. In it, the task's Python worker reads and maps the records
one at a time (as :func:`fhir_ivc.spark.map_cases` does, transaction bundles only) and hands
each bundle over a channel of ``concurrency`` slots to ``concurrency`` pushers on one
:class:`~fhir_ivc.AsyncFhirClient` (its event loop runs in a thread of the worker, through an
anyio blocking portal): at most ``concurrency`` transactions are in flight per task, so the
server sees at most ``concurrency × running tasks``. A pusher sends one case with
:func:`fhir_ivc.push_many` (a list of one: every error becomes a failed result), exactly like
``fhir-ivc push``; the report rows come back as the cases finish.

Idempotency is the bundles': conditional ``PUT Type?identifier=`` or ``PUT Type/<uuid>``
(``ids="logical"``), so a re-run (or a retried task) reports ``unchanged`` and duplicates
nothing. Conditional updates of the same new resource racing from two tasks can both create
it: do not push the same case from two partitions at once (``spark.speculation`` stays off,
its default), or use logical ids, which cannot duplicate.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.from_thread
import httpx
import orjson
import pyarrow as pa
from anyio.streams.memory import MemoryObjectReceiveStream
from pyspark.sql import DataFrame
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from fhir_ivc.bulk.ids import IdMode
from fhir_ivc.client import AsyncFhirClient, FhirClient
from fhir_ivc.exchange import OUTCOMES, CasePushResult
from fhir_ivc.exchange.manifest import Corrections
from fhir_ivc.exchange.pipeline import Item, check_push_server, push_item, unusable_server
from fhir_ivc.exchange.report import public_url, rejected_record, result_record
from fhir_ivc.io import DEFAULT_LIMITS, BundleKind, InputLimits
from fhir_ivc.spark._records import Mapped, RecordMapper
from fhir_ivc.spark.map import OUT_BATCH, RecordReader, check_columns

__all__ = ["REPORT_SCHEMA", "check_server", "push_cases"]

#: One row per record: the case's outcome, its entry counts, and the case's record of
#: ``fhir-ivc push --report`` (``report``, JSON; ``index`` counts within the partition).
REPORT_SCHEMA: Final = T.StructType(
    [
        T.StructField("case_id", T.StringType(), True),
        T.StructField("outcome", T.StringType(), False),
        T.StructField("status", T.IntegerType(), True),
        T.StructField("detail", T.StringType(), True),
        *(T.StructField(outcome, T.IntegerType(), False) for outcome in OUTCOMES),
        T.StructField("source", T.StringType(), True),
        T.StructField("report", T.StringType(), False),
    ]
)
_ARROW_SCHEMA: Final = to_arrow_schema(REPORT_SCHEMA)

ClientFactory = Callable[[], AsyncFhirClient]


def _rejected_row(mapped: Mapped, index: int, source: str) -> dict[str, Any]:
    problems = [(r.path, r.reason) for r in mapped.rejects]
    record = rejected_record(mapped.case_id, problems, index=index, source=source)
    detail = "; ".join(f"{path}: {reason}" if path else reason for path, reason in problems)
    return {
        "case_id": mapped.case_id,
        "outcome": "rejected",
        "status": None,
        "detail": detail,
        **dict.fromkeys(OUTCOMES, 0),
        "source": source,
        "report": orjson.dumps(record).decode(),
    }


def _pushed_row(item: Item, result: CasePushResult) -> dict[str, Any]:
    record = result_record(result, index=item.index, source=item.source)
    counts: dict[str, int] = {str(outcome): n for outcome, n in result.counts.items()}
    return {
        "case_id": result.case_id,
        "outcome": "ok" if result.ok else "failed",
        "status": result.status_code,
        "detail": result.error,
        **counts,
        "source": item.source,
        "report": orjson.dumps(record).decode(),
    }


def _batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=_ARROW_SCHEMA)


@dataclass(frozen=True)
class _Client:
    """Builds the task's client on the executor (pickled: the URL and settings, no socket)."""

    server: str
    auth: httpx.Auth | None
    timeout: float
    verify: bool

    def __call__(self) -> AsyncFhirClient:
        return AsyncFhirClient(
            self.server, auth=self.auth, timeout=self.timeout, verify=self.verify
        )


@dataclass(frozen=True)
class PushPartition:
    """The function ``mapInArrow`` runs on each partition: map, push, report."""

    reader: RecordReader
    client: ClientFactory
    ids: IdMode
    concurrency: int
    validate: bool
    limits: InputLimits
    corrections: Corrections = "delete"

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        mapper = RecordMapper.of_task(
            (BundleKind.TRANSACTION,), self.ids, validate=self.validate, limits=self.limits
        )
        done: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        rows: list[dict[str, Any]] = []

        def drain() -> None:
            while True:
                try:
                    rows.append(done.get_nowait())
                except queue.Empty:
                    return

        with anyio.from_thread.start_blocking_portal() as portal:
            send, receive = anyio.create_memory_object_stream[Item](
                max_buffer_size=self.concurrency
            )
            pushers = portal.start_task_soon(self._push_all, receive, done.put)
            for index, (result, source) in enumerate(self.reader.records(batches, mapper)):
                mapped = mapper.map(result, source)
                if mapped.bundles is None:
                    rows.append(_rejected_row(mapped, index, source))
                else:
                    bundles = mapped.bundles
                    item = Item(
                        index, bundles.case_id, source, bundles.transaction, bundles.sources
                    )
                    portal.call(send.send, item)  # waits while every slot is taken
                drain()
                if len(rows) >= OUT_BATCH:
                    yield _batch(rows)
                    rows = []
            portal.call(send.aclose)
            pushers.result()  # every case sent has been answered (or the pushers failed)
        drain()
        if rows:
            yield _batch(rows)

    async def _push_all(
        self,
        receive: MemoryObjectReceiveStream[Item],
        report: Callable[[dict[str, Any]], None],
    ) -> None:
        async def pusher(client: AsyncFhirClient, channel: MemoryObjectReceiveStream[Item]) -> None:
            async with channel:
                async for item in channel:
                    result = await push_item(client, item, corrections=self.corrections)
                    report(_pushed_row(item, result))

        async with self.client() as client, anyio.create_task_group() as group:
            for _ in range(self.concurrency):
                group.start_soon(pusher, client, receive.clone())
            receive.close()


def check_server(
    server: str,
    *,
    ids: IdMode = "conditional",
    auth: httpx.Auth | None = None,
    timeout: float = 60.0,
    verify: bool = True,
) -> str:
    """On the driver, before any task starts: ``GET /metadata`` says FHIR 4.0.x with the
    transaction interaction (and, for logical ids, no refused ``updateCreate``), as ``fhir-ivc
    push`` checks; else :class:`~fhir_ivc.ConfigError`. Returns ``FHIR <version>[, software]``."""
    where = public_url(server)
    with (
        FhirClient(server, auth=auth, timeout=timeout, verify=verify) as client,
        unusable_server(where),
    ):
        info = client.capabilities()
    check_push_server(info, where, ids=ids, pusher="push")
    return f"FHIR {info.fhir_version}" + (f", {info.software}" if info.software else "")


def push_cases(
    df: DataFrame,
    server: str,
    *,
    json_column: str | None = None,
    source_column: str | None = None,
    ids: IdMode = "conditional",
    concurrency: int = 4,
    validate: bool = True,
    limits: InputLimits = DEFAULT_LIMITS,
    auth: httpx.Auth | None = None,
    timeout: float = 60.0,
    verify: bool = True,
    corrections: Corrections = "delete",
    client: ClientFactory | None = None,
) -> DataFrame:
    """Map and push every record of ``df``; the per-case report as a DataFrame (lazy).

    Records are read as :func:`fhir_ivc.spark.map_cases` reads them (``json_column``,
    ``source_column``, ``limits``); ``ids``, ``concurrency`` (transactions in flight per task),
    ``validate``, ``timeout`` and ``corrections`` (the case's manifest; ``delete``,
    ``entered-in-error`` or ``off``: docs/push.md) are ``fhir-ivc push``'s options, with its
    defaults. The server is checked here,
    on the driver; the pushes happen when the report is computed (``.collect()``, ``.write``,
    ``.count()``): compute it once, every action pushes again (harmlessly: ``unchanged``).
    ``client`` replaces the default ``AsyncFhirClient(server, auth=..., ...)`` factory; it is
    pickled to the executors, as ``auth`` is (prefer credentials the executors read
    themselves, e.g. a factory reading a token file, over a token in the driver).
    """
    if not 1 <= concurrency <= 64:
        raise ValueError(f"concurrency must be 1..64, not {concurrency}")
    check_columns(df, json_column, source_column)
    RecordMapper((BundleKind.TRANSACTION,), ids)  # bad settings: now, on the driver
    check_server(server, ids=ids, auth=auth, timeout=timeout, verify=verify)
    task = PushPartition(
        RecordReader(json_column, source_column),
        client or _Client(server, auth, timeout, verify),
        ids,
        concurrency,
        validate,
        limits,
        corrections,
    )
    return df.mapInArrow(task, REPORT_SCHEMA)
