"""``fhir_ivc.spark.push_cases`` on ``local[2]`` into the project's HAPI server, then pulled back.

A DataFrame of synthetic cases (plus one bad record) in three partitions is pushed: every case
is created, the bad record is a ``rejected`` row, and a second run changes nothing. The cases
pulled back from the server equal the originals. Logical ids take the same path.
"""

from __future__ import annotations

import uuid

import pytest
from pyspark.sql import SparkSession

from fhir_ivc.client import FhirClient
from fhir_ivc.exceptions import ConfigError
from fhir_ivc.exchange import PatientQuery, pull_many
from fhir_ivc.spark import push_cases
from fhir_ivc.testing import synthetic_cases
from tests.integration import conftest as hapi

from .conftest import case_line

pytestmark = pytest.mark.integration
#: the integration tests' HAPI server fixture (a conftest fixture is seen only below its folder)
fhir_base_url = hapi.fhir_base_url


def _frame(spark: SparkSession, lines: list[str], partitions: int):
    return spark.createDataFrame([(line,) for line in lines], "record string").repartition(
        partitions
    )


@pytest.mark.parametrize(("ids", "n"), [("conditional", 24), ("logical", 8)])
def test_partitions_push_idempotently_and_the_cases_come_back_equal(
    spark: SparkSession, fhir_base_url: str, ids: str, n: int
) -> None:
    system = f"https://fhir-ivc.example.org/fhir/sid/spark-{uuid.uuid4()}"
    cases = list(synthetic_cases(n, seed=50, source_system=system))
    df = _frame(spark, [case_line(c) for c in cases] + ["{broken"], 3)

    first = push_cases(df, fhir_base_url, json_column="record", ids=ids, concurrency=2).collect()
    ok = [r for r in first if r.outcome == "ok"]
    assert len(first) == n + 1
    assert len(ok) == n, [r.detail for r in first if r.outcome == "failed"]
    assert all(r.created > 0 and r.updated == r.unchanged == r.failed == 0 for r in ok)
    (bad,) = [r for r in first if r.outcome == "rejected"]
    assert bad.detail.startswith("broken JSON")
    assert {r.case_id for r in ok} == {c.case_id for c in cases}

    again = push_cases(df, fhir_base_url, json_column="record", ids=ids, concurrency=2).collect()
    ok_again = [r for r in again if r.outcome == "ok"]
    assert len(ok_again) == n
    assert all(r.unchanged == r2.created for r in ok_again for r2 in ok if r2.case_id == r.case_id)
    assert all(r.created == r.updated == r.failed == 0 for r in ok_again)

    with FhirClient(fhir_base_url, timeout=120) as client:
        pulled = pull_many(client, PatientQuery.by_system(system), count=50, concurrency=2)
    assert all(p.ok for p in pulled), [p.error for p in pulled if not p.ok]
    assert sorted((p.case for p in pulled), key=lambda c: c.case_id) == cases


def test_a_server_that_is_not_there_fails_on_the_driver(spark: SparkSession) -> None:
    df = _frame(spark, ["{}"], 1)
    with pytest.raises(ConfigError, match="cannot use the FHIR server"):
        push_cases(df, "http://127.0.0.1:9/fhir", json_column="record", timeout=2)
