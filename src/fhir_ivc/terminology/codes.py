"""Every code the mappers emit, in one place (confidence marks in comments: docs/terminology.md).

Tables are keyed by the case model's own values. Each row lists the standard codings first and
the project's local coding last, so a reader can always round-trip the exact value while other
systems find a standard code. ``Code(..., verified=False)`` marks codes that no public source
read for this project confirmed (mark "M"): they are carried, never guessed silently, and
listed in docs/terminology.md. Verification notes: docs/terminology-verification.md.
"""

from __future__ import annotations

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


IVC_SEGMENT: Final = CodeTable.local(
    "ivc-segment",
    L.IVC_SEGMENT,
    {
        # SNOMED qualifiers in mCODE's required locationQualifier VS (V2; 260528009 membership
        # to be confirmed: docs/terminology-verification.md)
        "upper": _sct("261183002", "Upper (qualifier value)"),
        "middle": _sct("260528009", "Middle (qualifier value)"),
        "lower": _sct("261122009", "Lower (qualifier value)"),
    },
)

INTRALUMINAL_SITE: Final = CodeTable.local(
    "intraluminal-site",
    L.INTRALUMINAL_SITE,
    {
        "right-atrium": _sct("73829009", "Right atrial structure (body structure)"),
        "renal-vein": _sct("56400007", "Renal vein structure (body structure)"),
        # hepatic vein: MAPPING's 8887007/79741000 unconfirmed; 8993003 seen in DICOM CID 12114
        "hepatic-vein": _sct("8993003", "Hepatic vein structure (body structure)", verified=False),
    },
)

ORGAN: Final = CodeTable.local(
    "organ",
    L.ORGAN,
    {
        "liver": _sct("10200004", "Liver structure (body structure)"),
        "right-kidney": _sct("9846003", "Right kidney structure (body structure)"),
        "left-kidney": _sct("18639004", "Left kidney structure (body structure)", verified=False),
        "duodenum": _sct("38848004", "Duodenal structure (body structure)", verified=False),
        "pancreas": _sct("15776009", "Pancreatic structure (body structure)", verified=False),
        "aorta": _sct("15825003", "Aortic structure (body structure)", verified=False),
    },
)

SYMPTOM: Final = CodeTable.local(
    "symptom",
    L.SYMPTOM,
    {
        "abdominal-pain": _sct("21522001", "Abdominal pain (finding)"),
        "hematuria": _sct("34436003", "Blood in urine (finding)"),
    },
)

EVIDENCE_TYPE: Final = CodeTable(
    "evidence-type",
    {
        # mCODE cancer-disease-status-evidence-type VS roots (V)
        "histology": (_sct("714797009", "Histologic test (procedure)"),),
        "imaging": (_sct("363679005", "Imaging (procedure)"),),
        "cytology": (_sct("108257001", "Anatomic pathology procedure (procedure)"),),
    },
)

# --- imaging, markers, biopsy ------------------------------------------------------------------
IMAGING_MODALITY: Final = CodeTable.local(
    "imaging-modality",
    L.IMAGING_MODALITY,
    {
        # 16310003, 113091000, 77477000: V (mCODE TumorSizeMethodVS); 40701008 V2
        "ultrasound": _sct("16310003", "Diagnostic ultrasonography (procedure)"),
        "ct": _sct("77477000", "Computerized axial tomography (procedure)"),
        "mri": _sct("113091000", "Magnetic resonance imaging (procedure)"),
        "echocardiography": _sct("40701008", "Echocardiography (procedure)"),
        "transesophageal-echocardiography": _sct(
            "105376000", "Transesophageal echocardiography (procedure)"
        ),
    },
)

#: TumorSize.method for pathology (V: mCODE TumorSizeMethodVS)
GROSS_EXAMINATION: Final = _sct(
    "787377000", "Gross examination and sampling of tissue specimen (procedure)"
)

FINDING: Final = CodeTable(
    "finding",
    {
        "negative": (_sct("260385009", "Negative (qualifier value)"),),
        "positive": (_sct("10828004", "Positive (qualifier value)", verified=False),),
    },
)

BIOPSY: Final = _sct("86273004", "Biopsy (procedure)")
BIOPSY_METHOD: Final = CodeTable.local("biopsy-method", L.BIOPSY_METHOD)

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

