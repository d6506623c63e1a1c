"""The project's own code systems, for elements that have no standard code (docs/profiles.md
says why each exists).

Each one is published as a FHIR CodeSystem under ``profiles/`` (generated from this module by
``scripts/build_profiles.py``): this module is the single source of their codes and definitions.
"""

from __future__ import annotations

from typing import get_args

from fhir_ivc.model.outcome import Agent
from fhir_ivc.terminology._tables import LocalCodeSystem

__all__ = ["LOCAL_CODE_SYSTEMS"]

IVC_SEGMENT = LocalCodeSystem(
    "ivc-segment",
    "IVC segment",
    "Surgical segments of the inferior vena cava used to plan the approach (the seed report).",
    {
        "upper": ("Upper segment", "Above the hepatic veins (suprahepatic / retrohepatic IVC)."),
        "middle": ("Middle segment", "Between the hepatic veins and the renal veins."),
        "lower": ("Lower segment", "Below the renal veins (infrarenal IVC)."),
    },
)

IVC_PROCEDURE = LocalCodeSystem(
    "ivc-procedure",
    "IVC tumor resection",
    "The index operation for a tumor of the inferior vena cava.",
    {
        "en-bloc-ivc-resection": (
            "En bloc resection of IVC segment",
            "Complete resection of the tumor together with the affected IVC segment in one piece.",
        ),
        "ivc-resection": (
            "Resection of IVC segment",
            "Resection of the affected IVC segment, not documented as en bloc.",
        ),
    },
)

IVC_MANAGEMENT = LocalCodeSystem(
    "ivc-management",
    "IVC management after resection",
    "How the inferior vena cava is handled after the tumor-bearing segment is resected.",
    {
        "ligation": ("Ligation", "The IVC is tied off without reconstruction."),
        "primary-repair": ("Primary repair", "Direct suture of the venous wall (cavorrhaphy)."),
        "patch-cavoplasty": ("Patch cavoplasty", "Closure of a partial defect with a patch."),
        "graft-replacement": (
            "Graft replacement",
            "Circumferential replacement of the resected segment by a tubular graft.",
        ),
        "anastomosis": (
            "Anastomosis / reimplantation",
            "Direct anastomosis between venous stumps or reimplantation of a vein (e.g. a "
            "renal vein) without a graft.",
        ),
        "none": ("No reconstruction", "Nothing done to the IVC after resection."),
    },
)

GRAFT_MATERIAL = LocalCodeSystem(
    "vascular-graft-material",
    "Vascular graft material",
    "Material of a graft or patch used to reconstruct the IVC.",
    {
        "ptfe": ("PTFE prosthesis", "Expanded polytetrafluoroethylene vascular prosthesis."),
        "dacron": ("Dacron prosthesis", "Polyester (Dacron) vascular prosthesis."),
        "aortic-allograft": ("Aortic allograft", "Banked (cryopreserved) human aortic graft."),
        "venous-allograft": ("Venous allograft", "Banked human venous graft."),
        "autologous-vein": ("Autologous vein", "The patient's own vein (e.g. femoral, jugular)."),
        "bovine-pericardium": ("Bovine pericardium", "Bovine pericardial patch or tube."),
        "autologous-pericardium": ("Autologous pericardium", "The patient's own pericardium."),
    },
)

SURGICAL_STEP = LocalCodeSystem(
    "surgical-step",
    "Surgical approach step",
    "Steps of the approach to an IVC tumor, including those without a standard code.",
    {
        "laparotomy": ("Laparotomy", "Open abdominal approach."),
        "median-sternotomy": ("Median sternotomy", "Sternotomy to reach the right atrium."),
        "thoracotomy": ("Thoracotomy", "Thoracic approach."),
        "cardiopulmonary-bypass": (
            "Cardiopulmonary bypass",
            "Extracorporeal circulation for resection of an atrial or suprahepatic component.",
        ),
        "total-hepatic-vascular-exclusion": (
            "Total hepatic vascular exclusion",
            "Clamping of the inflow and outflow of the liver, with the IVC above and below it.",
        ),
        "in-situ-cold-liver-perfusion": (
            "In situ cold liver perfusion",
            "Perfusion of the liver with a cold solution through the portal system while excluded.",
        ),
        "cannulation": ("Cannulation", "Vascular cannulation for bypass or perfusion."),
        "intraoperative-tee": (
            "Intraoperative transesophageal ultrasound",
            "Transesophageal ultrasound during surgery (e.g. to confirm removal of the thrombus).",
        ),
        "laparoscopy": ("Laparoscopy", "Minimally invasive abdominal approach."),
    },
)

