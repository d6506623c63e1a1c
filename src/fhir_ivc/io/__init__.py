"""Case input and bundle output: bounded streaming readers (case files and case tables) and
atomic writers.

See ``docs/cli.md`` for the formats. Nothing here imports rich or typer (that is ``fhir_ivc.cli``).
"""

from fhir_ivc.io.inputs import finish_record, iter_case_records, iter_inputs, iter_pending_inputs
from fhir_ivc.io.limits import DEFAULT_LIMITS, InputLimits
from fhir_ivc.io.reader import (
    EXTENSIONS,
    STDIN,
    CaseRecordResult,
    InputFormat,
    PendingRecord,
    RecordSource,
    Unreadable,
    iter_json_values,
)
from fhir_ivc.io.schema import SCHEMA_ID, case_json_schema
from fhir_ivc.io.writer import (
    STDOUT,
    BundleDirWriter,
    BundleEncoder,
    BundleKind,
    BundleSet,
    BundleWriter,
    EncodedBundleWriter,
    NdjsonBundleWriter,
    RejectsWriter,
    atomic_write_bytes,
    bundle_of,
    dump_json,
)

__all__ = [
    "DEFAULT_LIMITS",
    "EXTENSIONS",
    "SCHEMA_ID",
    "STDIN",
    "STDOUT",
    "BundleDirWriter",
    "BundleEncoder",
    "BundleKind",
    "BundleSet",
    "BundleWriter",
    "CaseRecordResult",
    "EncodedBundleWriter",
    "InputFormat",
    "InputLimits",
    "NdjsonBundleWriter",
    "PendingRecord",
    "RecordSource",
    "RejectsWriter",
    "Unreadable",
    "atomic_write_bytes",
    "bundle_of",
    "case_json_schema",
    "dump_json",
    "finish_record",
    "iter_case_records",
    "iter_inputs",
    "iter_json_values",
    "iter_pending_inputs",
]