PROCEDURE_INTENT: Final = CodeTable(
    "procedure-intent",
    {
        "curative": (_sct("373808002", "Curative - procedure intent"),),
        "palliative": (_sct("363676003", "Palliative - procedure intent"),),
    },
)

SURGICAL_STEP: Final = CodeTable.local(
    "surgical-step",
    L.SURGICAL_STEP,
    {
        "laparotomy": _sct("86481000", "Laparotomy (procedure)"),
        "median-sternotomy": _sct("359672006", "Median sternotomy (procedure)"),
        "thoracotomy": _sct("29529008", "Thoracotomy (procedure)", verified=False),
        "cardiopulmonary-bypass": _sct("63697000", "Cardiopulmonary bypass operation (procedure)"),
        "cannulation": _sct("42825003", "Cannulation (procedure)"),
        "laparoscopy": _sct("73632009", "Laparoscopy (procedure)", verified=False),
    },
)

ASSOCIATED_RESECTION: Final = CodeTable.local(
    "associated-resection",
    L.ASSOCIATED_RESECTION,
    {
        "nephrectomy": _sct("175905003", "Total nephrectomy (procedure)"),
    },
)

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


LATERALITY: Final = CodeTable(
    "laterality",
    {
        "left": (_sct("7771000", "Left (qualifier value)"),),
        "right": (_sct("24028007", "Right (qualifier value)"),),
    },
)

IVC_MANAGEMENT: Final = CodeTable.local("ivc-management", L.IVC_MANAGEMENT)
GRAFT_MATERIAL: Final = CodeTable.local("graft-material", L.GRAFT_MATERIAL)
COMPLICATION: Final = CodeTable.local(
    "complication",
    L.COMPLICATION,
    # 385494008 "Hematoma (disorder)": verified; no "postoperative hematoma" concept found
    {"hematoma": _sct("385494008", "Hematoma (disorder)")},
)
CLAVIEN_DINDO: Final = CodeTable.local("clavien-dindo", L.CLAVIEN_DINDO)
RESECTION_EXTENT: Final = CodeTable.local("resection-extent", L.RESECTION_EXTENT)
MANAGEMENT_DECISION: Final = CodeTable.local("management-decision", L.MANAGEMENT_DECISION)

OBS: Final = L.OBSERVATION_CODE  # local observation codes, by name

# --- pathology ---------------------------------------------------------------------------------
TUMOR_SPECIMEN: Final = Code(SPECIMEN_TYPE, "TUMOR", "Tumor")
#: LOINC 11526-1 "Pathology study" (from memory)
PATHOLOGY_REPORT: Final = Code(LOINC, "11526-1", "Pathology study", verified=False)

HISTOLOGIC_GRADE_VALUE: Final = CodeTable(
    "histologic-grade",
    {  # V: mCODE histologic-grade VS
        "low": (_sct("1155708003", "Low histologic grade (qualifier value)"),),
        "intermediate": (_sct("1286893008", "Intermediate histologic grade (qualifier value)"),),
        "high": (_sct("1155707008", "High histologic grade (qualifier value)"),),
    },
)
#: HistologicGrade.method when an FNCLCC grade is stated (V2: in mCODE grading-system VS list)
FNCLCC_SYSTEM: Final = _sct(
    "426757001", "French Federation of Cancer Centers Sarcoma Group grading system (staging scale)"
)
FNCLCC_GRADE: Final = CodeTable(
    "fnclcc-grade", {int(k): (L.FNCLCC_GRADE[k],) for k in L.FNCLCC_GRADE.concepts}
)

#: V2 (FSH profile with display; Chile IGs)
SURGICAL_MARGIN: Final = _sct("396631001", "Surgical margin observable (observable entity)")
MARGIN_STATUS: Final = CodeTable.local(
    "margin-status",
    L.MARGIN_STATUS,
    {
        "uninvolved": _sct("55182004", "Surgical margin uninvolved by tumor (finding)"),
        "involved": _sct("370109009", "Surgical margin involved by tumor (finding)"),
    },
)