ASSOCIATED_RESECTION = LocalCodeSystem(
    "associated-resection",
    "Resection associated with IVC resection",
    "Organs or vessels resected en bloc with the IVC segment.",
    {
        "nephrectomy": ("Nephrectomy", "Resection of a kidney en bloc with the tumor."),
        "renal-vein-segment": (
            "Renal vein segment resection",
            "Resection of a segment of a renal vein (e.g. its confluence with the IVC).",
        ),
        "adrenalectomy": ("Adrenalectomy", "Resection of an adrenal gland."),
        "liver-resection": ("Liver resection", "Partial hepatectomy en bloc with the tumor."),
    },
)

OBSERVATION_CODE = LocalCodeSystem(
    "observation-code",
    "IVC leiomyosarcoma observation codes",
    "Observations with no suitable LOINC or SNOMED CT code.",
    {
        "operative-duration": ("Operative time", "Duration of the index operation."),
        "ivc-clamp-time": ("IVC clamping time", "Duration of the IVC / hepatic exclusion clamp."),
        "estimated-blood-loss": ("Estimated blood loss", "Intraoperative blood loss volume."),
        "postoperative-stay": (
            "Postoperative length of stay",
            "Days from the index surgery to discharge (as case reports count them).",
        ),
        "organ-contact": ("Tumor contact with organ", "The tumor touches the organ on imaging."),
        "organ-infiltration": (
            "Tumor infiltration of resected organ",
            "Pathological finding: the organ resected en bloc is (not) infiltrated by tumor.",
        ),
        "local-recurrence": ("Local recurrence", "Recurrence at the site of the primary tumor."),
        "vital-status": ("Vital status", "Whether the patient is alive at the assessment."),
        "tumor-markers": ("Serum tumor markers", "Tumor marker panel (markers not specified)."),
        "residual-tumor": (
            "Residual tumor (R) classification",
            "UICC/AJCC R classification after resection.",
        ),
    },
)

R_CLASSIFICATION = LocalCodeSystem(
    "r-classification",
    "Residual tumor classification",
    "UICC/AJCC residual tumor (R) classification.",
    {
        "R0": ("R0", "No residual tumor."),
        "R1": ("R1", "Microscopic residual tumor."),
        "R2": ("R2", "Macroscopic residual tumor."),
        "RX": ("RX", "Presence of residual tumor cannot be assessed."),
    },
)

MARGIN_STATUS = LocalCodeSystem(
    "margin-status",
    "Surgical margin status",
    "Status of the surgical margins of the resection specimen.",
    {
        "uninvolved": ("Margins uninvolved by tumor", "No tumor at the inked margins."),
        "involved": ("Margin involved by tumor", "Tumor present at a margin."),
        "cannot-be-assessed": ("Margins cannot be assessed", "Margin status cannot be assessed."),
    },
)

FNCLCC_GRADE = LocalCodeSystem(
    "fnclcc-grade",
    "FNCLCC grade",
    "French Federation of Cancer Centers Sarcoma Group histologic grade, as stated by the "
    "pathologist (never derived from a two- or three-tier grade).",
    {
        "1": ("FNCLCC grade 1", "Total score 2-3."),
        "2": ("FNCLCC grade 2", "Total score 4-5."),
        "3": ("FNCLCC grade 3", "Total score 6-8."),
    },
)

COMPLICATION = LocalCodeSystem(
    "complication",
    "Postoperative complication",
    "Complications after IVC tumor surgery.",
    {
        "hematoma": ("Hematoma", "Postoperative hematoma."),
        "bleeding": ("Bleeding", "Postoperative hemorrhage."),
        "graft-thrombosis": ("Graft thrombosis", "Thrombosis / occlusion of the IVC graft."),
        "graft-infection": ("Graft infection", "Infection of the IVC graft."),
        "acute-kidney-injury": ("Acute kidney injury", "Postoperative acute kidney injury."),
        "lymphatic-leak": ("Lymphatic leak", "Chylous or lymphatic leak."),
        "wound-infection": ("Wound infection", "Surgical site infection."),
        "other": ("Other complication", "Another complication, described in text."),
    },
)

CLAVIEN_DINDO = LocalCodeSystem(
    "clavien-dindo",
    "Clavien-Dindo grade",
    "Clavien-Dindo classification of surgical complications.",
    {
        g: (f"Grade {g}", f"Clavien-Dindo grade {g}.")
        for g in ("I", "II", "IIIa", "IIIb", "IVa", "IVb", "V")
    },
)

