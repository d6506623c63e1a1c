"""The options of ``fhir-ivc push`` that make it a feed: corrections (and, later, state, dead
letters, replay, splitting), and :class:`FeedOptions`, the one value that carries them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import typer

from fhir_ivc.exchange.manifest import Corrections

__all__ = ["CorrectionsMode", "CorrectionsOption", "FeedOptions", "ManifestOnlyOption"]


class CorrectionsMode(StrEnum):
    DELETE = "delete"
    ENTERED_IN_ERROR = "entered-in-error"
    OFF = "off"


CorrectionsOption = Annotated[
    CorrectionsMode,
    typer.Option(
        "--corrections",
        case_sensitive=False,
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


@dataclass(frozen=True)
class FeedOptions:
    """What the push workers do per case besides the transaction itself."""

    corrections: Corrections = "delete"