R_CLASSIFICATION: Final = CodeTable.local(
    "r-classification",
    L.R_CLASSIFICATION,
    {
        "R0": _sct("258254000", "Residual tumor stage R0 (finding)"),
        # R1 278271003 (not 258255004), R2 and RX from one source each: verification notes
        "R1": _sct("278271003", "Residual tumor stage R1 (finding)"),
        "R2": _sct("278272005", "Residual tumor stage R2 (finding)", verified=False),
        "RX": _sct("258253006", "Residual tumor stage RX (finding)", verified=False),
    },
)

# --- metastases, therapy, outcome --------------------------------------------------------------
METASTASIS_SITE: Final = CodeTable(
    "metastasis-site",
    {
        "lung": (  # SNOMED V2, ICD-10-CM V (mCODE secondary-cancer-disorder VS)
            _sct("94391008", "Secondary malignant neoplasm of lung (disorder)"),
            Code(ICD10CM, "C78.00", "Secondary malignant neoplasm of unspecified lung"),
        ),
        "liver": (
            _sct("94381002", "Secondary malignant neoplasm of liver (disorder)"),
            Code(
                ICD10CM, "C78.7", "Secondary malignant neoplasm of liver and intrahepatic bile duct"
            ),
        ),
        "bone": (
            _sct("94222008", "Secondary malignant neoplasm of bone (disorder)", verified=False),
            Code(ICD10CM, "C79.51", "Secondary malignant neoplasm of bone"),
        ),
        "peritoneum": (
            Code(
                ICD10CM, "C78.6", "Secondary malignant neoplasm of retroperitoneum and peritoneum"
            ),
        ),
    },
)
METASTASIS_BODY_SITE: Final = CodeTable(
    "metastasis-body-site",
    {
        "lung": (_sct("39607008", "Lung structure (body structure)"),),
        "liver": (_sct("10200004", "Liver structure (body structure)"),),
        "bone": (_sct("272673000", "Bone structure (body structure)", verified=False),),
        "peritoneum": (_sct("15425007", "Peritoneum structure (body structure)", verified=False),),
    },
)

AGENT: Final = CodeTable.local(
    "agent",
    L.AGENT,
    {
        # RxNorm ingredient RXCUIs (docs/terminology-verification.md). Agents whose RXCUI no
        # source confirmed carry the project's local code only, never a guessed RXCUI
        # (dacarbazine: 3098 from memory, not found in any source).
        "doxorubicin": Code(RXNORM, "3639", "doxorubicin"),
        "ifosfamide": Code(RXNORM, "5657", "ifosfamide"),
        "gemcitabine": Code(RXNORM, "12574", "gemcitabine"),
        "docetaxel": Code(RXNORM, "72962", "docetaxel"),
        "pazopanib": Code(RXNORM, "714438", "pazopanib", verified=False),  # one source
        "cyclophosphamide": Code(RXNORM, "3002", "cyclophosphamide"),
        "vincristine": Code(RXNORM, "11202", "vincristine"),
        "paclitaxel": Code(RXNORM, "56946", "paclitaxel"),
    },
)

THERAPY_SETTING: Final = CodeTable.local("therapy-setting", L.THERAPY_SETTING)
NOT_GIVEN_THERAPY: Final = CodeTable.local(
    "therapy",
    L.NOT_GIVEN_THERAPY,
    {
        "chemotherapy": _sct("367336001", "Chemotherapy (procedure)"),
        "radiotherapy": _sct(
            "108290001", "Radiation oncology AND/OR radiotherapy (procedure)", verified=False
        ),
    },
)

DISEASE_STATUS: Final = CodeTable(
    "disease-status",
    {  # V: mCODE condition-status-trend VS
        "improving": (_sct("268910001", "Patient's condition improved (finding)"),),
        "stable": (_sct("359746009", "Patient's condition stable (finding)"),),
        "worsening": (_sct("271299001", "Patient's condition worsened (finding)"),),
        "undetermined": (_sct("709137006", "Patient condition undetermined (finding)"),),
    },
)

VITAL_STATUS: Final = CodeTable(
    "vital-status",
    {
        "alive": (_sct("438949009", "Alive (finding)"),),
        "dead": (_sct("419099009", "Dead (finding)", verified=False),),
    },
)

ALL_TABLES: Final = tuple(v for v in list(globals().values()) if isinstance(v, CodeTable))
