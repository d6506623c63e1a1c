"""``fhir_ivc.spark.map_cases`` on ``local[2]`` against ``fhir-ivc map`` on the same records.

Bundles are compared as text: the executors must produce the CLI's lines byte for byte (JSON
text column and nested columns alike), and the rejects must be the CLI's rejects.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from typer.testing import CliRunner

from fhir_ivc.cli._app import app
from fhir_ivc.spark import case_schema, map_cases
from fhir_ivc.testing import synthetic_cases

from .conftest import case_line, cli_map, write_ndjson

#: the brief's floor for the equality test
N_CASES = 1_000


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    """1,000 synthetic case records, and the CLI's bundles for them (no validation: the bundles
    are the same either way; validation is compared on the smaller set below)."""
    folder = tmp_path_factory.mktemp("many")
    lines = [case_line(case) for case in synthetic_cases(N_CASES, seed=21)]
    cases = write_ndjson(folder / "cases.ndjson", lines)
    bundles, rejects = cli_map(cases, folder / "bundles.ndjson", "--no-validate")
    assert rejects == []
    assert len(bundles) == 2 * N_CASES
    return cases, lines, bundles


def test_a_json_column_maps_to_the_clis_bundles_byte_for_byte(spark: SparkSession, many) -> None:
    _, lines, cli_bundles = many
    df = spark.createDataFrame([(line,) for line in lines], "record string").repartition(4)
    result = map_cases(df, json_column="record", validate=False).persist()
    # SHA-256 of each bundle computed on the executors: the same test as comparing the text,
    # without collecting ~80 MB of bundles through the driver
    rows = result.rows.select("case_id", "kind", F.sha2("bundle", 256).alias("sha")).collect()
    assert result.rejects.count() == 0
    expected = {
        (i // 2, ("transaction", "collection")[i % 2]): _sha(b) for i, b in enumerate(cli_bundles)
    }
    order = {orjson.loads(line)["case_id"]: i for i, line in enumerate(lines)}
    got = {(order[r.case_id], r.kind): r.sha for r in rows}
    assert len(rows) == len(got) == 2 * N_CASES
    assert got == expected


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: nested columns: a quarter of them (the reader differs, the mapping is the one tested above)
N_NESTED = 250


def test_nested_columns_read_with_case_schema_map_to_the_same_bytes(
    spark: SparkSession, many, tmp_path: Path
) -> None:
    _, lines, cli_bundles = many
    path = write_ndjson(tmp_path / "nested.ndjson", lines[:N_NESTED])
    df = spark.read.schema(case_schema()).json(str(path))  # one partition: one small file
    rows = map_cases(df, validate=False, kinds=["transaction"]).rows
    got = [r.sha for r in rows.select(F.sha2("bundle", 256).alias("sha")).collect()]
    assert got == [_sha(b) for b in cli_bundles[0 : 2 * N_NESTED : 2]]  # file order, kept


BAD = [
    "{broken",
    '{"case_id": "no-patient", "source_system": "urn:ietf:rfc:3986"}',
    "[1, 2]",
    "",
]


def test_rejects_are_the_clis_and_the_good_records_still_map(
    spark: SparkSession, tmp_path: Path
) -> None:
    good = [case_line(case) for case in synthetic_cases(12, seed=22)]
    bad_value = orjson.loads(good[3])
    bad_value["patient"]["sex"] = "not-a-sex"
    records = [
        good[0],
        BAD[0],
        *good[1:3],
        BAD[1],
        orjson.dumps(bad_value).decode(),
        good[1],  # a second record of the same case: a duplicate, as for the CLI
        BAD[2],
        *good[4:],
    ]
    cli_bundles, cli_rejects = cli_map(
        write_ndjson(tmp_path / "c.ndjson", records), tmp_path / "b.ndjson"
    )

    df = spark.createDataFrame([(r,) for r in [*records, BAD[3], None]], "record string")
    result = map_cases(df.coalesce(1), json_column="record").persist()  # one partition: in order
    assert [r.bundle for r in result.rows.collect()] == cli_bundles
    rejects = [(r.case_id, r.path, r.reason) for r in result.rejects.collect()]
    blank = (None, "", "no case record (null or blank)")
    assert rejects == [(r["case_id"], r["path"], r["reason"]) for r in cli_rejects] + [blank, blank]
    assert {r.source for r in result.rejects.collect()} >= {"partition 0 row 1"}


def test_bulk_output_is_the_ndjson_of_map_bulk_line_for_line(spark: SparkSession, tmp_path):
    lines = [case_line(case) for case in synthetic_cases(10, seed=23)]
    cases = write_ndjson(tmp_path / "c.ndjson", lines)
    folder = tmp_path / "map-bulk"
    result = CliRunner().invoke(app, ["map", str(cases), "--bulk", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    expected = {
        path.stem: path.read_text(encoding="utf-8").splitlines()
        for path in folder.glob("*.ndjson")
        if path.name not in ("cases.ndjson", "rejects.ndjson")
    }
    df = spark.createDataFrame([(line,) for line in lines], "record string").coalesce(1)
    bulk = map_cases(df, json_column="record", ids="logical", output="bulk").persist()
    rows = bulk.rows.collect()
    got: dict[str, list[str]] = {}
    for row in rows:
        got.setdefault(row.resource_type, []).append(row.resource)
    assert got == expected  # each type's lines, in the order of map --bulk's file
    ids = {f"{r.resource_type}/{orjson.loads(r.resource)['id']}" for r in rows}
    refs = {ref for r in rows for ref in _references(orjson.loads(r.resource))}
    assert refs
    assert refs <= ids  # every reference resolves inside the export

    # one folder of NDJSON per resource type, as docs/spark.md says to write them
    out = tmp_path / "bulk"
    bulk.rows.select("resource_type", "resource").write.partitionBy("resource_type").text(str(out))
    written = {
        part.name.removeprefix("resource_type="): [
            line for file in sorted(part.glob("part-*")) for line in file.read_text().splitlines()
        ]
        for part in out.glob("resource_type=*")
    }
    assert written == expected


def _references(value):
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value["reference"]
        for v in value.values():
            yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


def test_bad_settings_fail_on_the_driver(spark: SparkSession) -> None:
    df = spark.createDataFrame([("{}",)], "record string")
    with pytest.raises(ValueError, match="no column 'case'"):
        map_cases(df, json_column="case")
    with pytest.raises(ValueError, match="logical ids"):
        map_cases(df, json_column="record", output="bulk")
    with pytest.raises(ValueError, match="JSON text"):
        map_cases(spark.range(3), json_column="id")
