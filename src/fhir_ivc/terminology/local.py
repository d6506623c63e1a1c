"""The project's own code systems, for elements that have no standard code (docs/profiles.md
says why each exists).

Their codes, displays and definitions are data, in ``local.toml`` beside this module (one table
a system); the two systems whose codes follow a rule (``clavien-dindo``, and ``agent`` from the
case model's agents) are built here. Each one is published as a FHIR CodeSystem under
``profiles/`` (generated from :data:`LOCAL_CODE_SYSTEMS` by ``scripts/build_profiles.py``): this
module and its table are the single source of their codes and definitions.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Final, get_args

from fhir_ivc.model.outcome import Agent
from fhir_ivc.terminology._tables import LocalCodeSystem

__all__ = ["LOCAL_CODE_SYSTEMS"]


def _read_tables() -> dict[str, LocalCodeSystem]:
    """The systems of ``local.toml`` by name, codes in the order the file lists them."""
    text = files("fhir_ivc.terminology").joinpath("local.toml").read_text(encoding="utf-8")
    return {
        name: LocalCodeSystem(
            name,
            table["title"],
            table["description"],
            {
                code: (display, definition)
                for code, (display, definition) in table["concepts"].items()
            },
        )
        for name, table in tomllib.loads(text).items()
    }


_TABLES: Final = _read_tables()

IVC_SEGMENT: Final = _TABLES["ivc-segment"]
IVC_PROCEDURE: Final = _TABLES["ivc-procedure"]
IVC_MANAGEMENT: Final = _TABLES["ivc-management"]
GRAFT_MATERIAL: Final = _TABLES["vascular-graft-material"]
SURGICAL_STEP: Final = _TABLES["surgical-step"]
ASSOCIATED_RESECTION: Final = _TABLES["associated-resection"]
OBSERVATION_CODE: Final = _TABLES["observation-code"]
R_CLASSIFICATION: Final = _TABLES["r-classification"]
MARGIN_STATUS: Final = _TABLES["margin-status"]
FNCLCC_GRADE: Final = _TABLES["fnclcc-grade"]
COMPLICATION: Final = _TABLES["complication"]
SYMPTOM: Final = _TABLES["symptom"]
IMAGING_MODALITY: Final = _TABLES["imaging-modality"]
BIOPSY_METHOD: Final = _TABLES["biopsy-method"]
THERAPY_SETTING: Final = _TABLES["therapy-setting"]
NOT_GIVEN_THERAPY: Final = _TABLES["therapy-not-given"]
RESECTION_EXTENT: Final = _TABLES["resection-extent"]
MANAGEMENT_DECISION: Final = _TABLES["management-decision"]
ORGAN: Final = _TABLES["organ"]
INTRALUMINAL_SITE: Final = _TABLES["intraluminal-site"]

CLAVIEN_DINDO = LocalCodeSystem(
    "clavien-dindo",
    "Clavien-Dindo grade",
    "Clavien-Dindo classification of surgical complications.",
    {
        g: (f"Grade {g}", f"Clavien-Dindo grade {g}.")
        for g in ("I", "II", "IIIa", "IIIb", "IVa", "IVb", "V")
    },
)

AGENT = LocalCodeSystem(
    "agent",
    "Systemic agent",
    "Systemic agents used for leiomyosarcoma; carried beside RxNorm, and alone where no RxNorm "
    "code was confirmed.",
    {a: (a, f"{a} (active ingredient).") for a in get_args(Agent)},
)

LOCAL_CODE_SYSTEMS: tuple[LocalCodeSystem, ...] = (
    AGENT,
    ASSOCIATED_RESECTION,
    BIOPSY_METHOD,
    CLAVIEN_DINDO,
    COMPLICATION,
    FNCLCC_GRADE,
    GRAFT_MATERIAL,
    IMAGING_MODALITY,
    INTRALUMINAL_SITE,
    IVC_MANAGEMENT,
    IVC_PROCEDURE,
    IVC_SEGMENT,
    MANAGEMENT_DECISION,
    MARGIN_STATUS,
    NOT_GIVEN_THERAPY,
    OBSERVATION_CODE,
    ORGAN,
    RESECTION_EXTENT,
    R_CLASSIFICATION,
    SURGICAL_STEP,
    SYMPTOM,
    THERAPY_SETTING,
)
