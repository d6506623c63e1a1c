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


IVC_SEGMENT: Final = CodeTable(
    "ivc-segment",
    {
        # SNOMED qualifiers in mCODE's required locationQualifier VS (V2; 260528009 membership
        # to be confirmed: docs/terminology-verification.md)
        "upper": (_sct("261183002", "Upper (qualifier value)"), L.IVC_SEGMENT["upper"]),
        "middle": (_sct("260528009", "Middle (qualifier value)"), L.IVC_SEGMENT["middle"]),
        "lower": (_sct("261122009", "Lower (qualifier value)"), L.IVC_SEGMENT["lower"]),
    },
)

INTRALUMINAL_SITE: Final = CodeTable(
    "intraluminal-site",
    {
        "right-atrium": (
            _sct("73829009", "Right atrial structure (body structure)"),
            L.INTRALUMINAL_SITE["right-atrium"],
        ),
        "renal-vein": (
            _sct("56400007", "Renal vein structure (body structure)"),
            L.INTRALUMINAL_SITE["renal-vein"],
        ),
        # hepatic vein: MAPPING's 8887007/79741000 unconfirmed; 8993003 seen in DICOM CID 12114
        "hepatic-vein": (
            _sct("8993003", "Hepatic vein structure (body structure)", verified=False),
            L.INTRALUMINAL_SITE["hepatic-vein"],
        ),
    },
)

ORGAN: Final = CodeTable(
    "organ",
    {
        "liver": (_sct("10200004", "Liver structure (body structure)"), L.ORGAN["liver"]),
        "right-kidney": (
            _sct("9846003", "Right kidney structure (body structure)"),
            L.ORGAN["right-kidney"],
        ),
        "left-kidney": (
            _sct("18639004", "Left kidney structure (body structure)", verified=False),
            L.ORGAN["left-kidney"],
        ),
        "duodenum": (
            _sct("38848004", "Duodenal structure (body structure)", verified=False),
            L.ORGAN["duodenum"],
        ),
        "pancreas": (
            _sct("15776009", "Pancreatic structure (body structure)", verified=False),
            L.ORGAN["pancreas"],
        ),
        "aorta": (
            _sct("15825003", "Aortic structure (body structure)", verified=False),
            L.ORGAN["aorta"],
        ),
    },
)

