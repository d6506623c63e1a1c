"""One partition's push without Spark or a server: ``PushPartition`` on Arrow batches, against an
``httpx.MockTransport`` that answers transactions, counting how many are in flight."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import orjson
import pyarrow as pa

from fhir_ivc.client import AsyncFhirClient
from fhir_ivc.io import DEFAULT_LIMITS
from fhir_ivc.spark.map import RecordReader
from fhir_ivc.spark.push import PushPartition
from fhir_ivc.testing import synthetic_cases

from .conftest import case_line

BASE = "http://fhir.test/fhir"


class FakeServer:
    """Creates every entry (201) the first time it sees its URL, then says unchanged (200)."""

    def __init__(self, fail_case: str | None = None) -> None:
        self.in_flight = 0
        self.most = 0
        self.seen: set[str] = set()
        self.fail_case = fail_case

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if request.method == "GET":  # the manifest search of corrections: none yet
                return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})
            await anyio.sleep(0.2)  # longer than mapping a case: the pushers are the limit
            bundle = orjson.loads(request.content)
            if self.fail_case and self.fail_case in request.content.decode():
                outcome = {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "invalid", "diagnostics": "no"}],
                }
                return httpx.Response(400, json=outcome)
            entries: list[dict[str, Any]] = []
            for entry in bundle["entry"]:
                url = entry["request"]["url"]
                status = "200 OK" if url in self.seen else "201 Created"
                self.seen.add(url)
                rtype = entry["resource"]["resourceType"]
                entries.append(
                    {"response": {"status": status, "location": f"{rtype}/1/_history/1"}}
                )
            if all(e["response"]["status"] == "200 OK" for e in entries):
                for e in entries:
                    e["response"]["outcome"] = {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "information",
                                "code": "informational",
                                "details": {
                                    "coding": [
                                        {
                                            "system": "https://hapifhir.io/fhir/CodeSystem/"
                                            "hapi-fhir-storage-response-code",
                                            "code": "SUCCESSFUL_UPDATE_NO_CHANGE",
                                        }
                                    ]
                                },
                            }
                        ],
                    }
            body = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
            return httpx.Response(200, json=body)
        finally:
            self.in_flight -= 1


def _partition(server: FakeServer, concurrency: int) -> PushPartition:
    def client() -> AsyncFhirClient:
        return AsyncFhirClient(BASE, transport=httpx.MockTransport(server))

    return PushPartition(
        RecordReader("record", None), client, "conditional", concurrency, False, DEFAULT_LIMITS
    )


def _batches(lines: list[str | None]) -> list[pa.RecordBatch]:
    half = len(lines) // 2
    return [
        pa.RecordBatch.from_pydict({"record": part}, schema=pa.schema([("record", pa.string())]))
        for part in (lines[:half], lines[half:])
    ]


def test_a_partition_pushes_every_case_at_most_concurrency_at_a_time_and_reports_each():
    cases = list(synthetic_cases(14, seed=40))
    lines: list[str | None] = [case_line(c) for c in cases]
    lines.insert(5, "{broken")
    server = FakeServer(fail_case=cases[9].case_id)
    rows = [r for b in _partition(server, 3)(iter(_batches(lines))) for r in b.to_pylist()]
    assert 2 <= server.most <= 3  # concurrent, and never more than concurrency
    by_case = {r["case_id"]: r for r in rows}
    assert len(rows) == 15
    assert sorted(r["outcome"] for r in rows).count("ok") == 13
    assert by_case[None]["outcome"] == "rejected"
    assert by_case[None]["detail"].startswith("broken JSON")
    assert orjson.loads(by_case[None]["report"])["status"] == "rejected"
    failed = by_case[cases[9].case_id]
    assert (failed["outcome"], failed["status"]) == ("failed", 400)
    assert cases[9].case_id in failed["detail"]
    ok = by_case[cases[0].case_id]
    report = orjson.loads(ok["report"])
    assert ok["created"] == len(report["entries"]) > 0
    assert report["status"] == "ok"
    assert ok["source"] == "partition 0 row 0"

    again = [r for b in _partition(server, 2)(iter(_batches(lines))) for r in b.to_pylist()]
    ok = [r for r in again if r["outcome"] == "ok"]
    assert len(ok) == 13
    assert all(r["unchanged"] > 0 and r["created"] == r["updated"] == 0 for r in ok)
