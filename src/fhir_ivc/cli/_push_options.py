"""The options of ``fhir-ivc push`` that make it a feed: corrections, state, dead letters,
replay (and ``pull --manifest-only``, which reads what corrections write)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fhir_ivc.cli._options import choice_option, file_option

__all__ = [
    "CorrectionsMode",
    "CorrectionsOption",
    "DeadLettersOption",
    "ManifestOnlyOption",
    "MaxEntriesOption",
    "ReplayOption",
    "StateOption",
]


class CorrectionsMode(StrEnum):
    DELETE = "delete"
    ENTERED_IN_ERROR = "entered-in-error"
    OFF = "off"


CorrectionsOption = Annotated[
    CorrectionsMode,
    choice_option(
        "--corrections",
        help="What happens to resources the server holds for a case that its new bundle no "
        "longer has (found through the case's manifest List, one GET per case): delete "
        "(default), entered-in-error (marked so, where the server forbids deletes), off "
        "(left alone, no manifest written).",
    ),
]

#: ``fhir-ivc pull --manifest-only``: the manifest push writes decides what is the case
ManifestOnlyOption = Annotated[
    bool,
    typer.Option(
        "--manifest-only",
        help="Read only the resources each case's manifest List lists (written by 'push'): "
        "leaves out what other systems wrote into the patient's compartment. Cases without "
        "a manifest are read as usual.",
    ),
]


StateOption = Annotated[
    Path | None,
    file_option(
        "--state",
        help="SQLite journal of the cases the server confirmed, with their bundle's hash "
        "(created if missing). A re-run sends no request for a case whose bundle is unchanged "
        "and confirmed; it pushes the others.",
    ),
]
DeadLettersOption = Annotated[
    Path | None,
    file_option(
        "--dead-letters",
        help="Append the cases the server refused or that failed after the retries to this "
        "NDJSON file (record or bundle, error, case element, attempts, time), for --replay.",
    ),
]
MaxEntriesOption = Annotated[
    int | None,
    typer.Option(
        "--max-entries",
        min=1,
        metavar="N",
        help="Send a case with more than N entries as several transactions of at most N, in "
        "reference order (servers that cap transactions: AWS 25, Azure 500). A case is then "
        "no longer all or nothing; a re-run completes it.",
        show_default=False,
    ),
]
ReplayOption = Annotated[
    Path | None,
    file_option(
        "--replay",
        exists=True,
        help="Send the cases of a dead-letter file again (instead of INPUT); what succeeds "
        "leaves the file, what fails stays with its new error (rewritten atomically).",
    ),
]
