"""A job for ``spark-submit``: case records (NDJSON lines) to ``fhir-ivc map``'s bundles.

    spark-submit --master local[2] \\
      --conf spark.pyspark.python=/opt/fhir-ivc/bin/python \\
      examples/spark_map_job.py cases.ndjson out/

writes ``out/bundles/part-*.txt`` (the lines ``fhir-ivc map cases.ndjson --ndjson FILE`` writes,
transaction and collection bundles, validated) and ``out/rejects/part-*.json`` (``case_id``,
``path``, ``reason``, ``source``: one row per problem of a rejected record). The session comes
from spark-submit (``--master``, ``--conf``); the interpreter named by ``spark.pyspark.python``
must have the fhir_ivc wheel installed (docs/spark.md, "Running it on a cluster").
``tests/spark/test_submit.py`` runs this script with spark-submit on ``local[2]``.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from fhir_ivc.spark import map_cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("cases", help="NDJSON case records (a file, folder or glob Spark reads)")
    parser.add_argument("out", help="output folder: bundles/ and rejects/ are written under it")
    parser.add_argument("--partitions", type=int, default=0, help="repartition to N first")
    args = parser.parse_args()

    spark = SparkSession.builder.appName("fhir-ivc-map").getOrCreate()
    df = spark.read.text(args.cases).withColumnRenamed("value", "record")
    if args.partitions:
        df = df.repartition(args.partitions)
    result = map_cases(df, json_column="record").persist()
    result.rows.select("bundle").write.mode("overwrite").text(f"{args.out}/bundles")
    result.rejects.write.mode("overwrite").json(f"{args.out}/rejects")
    print(f"{result.rows.count()} bundles, {result.rejects.count()} reject rows")
    spark.stop()


if __name__ == "__main__":
    main()
