"""FHIR mapping and push on Apache Spark (``pip install 'fhir-ivc[spark]'``; docs/spark.md).

::

    from fhir_ivc.spark import case_schema, map_cases, push_cases

    df = spark.read.schema(case_schema()).json("cases/*.ndjson")     # or a JSON text column
    result = map_cases(df).persist()
    result.rows.select("bundle").write.text("out/bundles")           # = fhir-ivc map --ndjson
    result.rejects.show()                                           # case_id, path, reason, source
    report = push_cases(df, "http://127.0.0.1:8080/fhir", concurrency=4)

The executors run the same reader, mapper, validator and serialiser as ``fhir-ivc map``, so a
bundle is byte for byte the CLI's. ``import fhir_ivc`` never imports this package (nor
pyspark); importing it needs pyspark and pyarrow.
"""

try:
    import pyarrow  # noqa: F401
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        "fhir_ivc.spark needs PySpark and pyarrow: pip install 'fhir-ivc[spark]'"
    ) from exc

from fhir_ivc.spark._records import OUTPUTS, Output
from fhir_ivc.spark.map import MapResult, map_cases
from fhir_ivc.spark.push import REPORT_SCHEMA, check_server, push_cases
from fhir_ivc.spark.schema import case_schema

__all__ = [
    "OUTPUTS",
    "REPORT_SCHEMA",
    "MapResult",
    "Output",
    "case_schema",
    "check_server",
    "map_cases",
    "push_cases",
]