SYMPTOM: Final = CodeTable(
    "symptom",
    {
        "abdominal-pain": (
            _sct("21522001", "Abdominal pain (finding)"),
            L.SYMPTOM["abdominal-pain"],
        ),
        "hematuria": (_sct("34436003", "Blood in urine (finding)"), L.SYMPTOM["hematuria"]),
        "lower-limb-edema": (L.SYMPTOM["lower-limb-edema"],),
        "other": (L.SYMPTOM["other"],),
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
IMAGING_MODALITY: Final = CodeTable(
    "imaging-modality",
    {
        # 16310003, 113091000, 77477000: V (mCODE TumorSizeMethodVS); 40701008 V2
        "ultrasound": (
            _sct("16310003", "Diagnostic ultrasonography (procedure)"),
            L.IMAGING_MODALITY["ultrasound"],
        ),
        "doppler-ultrasound": (L.IMAGING_MODALITY["doppler-ultrasound"],),
        "ct": (
            _sct("77477000", "Computerized axial tomography (procedure)"),
            L.IMAGING_MODALITY["ct"],
        ),
        "mri": (
            _sct("113091000", "Magnetic resonance imaging (procedure)"),
            L.IMAGING_MODALITY["mri"],
        ),
        "echocardiography": (
            _sct("40701008", "Echocardiography (procedure)"),
            L.IMAGING_MODALITY["echocardiography"],
        ),
        "transesophageal-echocardiography": (
            _sct("105376000", "Transesophageal echocardiography (procedure)"),
            L.IMAGING_MODALITY["transesophageal-echocardiography"],
        ),
        "pet-ct": (L.IMAGING_MODALITY["pet-ct"],),
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
BIOPSY_METHOD: Final = CodeTable(
    "biopsy-method", {k: (L.BIOPSY_METHOD[k],) for k in L.BIOPSY_METHOD.concepts}
)

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

SURGICAL_STEP: Final = CodeTable(
    "surgical-step",
    {
        "laparotomy": (_sct("86481000", "Laparotomy (procedure)"), L.SURGICAL_STEP["laparotomy"]),
        "median-sternotomy": (
            _sct("359672006", "Median sternotomy (procedure)"),
            L.SURGICAL_STEP["median-sternotomy"],
        ),
        "thoracotomy": (
            _sct("29529008", "Thoracotomy (procedure)", verified=False),
            L.SURGICAL_STEP["thoracotomy"],
        ),
        "cardiopulmonary-bypass": (
            _sct("63697000", "Cardiopulmonary bypass operation (procedure)"),
            L.SURGICAL_STEP["cardiopulmonary-bypass"],
        ),
        "total-hepatic-vascular-exclusion": (L.SURGICAL_STEP["total-hepatic-vascular-exclusion"],),
        "in-situ-cold-liver-perfusion": (L.SURGICAL_STEP["in-situ-cold-liver-perfusion"],),
        "cannulation": (
            _sct("42825003", "Cannulation (procedure)"),
            L.SURGICAL_STEP["cannulation"],
        ),
        "intraoperative-tee": (L.SURGICAL_STEP["intraoperative-tee"],),
        "laparoscopy": (
            _sct("73632009", "Laparoscopy (procedure)", verified=False),
            L.SURGICAL_STEP["laparoscopy"],
        ),
    },
)

ASSOCIATED_RESECTION: Final = CodeTable(
    "associated-resection",
    {
        "nephrectomy": (
            _sct("175905003", "Total nephrectomy (procedure)"),
            L.ASSOCIATED_RESECTION["nephrectomy"],
        ),
        "renal-vein-segment": (L.ASSOCIATED_RESECTION["renal-vein-segment"],),
        "adrenalectomy": (L.ASSOCIATED_RESECTION["adrenalectomy"],),
        "liver-resection": (L.ASSOCIATED_RESECTION["liver-resection"],),
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

IVC_MANAGEMENT: Final = CodeTable(
    "ivc-management", {k: (L.IVC_MANAGEMENT[k],) for k in L.IVC_MANAGEMENT.concepts}
)
GRAFT_MATERIAL: Final = CodeTable(
    "graft-material", {k: (L.GRAFT_MATERIAL[k],) for k in L.GRAFT_MATERIAL.concepts}
)
COMPLICATION: Final = CodeTable(
    "complication",
    {
        # 385494008 "Hematoma (disorder)": verified; no "postoperative hematoma" concept found
        k: ((_sct("385494008", "Hematoma (disorder)"),) if k == "hematoma" else ())
        + (L.COMPLICATION[k],)
        for k in L.COMPLICATION.concepts
    },
)
CLAVIEN_DINDO: Final = CodeTable(
    "clavien-dindo", {k: (L.CLAVIEN_DINDO[k],) for k in L.CLAVIEN_DINDO.concepts}
)
RESECTION_EXTENT: Final = CodeTable(
    "resection-extent", {k: (L.RESECTION_EXTENT[k],) for k in L.RESECTION_EXTENT.concepts}
)
MANAGEMENT_DECISION: Final = CodeTable(
    "management-decision",
    {k: (L.MANAGEMENT_DECISION[k],) for k in L.MANAGEMENT_DECISION.concepts},
)

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
MARGIN_STATUS: Final = CodeTable(
    "margin-status",
    {
        "uninvolved": (
            _sct("55182004", "Surgical margin uninvolved by tumor (finding)"),
            L.MARGIN_STATUS["uninvolved"],
        ),
        "involved": (
            _sct("370109009", "Surgical margin involved by tumor (finding)"),
            L.MARGIN_STATUS["involved"],
        ),
        "cannot-be-assessed": (L.MARGIN_STATUS["cannot-be-assessed"],),
    },
)

R_CLASSIFICATION: Final = CodeTable(
    "r-classification",
    {
        "R0": (_sct("258254000", "Residual tumor stage R0 (finding)"), L.R_CLASSIFICATION["R0"]),
        # R1 278271003 (not 258255004), R2 and RX from one source each: verification notes
        "R1": (_sct("278271003", "Residual tumor stage R1 (finding)"), L.R_CLASSIFICATION["R1"]),
        "R2": (
            _sct("278272005", "Residual tumor stage R2 (finding)", verified=False),
            L.R_CLASSIFICATION["R2"],
        ),
        "RX": (
            _sct("258253006", "Residual tumor stage RX (finding)", verified=False),
            L.R_CLASSIFICATION["RX"],
        ),
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

AGENT: Final = CodeTable(
    "agent",
    {
        # RxNorm ingredient RXCUIs (docs/terminology-verification.md). Agents whose RXCUI no
        # source confirmed carry the project's local code only, never a guessed RXCUI.
        "doxorubicin": (Code(RXNORM, "3639", "doxorubicin"), L.AGENT["doxorubicin"]),
        "ifosfamide": (Code(RXNORM, "5657", "ifosfamide"), L.AGENT["ifosfamide"]),
        "gemcitabine": (Code(RXNORM, "12574", "gemcitabine"), L.AGENT["gemcitabine"]),
        "docetaxel": (Code(RXNORM, "72962", "docetaxel"), L.AGENT["docetaxel"]),
        "dacarbazine": (L.AGENT["dacarbazine"],),  # 3098 from memory, not found in any source
        "trabectedin": (L.AGENT["trabectedin"],),
        "eribulin": (L.AGENT["eribulin"],),
        "pazopanib": (  # one source
            Code(RXNORM, "714438", "pazopanib", verified=False),
            L.AGENT["pazopanib"],
        ),
        "epirubicin": (L.AGENT["epirubicin"],),
        "cyclophosphamide": (
            Code(RXNORM, "3002", "cyclophosphamide"),
            L.AGENT["cyclophosphamide"],
        ),
        "vincristine": (Code(RXNORM, "11202", "vincristine"), L.AGENT["vincristine"]),
        "paclitaxel": (Code(RXNORM, "56946", "paclitaxel"), L.AGENT["paclitaxel"]),
    },
)

THERAPY_SETTING: Final = CodeTable(
    "therapy-setting", {k: (L.THERAPY_SETTING[k],) for k in L.THERAPY_SETTING.concepts}
)
NOT_GIVEN_THERAPY: Final = CodeTable(
    "therapy",
    {
        "chemotherapy": (
            _sct("367336001", "Chemotherapy (procedure)"),
            L.NOT_GIVEN_THERAPY["chemotherapy"],
        ),
        "radiotherapy": (
            _sct("108290001", "Radiation oncology AND/OR radiotherapy (procedure)", verified=False),
            L.NOT_GIVEN_THERAPY["radiotherapy"],
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