SYMPTOM = LocalCodeSystem(
    "symptom",
    "Presenting symptom",
    "Presenting symptoms of IVC leiomyosarcoma.",
    {
        "abdominal-pain": ("Abdominal pain", "Abdominal pain, often nonspecific."),
        "hematuria": ("Hematuria", "Blood in urine."),
        "lower-limb-edema": ("Lower limb edema", "Swelling of the legs from venous obstruction."),
        "other": ("Other symptom", "Another symptom, described in text."),
    },
)

IMAGING_MODALITY = LocalCodeSystem(
    "imaging-modality",
    "Imaging modality",
    "Imaging studies used to detect and stage IVC tumors.",
    {
        "ultrasound": ("Ultrasonography", "Diagnostic ultrasonography."),
        "doppler-ultrasound": ("Doppler ultrasonography", "Color Doppler ultrasonography."),
        "ct": ("Computed tomography", "Computed tomography."),
        "mri": ("Magnetic resonance imaging", "Magnetic resonance imaging."),
        "echocardiography": ("Echocardiography", "Transthoracic echocardiography."),
        "transesophageal-echocardiography": (
            "Transesophageal echocardiography",
            "Transesophageal echocardiography.",
        ),
        "pet-ct": ("PET-CT", "Positron emission tomography with computed tomography."),
    },
)

BIOPSY_METHOD = LocalCodeSystem(
    "biopsy-method",
    "Biopsy method",
    "How tissue was obtained before surgery.",
    {
        "percutaneous-needle": ("Percutaneous needle biopsy", "Percutaneous needle biopsy."),
        "ultrasound-guided-puncture": (
            "Ultrasound-guided puncture",
            "Percutaneous puncture under ultrasound guidance.",
        ),
        "ct-guided-core": ("CT-guided core biopsy", "Core needle biopsy under CT guidance."),
        "open": ("Open biopsy", "Surgical (open) biopsy."),
    },
)

THERAPY_SETTING = LocalCodeSystem(
    "therapy-setting",
    "Therapy setting",
    "When a systemic therapy is given relative to surgery and disease course. mCODE keeps this "
    "out of procedure intent ('adjuvant relates to timing, not intent').",
    {
        "neoadjuvant": ("Neoadjuvant", "Before the index surgery."),
        "adjuvant": ("Adjuvant", "After the index surgery, without evidence of disease."),
        "metastatic": ("Metastatic", "For metastatic disease."),
        "recurrence": ("Recurrence", "For local recurrence."),
    },
)

NOT_GIVEN_THERAPY = LocalCodeSystem(
    "therapy-not-given",
    "Therapy not given",
    "Therapies that may be recorded as not given.",
    {
        "chemotherapy": ("Chemotherapy", "Systemic chemotherapy."),
        "radiotherapy": ("Radiotherapy", "Radiation therapy."),
    },
)

RESECTION_EXTENT = LocalCodeSystem(
    "resection-extent",
    "Extent of IVC resection",
    "Whether the IVC wall was resected partially or circumferentially.",
    {
        "partial": ("Partial (tangential)", "Part of the circumference of the IVC wall."),
        "circumferential": ("Circumferential", "A full circumferential segment of the IVC."),
    },
)

MANAGEMENT_DECISION = LocalCodeSystem(
    "management-decision",
    "When the IVC management was decided",
    "Whether the way of handling the IVC was planned before surgery or decided during it.",
    {
        "preoperative": ("Decided preoperatively", "Planned before surgery."),
        "intraoperative": ("Decided intraoperatively", "Decided during surgery."),
    },
)

ORGAN = LocalCodeSystem(
    "organ",
    "Organ near the IVC",
    "Organs an IVC tumor may touch or infiltrate.",
    {
        "liver": ("Liver", "Liver."),
        "right-kidney": ("Right kidney", "Right kidney."),
        "left-kidney": ("Left kidney", "Left kidney."),
        "duodenum": ("Duodenum", "Duodenum."),
        "pancreas": ("Pancreas", "Pancreas."),
        "aorta": ("Aorta", "Abdominal aorta."),
    },
)

INTRALUMINAL_SITE = LocalCodeSystem(
    "intraluminal-site",
    "Intraluminal extension site",
    "Where an intraluminal IVC tumor extends beyond the IVC.",
    {
        "right-atrium": ("Right atrium", "Tumor thrombus reaching the right atrium."),
        "renal-vein": ("Renal vein", "Tumor thrombus extending into a renal vein."),
        "hepatic-vein": ("Hepatic vein", "Tumor thrombus extending into hepatic veins."),
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
