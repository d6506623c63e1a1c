"""Case input and bundle output: streaming readers, atomic writers, a structural bundle check.

See ``docs/cli.md`` for the formats. Nothing here imports rich or typer (that is ``fhir_ivc.cli``).
"""

from fhir_ivc.io.reader import (
    EXTENSIONS,
    STDIN,
    CaseRecordResult,
    InputFormat,
    RecordSource,
    iter_case_records,
    iter_inputs,
)

__all__ = [
    "EXTENSIONS",
    "STDIN",
    "CaseRecordResult",
    "InputFormat",
    "RecordSource",
    "iter_case_records",
    "iter_inputs",
]
