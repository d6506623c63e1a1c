"""Every code the mappers emit, in one place (confidence marks in comments: docs/terminology.md).

The single codes are declared here; the code tables are data, in ``codes.toml`` beside this
module, read once (as the local code systems are, from ``local.toml``): only the two tables
keyed by something other than a code string (``IVC_PROCEDURE``, ``FNCLCC_GRADE``) are built
here. Tables are keyed by the case model's own values. Each row lists the standard codings
first and the project's local coding last, so a reader can always round-trip the exact value
while other systems find a standard code. ``Code(..., verified=False)`` (``"unverified"`` in
``codes.toml``) marks codes that no public source read for this project confirmed (mark "M"):
they are carried, never guessed silently, and listed in docs/terminology.md. Verification
notes: docs/terminology-verification.md.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any, Final

from fhir_ivc.terminology import local as L
from fhir_ivc.terminology._tables import Code, CodeTable
from fhir_ivc.terminology.systems import (
    ICD10CM,
    ICD10PCS,
    ICDO3,
    LOINC,
    NCIT,
    RXNORM,
    SNOMED,
    SPECIMEN_TYPE,
)


def _sct(code: str, display: str, *, verified: bool = True) -> Code:
    return Code(SNOMED, code, display, verified)


#: The systems a coding in ``codes.toml`` may name.
_SYSTEMS: Final = {"SNOMED": SNOMED, "LOINC": LOINC, "ICD10CM": ICD10CM, "RXNORM": RXNORM}


def _coding(table: str, item: list[str]) -> Code:
    """``[SYSTEM, code, display]``, with ``"unverified"`` as a 4th item for mark M."""
    system, code, display, *mark = item
    if system not in _SYSTEMS or mark not in ([], ["unverified"]):
        raise ValueError(f"codes.toml [{table}]: {item} is not [SYSTEM, code, display(, mark)]")
    return Code(_SYSTEMS[system], code, display, verified=not mark)


def _read_tables() -> dict[str, CodeTable[str]]:
    """The tables of ``codes.toml`` by name, keys in the order the file lists them."""
    text = files("fhir_ivc.terminology").joinpath("codes.toml").read_text(encoding="utf-8")
    systems = {system.name: system for system in L.LOCAL_CODE_SYSTEMS}
    tables: dict[str, CodeTable[str]] = {}
    for name, table in tomllib.loads(text).items():
        standard = {
            key: tuple(
                _coding(name, c) for c in (codings if isinstance(codings[0], list) else [codings])
            )
            for key, codings in table.get("codes", {}).items()
        }
        local = table.get("local")
        tables[name] = (
            CodeTable.local(name, systems[local], standard) if local else CodeTable(name, standard)
        )
    return tables


_TABLES: Final = _read_tables()


# --- fixed codes of mCODE profiles (V: mCODE 4.0.0 StructureDefinitions) ---------------------
TUMOR_SIZE: Final = Code(LOINC, "21889-1", "Size Tumor")
TUMOR_LONGEST_DIMENSION: Final = Code(LOINC, "33728-7", "Size.maximum dimension in Tumor")
TUMOR_OTHER_DIMENSION: Final = Code(LOINC, "33729-5", "Size additional dimension in Tumor")
HISTOLOGIC_BEHAVIOR_AND_TYPE: Final = Code(LOINC, "31206-6", "Behavior ICD-O-3 Cancer")
HISTOLOGIC_GRADE: Final = Code(NCIT, "C18000", "Histologic Grade")
CANCER_DISEASE_STATUS: Final = Code(LOINC, "97509-4", "Cancer Disease Progression")

# --- conditions --------------------------------------------------------------------------------
#: mCODE style A: the generic disorder, with histology and topography in their own elements (V)
MALIGNANT_NEOPLASM: Final = _sct("363346000", "Malignant neoplastic disease (disorder)")
#: ICD-10-CM code of the IVC (soft tissue of abdomen). Code/display V (mCODE VS); that the IVC
#: indexes to C49.4 is from memory (docs/terminology-verification.md, "Still open"): ask the
#: target registry.
ICD10CM_PRIMARY: Final = Code(
    ICD10CM, "C49.4", "Malignant neoplasm of connective and soft tissue of abdomen", verified=False
)
#: V2: UMLS / ICD-O-3 listings
LEIOMYOSARCOMA_SNOMED: Final = _sct("1163022006", "Leiomyosarcoma (morphologic abnormality)")
POSTOPERATIVE_COMPLICATION: Final = _sct("385486001", "Postoperative complication (disorder)")

#: Topography of the tumor (V2: several IGs)
IVC_STRUCTURE: Final = _sct("64131007", "Inferior vena cava structure (body structure)")

ICDO3_MORPHOLOGY_DISPLAY: Final = {"8890/3": "Leiomyosarcoma, NOS", "8890/6": None}


def icdo3_morphology(code: str, text: str | None = None) -> dict[str, Any]:
    """ICD-O-3 morphology coding (display known for leiomyosarcoma only)."""
    coding: dict[str, str] = {"system": ICDO3, "code": code}
    display = ICDO3_MORPHOLOGY_DISPLAY.get(code)
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": text} if text else {})}


IVC_SEGMENT: Final = _TABLES["ivc-segment"]
INTRALUMINAL_SITE: Final = _TABLES["intraluminal-site"]
ORGAN: Final = _TABLES["organ"]
SYMPTOM: Final = _TABLES["symptom"]
EVIDENCE_TYPE: Final = _TABLES["evidence-type"]

# --- imaging, markers, biopsy ------------------------------------------------------------------
IMAGING_MODALITY: Final = _TABLES["imaging-modality"]

#: TumorSize.method for pathology (V: mCODE TumorSizeMethodVS)
GROSS_EXAMINATION: Final = _sct(
    "787377000", "Gross examination and sampling of tissue specimen (procedure)"
)

FINDING: Final = _TABLES["finding"]

BIOPSY: Final = _sct("86273004", "Biopsy (procedure)")
BIOPSY_METHOD: Final = _TABLES["biopsy-method"]

# --- surgery -----------------------------------------------------------------------------------
IVC_PROCEDURE: Final = CodeTable(
    "ivc-procedure",
    {
        # No verified SNOMED concept for resection of the IVC (verification notes): local code +
        # text; ICD-10-PCS 06B00ZZ "Excision of Inferior Vena Cava, Open Approach" from memory.
        True: (
            Code(
                ICD10PCS,
                "06B00ZZ",
                "Excision of Inferior Vena Cava, Open Approach",
                verified=False,
            ),
            L.IVC_PROCEDURE["en-bloc-ivc-resection"],
        ),
        False: (L.IVC_PROCEDURE["ivc-resection"],),
    },
)

PROCEDURE_INTENT: Final = _TABLES["procedure-intent"]
SURGICAL_STEP: Final = _TABLES["surgical-step"]
ASSOCIATED_RESECTION: Final = _TABLES["associated-resection"]

#: Body site of an associated resection, by (kind, side): standard codes where verified
RENAL_VEIN: Final = _sct("56400007", "Renal vein structure (body structure)")


def resection_site(kind: str, side: str | None) -> dict[str, Any]:
    """Body site of an associated resection: the organ (sided where it has sides), or text."""
    organ = {
        "nephrectomy": f"{side}-kidney" if side else None,
        "liver-resection": "liver",
    }.get(kind)
    if organ is not None:
        standard = [c for c in ORGAN.entries[organ] if c.system == SNOMED]
        return concept_of(*standard, text=ORGAN.entries[organ][-1].display)
    text = {
        "nephrectomy": "kidney",
        "renal-vein-segment": "renal vein",
        "adrenalectomy": "adrenal gland",
        "liver-resection": "liver",
    }[kind]
    text = f"{side} {text}" if side else text
    return concept_of(RENAL_VEIN, text=text) if kind == "renal-vein-segment" else {"text": text}


def concept_of(*codes: Code, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [c.coding() for c in codes]} if codes else {}
    if text:
        out["text"] = text
    return out


LATERALITY: Final = _TABLES["laterality"]
IVC_MANAGEMENT: Final = _TABLES["ivc-management"]
GRAFT_MATERIAL: Final = _TABLES["graft-material"]
COMPLICATION: Final = _TABLES["complication"]
CLAVIEN_DINDO: Final = _TABLES["clavien-dindo"]
RESECTION_EXTENT: Final = _TABLES["resection-extent"]
MANAGEMENT_DECISION: Final = _TABLES["management-decision"]

OBS: Final = L.OBSERVATION_CODE  # local observation codes, by name

# --- pathology ---------------------------------------------------------------------------------
TUMOR_SPECIMEN: Final = Code(SPECIMEN_TYPE, "TUMOR", "Tumor")
#: LOINC 11526-1 "Pathology study" (from memory)
PATHOLOGY_REPORT: Final = Code(LOINC, "11526-1", "Pathology study", verified=False)

HISTOLOGIC_GRADE_VALUE: Final = _TABLES["histologic-grade"]
#: HistologicGrade.method when an FNCLCC grade is stated (V2: in mCODE grading-system VS list)
FNCLCC_SYSTEM: Final = _sct(
    "426757001", "French Federation of Cancer Centers Sarcoma Group grading system (staging scale)"
)
FNCLCC_GRADE: Final = CodeTable(
    "fnclcc-grade", {int(k): (L.FNCLCC_GRADE[k],) for k in L.FNCLCC_GRADE.concepts}
)

#: V2 (FSH profile with display; Chile IGs)
SURGICAL_MARGIN: Final = _sct("396631001", "Surgical margin observable (observable entity)")
MARGIN_STATUS: Final = _TABLES["margin-status"]
R_CLASSIFICATION: Final = _TABLES["r-classification"]

# --- metastases, therapy, outcome --------------------------------------------------------------
METASTASIS_SITE: Final = _TABLES["metastasis-site"]
METASTASIS_BODY_SITE: Final = _TABLES["metastasis-body-site"]
AGENT: Final = _TABLES["agent"]
THERAPY_SETTING: Final = _TABLES["therapy-setting"]
NOT_GIVEN_THERAPY: Final = _TABLES["therapy"]
DISEASE_STATUS: Final = _TABLES["disease-status"]
VITAL_STATUS: Final = _TABLES["vital-status"]

ALL_TABLES: Final = tuple(v for v in list(globals().values()) if isinstance(v, CodeTable))
