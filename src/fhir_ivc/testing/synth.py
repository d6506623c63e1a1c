"""Realistic synthetic IVC leiomyosarcoma cases, for benchmarks and integration tests.

``synthetic_case(i, seed=s)`` is a pure function of ``(i, s, source_system)``: case ``i`` is the
same whether it is made alone or as part of ``synthetic_cases(n)``, on every platform and Python
run (each case has its own ``random.Random`` seeded from a string). Case ids are
``synth-000042``; runs that must not overwrite each other's cases on a server use different
``source_system``s, which together with the case id identify a case.

The cases follow the shape of the literature rather than the seed report alone: mostly women in
their fifties, middle segment most often, resection with graft replacement, patch or ligation,
high-grade tumors with metastases to the lung and liver in about half of the patients, lines of
doxorubicin-based then gemcitabine/docetaxel or trabectedin therapy, and follow-up for up to
eight years. Four in five cases count time from the index surgery (as the seed report does);
about one in five carries real, partly partial calendar dates instead. A few cases have no
surgery at all (unresectable disease), and then every time is a date.

No value here describes a real patient.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from typing import Final

from fhir_ivc.model import Case
from fhir_ivc.testing import _writer
from fhir_ivc.testing._writer import MONTH_DAYS, CaseWriterBase, Record, tenth, weighted

__all__ = ["DEFAULT_SOURCE_SYSTEM", "synthetic_case", "synthetic_cases"]

DEFAULT_SOURCE_SYSTEM: Final = "https://fhir-ivc.example.org/fhir/sid/synthetic"


def synthetic_case(
    index: int, *, seed: int = 0, source_system: str = DEFAULT_SOURCE_SYSTEM
) -> Case:
    """The synthetic case number ``index`` (0, 1, ...) of the series ``seed``."""
    if index < 0:
        raise ValueError(f"index must be >= 0, not {index}")
    rng = random.Random(f"fhir-ivc/synth/{seed}/{index}")  # noqa: S311 - test data, not secrets
    record = _CaseWriter(rng, index=index, seed=seed, source_system=source_system).record()
    return Case.model_validate(record)


def synthetic_cases(
    n: int, seed: int = 0, *, source_system: str = DEFAULT_SOURCE_SYSTEM
) -> Iterator[Case]:
    """Cases ``0 .. n-1`` of the series ``seed``, made lazily one at a time."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    for index in range(n):
        yield synthetic_case(index, seed=seed, source_system=source_system)


class _CaseWriter(CaseWriterBase):
    """Writes one case record (the YAML/JSON shape), section by section, in a fixed order."""

    # ---------------------------------------------------------------------------------- case

    def record(self) -> Record:
        rng = self.rng
        record: Record = {
            "case_id": f"synth-{self.index:06d}",
            "source_system": self.source_system,
            "patient": self.patient(),
        }
        presentation = self.presentation()
        if presentation:
            record["presentation"] = presentation
        record["imaging"] = self.imaging()
        if self.chance(0.25):
            marker: Record = {"result": "negative", "when": self.time(-rng.randint(14, 40))}
            if self.chance(0.5):
                marker["name"] = weighted(rng, [("CEA, CA 19-9", 2), ("CA-125", 1)])
            record["tumor_markers"] = [marker]
        biopsy = self.biopsy()
        if biopsy:
            record["biopsy"] = biopsy
        record["diagnosis"] = self.diagnosis(biopsy)
        if self.operated:
            record["surgery"] = self.surgery()
            record["pathology"] = self.pathology(record["surgery"])
        metastases = self.metastases()
        if metastases:
            record["metastases"] = metastases
        self.dies = self.chance(0.45 if metastases else 0.08)
        therapies, not_given = self.systemic_therapy()
        if therapies:
            record["systemic_therapy"] = therapies
        if not_given:
            record["therapy_not_given"] = not_given
        record["follow_up"] = self.follow_up()
        return record

    def patient(self) -> Record:
        rng = self.rng
        patient: Record = {
            "sex": weighted(rng, [("female", 72), ("male", 28)]),
            "age_at_diagnosis_years": self.age,
        }
        if self.dated and self.chance(0.6):
            born = self.day0 - datetime.timedelta(
                days=round(self.age * 365.25 + rng.randrange(365))
            )
            patient["birth_date"] = born.isoformat() if self.chance(0.7) else f"{born.year:04d}"
        if self.chance(0.8):
            patient["identifiers"] = [
                {
                    "system": f"{self.source_system}-mrn",
                    "value": f"SYN{self.seed}-{self.index:07d}",
                    "type": "MR",
                }
            ]
        return patient

    def presentation(self) -> Record | None:
        rng, symptoms = self.rng, []
        if self.chance(0.65):
            symptoms.append(
                {
                    "kind": "abdominal-pain",
                    "text": rng.choice(["right flank pain", "abdominal pain"]),
                }
                if self.chance(0.5)
                else {"kind": "abdominal-pain"}
            )
        if set(self.segments) & {"middle", "lower"} and self.chance(0.3):
            symptoms.append({"kind": "lower-limb-edema"})
        if self.chance(0.05):
            symptoms.append({"kind": "hematuria"})
        if "upper" in self.segments and self.chance(0.3):
            symptoms.append(
                {"kind": "other", "text": "Budd-Chiari syndrome: ascites, hepatomegaly"}
            )
        if self.chance(0.15):
            symptoms.append(
                {"kind": "other", "text": rng.choice(["weight loss", "palpable abdominal mass"])}
            )
        for number, symptom in enumerate(symptoms, 1):
            symptom.update(self.key("symptom", number))
        return {"symptoms": symptoms} if symptoms else None

    def imaging(self) -> list[Record]:
        rng = self.rng
        studies: list[Record] = []
        if self.chance(0.35):
            studies.append(
                {
                    "modality": "ultrasound",
                    "region": "abdomen",
                    "findings": "retroperitoneal mass, referred for further imaging",
                    "when": self.time(-rng.randint(45, 90)),
                }
            )
        segments = " and ".join(self.segments)
        studies.append(
            {
                "modality": "ct",
                "contrast": not self.chance(0.05),
                "region": weighted(rng, [("abdomen", 3), ("chest and abdomen", 2)]),
                "target": "primary",
                "dimensions_cm": list(self.size),
                "findings": f"solid mass arising from the {segments} segment of the IVC",
                "when": self.time(-rng.randint(14, 40)),
            }
        )
        if self.chance(0.55):
            studies.append(
                {
                    "modality": "mri",
                    "region": "abdomen",
                    "dimensions_cm": [self.size[0], self.size[1]],
                    "findings": "T2-hyperintense mass of the IVC wall with intraluminal growth",
                    "when": self.time(-rng.randint(7, 30)),
                }
            )
        if self.chance(0.15):
            studies.append({"modality": "pet-ct", "findings": "no distant disease"})
        if "right-atrium" in self.intraluminal:
            extension = tenth(rng.uniform(1.5, 5.0))
            studies.append(
                {
                    "modality": weighted(
                        rng, [("echocardiography", 3), ("transesophageal-echocardiography", 1)]
                    ),
                    "target": "intraluminal-extension",
                    "dimensions_cm": [extension, tenth(extension * rng.uniform(0.5, 0.9))],
                    "findings": "tumor thrombus extending into the right atrium",
                    "when": self.time(-rng.randint(7, 21)),
                }
            )
        for number, study in enumerate(studies, 1):
            study.update(self.key("imaging", number))
        return studies

    def biopsy(self) -> Record | None:
        rng = self.rng
        if self.operated and not self.chance(0.55):
            return None
        return {
            "method": weighted(
                rng,
                [
                    ("ct-guided-core", 4),
                    ("ultrasound-guided-puncture", 3),
                    ("percutaneous-needle", 2),
                ],
            ),
            "result": rng.choice(
                [
                    "consistent with leiomyosarcoma",
                    "spindle cell sarcoma",
                    "consistent with sarcoma",
                ]
            ),
            "when": self.time(-rng.randint(7, 28)),
        }

    def diagnosis(self, biopsy: Record | None) -> Record:
        rng = self.rng
        contacts = []
        if "middle" in self.segments:
            contacts += [o for o in ("right-kidney", "duodenum", "liver") if self.chance(0.3)]
        if "upper" in self.segments and self.chance(0.6):
            contacts.append("liver")
        if "lower" in self.segments and self.chance(0.2):
            contacts.append("aorta")
        diagnosis: Record = {
            "histology": "Leiomyosarcoma",
            "icdo3_morphology": "8890/3",
            "ivc_segments": list(self.segments),
            "basis": "histology" if biopsy or self.operated else "imaging",
        }
        if self.intraluminal:
            diagnosis["intraluminal_extension"] = list(self.intraluminal)
        if contacts:
            diagnosis["organ_contact"] = [{"organ": organ} for organ in dict.fromkeys(contacts)]
        if self.chance(0.6):
            diagnosis["when"] = biopsy["when"] if biopsy else self.time(-rng.randint(7, 30))
        return diagnosis

    # ------------------------------------------------------------------------------- surgery

    def surgery(self) -> Record:
        rng = self.rng
        upper = "upper" in self.segments
        atrium = "right-atrium" in self.intraluminal
        extent = weighted(rng, [("circumferential", 60), ("partial", 35), (None, 5)])
        surgery: Record = {
            "intent": "curative" if self.chance(0.95) else "palliative",
            "en_bloc": self.chance(0.95),
            "resected_segments": (
                list(self.segments)
                if len(self.segments) == 1 or self.chance(0.8)
                else [rng.choice(self.segments)]
            ),
        }
        if self.dated:
            surgery["date"] = self.date(0, precision="day")
            if self.chance(0.1):
                surgery["date"] += "T08:30:00+01:00"
        if extent:
            surgery["resection_extent"] = extent

        approach: list[Record] = []
        if extent == "partial" and self.segments == ["lower"] and self.chance(0.1):
            approach.append({"kind": "laparoscopy"})
        else:
            approach.append({"kind": "laparotomy", "detail": "midline laparotomy"})
        if atrium:
            approach += [
                {"kind": "median-sternotomy"},
                {"kind": "cardiopulmonary-bypass", "detail": "extracorporeal circulation"},
                {"kind": "intraoperative-tee"},
            ]
            if self.chance(0.5):
                approach.append({"kind": "cannulation", "detail": "femoral vein cannulation"})
        if upper and self.chance(0.7):
            approach.append({"kind": "total-hepatic-vascular-exclusion"})
        if upper and self.chance(0.15):
            approach.append({"kind": "in-situ-cold-liver-perfusion"})
        surgery["approach"] = approach

        resections: list[Record] = []
        if "middle" in self.segments and self.chance(0.25):
            resections.append(
                {
                    "kind": "nephrectomy",
                    "side": "right",
                    "reason": "the tumor appeared to infiltrate the right kidney",
                }
            )
        if "middle" in self.segments and self.chance(0.2):
            resections.append(
                {"kind": "renal-vein-segment", "side": "left", "detail": "left renal vein ostium"}
            )
        if not upper and "middle" in self.segments and self.chance(0.1):
            resections.append({"kind": "adrenalectomy", "side": "right"})
        if upper and self.chance(0.2):
            resections.append(
                {
                    "kind": "liver-resection",
                    "detail": rng.choice(["segment VI-VII", "caudate lobe"]),
                }
            )
        if resections:
            surgery["associated_resections"] = resections

        surgery["ivc_management"] = self.ivc_management(extent, resections)
        repaired = any(m["method"] != "ligation" for m in surgery["ivc_management"])

        # the operative measures, each from its row's distribution (fhir_ivc.mappers.measures)
        complications = _writer.draw_measures(self, surgery, repaired, self.complications)
        if complications:
            surgery["complications"] = complications
        notes = [
            note
            for note in (
                "significant retroperitoneal collateral venous circulation",
                "distal IVC thrombosed; heparin before clamping",
                "discharged on oral anticoagulation",
            )
            if self.chance(0.2)
        ]
        if notes:
            surgery["notes"] = notes
        return surgery

    def ivc_management(self, extent: str | None, resections: list[Record]) -> list[Record]:
        rng = self.rng
        managements: list[Record] = []
        if extent == "partial":
            if self.chance(0.55):
                managements.append({"method": "primary-repair", "detail": "lateral cavorrhaphy"})
            else:
                material = weighted(
                    rng,
                    [
                        ("bovine-pericardium", 50),
                        ("autologous-pericardium", 20),
                        ("autologous-vein", 15),
                        ("ptfe", 15),
                    ],
                )
                managements.append({"method": "patch-cavoplasty", "graft_material": material})
        else:
            method = weighted(
                rng, [("graft-replacement", 65), ("ligation", 25), ("anastomosis", 10)]
            )
            management: Record = {"method": method}
            if method == "graft-replacement":
                management["graft_material"] = weighted(
                    rng,
                    [
                        ("ptfe", 60),
                        ("dacron", 10),
                        ("aortic-allograft", 8),
                        ("venous-allograft", 7),
                        ("autologous-vein", 5),
                    ],
                )
                management["detail"] = f"ringed {rng.choice([14, 16, 18, 20])} mm graft"
            elif method == "ligation":
                management["detail"] = "ligation of the infrarenal IVC; established collaterals"
            else:
                management["detail"] = "anastomosis between the infrahepatic IVC and a renal vein"
            managements.append(management)
        if any(r["kind"] == "renal-vein-segment" for r in resections) and self.chance(0.4):
            managements.append(
                {"method": "anastomosis", "detail": "left renal vein reimplanted into the IVC"}
            )
        for number, management in enumerate(managements, 1):
            if self.chance(0.5):
                management["decided"] = weighted(rng, [("preoperative", 2), ("intraoperative", 1)])
            self.infer(management, "graft_material", "decided", p=0.3)
            management.update(self.key("ivc", number))
        return managements

    def complications(self) -> list[Record]:
        rng = self.rng
        if not self.chance(0.3):
            return []
        kinds = rng.sample(
            [
                "hematoma",
                "bleeding",
                "graft-thrombosis",
                "acute-kidney-injury",
                "lymphatic-leak",
                "wound-infection",
                "other",
            ],
            k=weighted(rng, [(1, 4), (2, 1)]),
        )
        complications: list[Record] = []
        for kind in kinds:
            complication: Record = {"kind": kind}
            if kind == "other":
                complication["text"] = rng.choice(["pneumonia", "prolonged ileus"])
            complication["clavien_dindo"] = weighted(
                rng, [("I", 3), ("II", 4), ("IIIa", 2), ("IIIb", 1), ("IVa", 0.5)]
            )
            if self.chance(0.5):
                complication["management"] = rng.choice(
                    ["managed conservatively", "percutaneous drainage", "reoperation"]
                )
            complications.append(complication)
        return complications

    def pathology(self, surgery: Record) -> Record:
        rng = self.rng
        grade = weighted(rng, [("low", 20), ("intermediate", 35), ("high", 45)])
        margin = weighted(rng, [("uninvolved", 60), ("involved", 30), ("cannot-be-assessed", 10)])
        r_class = {"uninvolved": "R0", "involved": "R1", "cannot-be-assessed": "RX"}[margin]
        if margin == "involved" and surgery["intent"] == "palliative":
            r_class = "R2"
        self.margin_clear = r_class == "R0"
        pathology: Record = {
            "histologic_type": "Leiomyosarcoma",
            "icdo3_morphology": "8890/3",
            "grade": grade,
            "size_cm": [tenth(s * rng.uniform(0.85, 1.1)) for s in self.size[:2]],
            "margin_status": margin,
            "conclusion": (
                f"{grade.capitalize()}-grade leiomyosarcoma arising from the wall of the IVC"
            ),
        }
        if self.chance(0.6):
            pathology["fnclcc_grade"] = {"low": 1, "intermediate": 2, "high": 3}[grade]
        if self.chance(0.85):
            pathology["r_classification"] = r_class
        organs = []
        for resection in surgery.get("associated_resections", []):
            if resection["kind"] == "nephrectomy":
                organs.append({"organ": "right-kidney", "infiltrated": self.chance(0.4)})
            elif resection["kind"] == "liver-resection":
                organs.append({"organ": "liver", "infiltrated": self.chance(0.5)})
        if organs:
            pathology["organ_infiltration"] = organs
        self.infer(pathology, "r_classification", "margin_status", p=0.4)
        return pathology

    # ------------------------------------------------------------------------------ outcome

    def metastases(self) -> list[Record]:
        rng = self.rng
        if not self.chance(0.45 if self.operated else 0.7):
            return []
        first_day = 0 if not self.operated and self.chance(0.5) else rng.randint(90, 1460)
        sites = [weighted(rng, [("lung", 60), ("liver", 30), ("bone", 7), ("peritoneum", 3)])]
        days = [first_day]
        if self.chance(0.3):
            other = rng.choice(
                [s for s in ("lung", "liver", "bone", "peritoneum") if s != sites[0]]
            )
            sites.append(other)
            days.append(first_day if self.chance(0.5) else first_day + rng.randint(60, 540))
        self.first_metastasis = first_day
        return [
            {"site": site, "detected": self.time(day), **self.key("met", number)}
            for number, (site, day) in enumerate(zip(sites, days, strict=True), 1)
        ]

    def systemic_therapy(self) -> tuple[list[Record], list[Record]]:
        rng = self.rng
        lines: list[Record] = []
        not_given: list[Record] = []
        if self.operated and self.chance(0.08):
            lines.append(
                {
                    "agents": ["doxorubicin", "ifosfamide"],
                    "setting": "neoadjuvant",
                    "intent": "curative",
                    "start": self.time(-rng.randint(120, 150), precision=(p := self.precision())),
                    "end": self.time(-rng.randint(30, 45), precision=p),
                    "status": "completed",
                }
            )
        if self.operated and self.chance(0.25):
            agents = weighted(
                rng,
                [
                    (["doxorubicin", "ifosfamide"], 3),
                    (["doxorubicin"], 2),
                    (["gemcitabine", "docetaxel"], 1),
                ],
            )
            lines.append(
                {
                    "agents": agents,
                    "setting": "adjuvant",
                    "intent": "curative",
                    "start": self.time(rng.randint(30, 60), precision=(p := self.precision())),
                    "end": self.time(rng.randint(120, 180), precision=p),
                    "status": weighted(rng, [("completed", 4), ("stopped", 1)]),
                }
            )
        elif self.operated and self.chance(0.4):
            not_given.append(
                {
                    "therapy": "chemotherapy",
                    "setting": "adjuvant",
                    "reason": rng.choice(
                        [
                            "R0 resection; decided by the multidisciplinary board"
                            if self.margin_clear
                            else "poor performance status after surgery",
                            "the patient declined adjuvant chemotherapy",
                        ]
                    ),
                }
            )
        if self.operated and self.chance(0.15):
            not_given.append({"therapy": "radiotherapy", "setting": "adjuvant"})
        if not self.operated and self.first_metastasis is None:
            lines.append(
                {
                    "agents": ["doxorubicin", "ifosfamide"],
                    "setting": "neoadjuvant",
                    "intent": "curative",
                    "start": self.time(rng.randint(0, 14)),
                    "status": "stopped" if self.dies else "in-progress",
                    "note": "locally advanced, not resectable; reassessed after each cycle",
                }
            )
        if self.first_metastasis is not None:
            start = self.first_metastasis + rng.randint(0, 45)
            regimens = [
                weighted(
                    rng,
                    [
                        (["doxorubicin"], 6),
                        (["doxorubicin", "dacarbazine"], 2),
                        (["doxorubicin", "ifosfamide"], 2),
                    ],
                ),
                weighted(rng, [(["gemcitabine", "docetaxel"], 3), (["trabectedin"], 2)]),
                weighted(rng, [(["pazopanib"], 1), (["eribulin"], 1)]),
            ]
            count = weighted(rng, [(1, 5), (2, 3), (3, 2)])
            for line in range(1, count + 1):
                therapy: Record = {
                    "agents": regimens[line - 1],
                    "setting": "metastatic",
                    "intent": "palliative",
                    "line": line,
                    "start": self.time(start, precision=(p := self.precision())),
                }
                if line < count:
                    start += rng.randint(120, 300)
                    therapy["end"] = self.time(start - 14, precision=p)
                    therapy["status"] = "stopped"
                    therapy["note"] = "progression"
                else:
                    therapy["status"] = "stopped" if self.dies else "in-progress"
                self.infer(therapy, "intent", "status")
                lines.append(therapy)
        for number, therapy in enumerate(lines, 1):
            therapy.update(self.key("line", number))
        return lines, not_given

    def follow_up(self) -> list[Record]:
        rng = self.rng
        metastatic_day = self.first_metastasis
        total_months = rng.randint(6, 96)
        if metastatic_day is not None:  # follow the patient past the metastasis
            total_months = max(total_months, round(metastatic_day / MONTH_DAYS) + 3)
        schedule = [m for m in (3, 6, 12, 18, 24, 36, 48, 60, 72, 84, 96) if m < total_months]
        visits = sorted(rng.sample(schedule, k=min(len(schedule), rng.randint(0, 3))))
        visits.append(total_months)
        recurrence_day = rng.randint(180, 1460) if self.chance(0.15) else None
        follow_ups: list[Record] = []
        for number, months in enumerate(visits, 1):
            day = round(months * MONTH_DAYS)
            progressed = metastatic_day is not None and day >= metastatic_day
            visit: Record = {"when": self.time(day)}
            if self.chance(0.9):
                visit["disease_status"] = (
                    weighted(rng, [("worsening", 2), ("stable", 2), ("improving", 1)])
                    if progressed
                    else weighted(rng, [("stable", 8), ("undetermined", 1)])
                )
            if self.chance(0.7):
                visit["local_recurrence"] = recurrence_day is not None and day >= recurrence_day
            last = number == len(visits)
            if last or self.chance(0.3) or len(visit) == 1:
                visit["vital_status"] = "dead" if last and self.dies else "alive"
            self.infer(visit, "vital_status", p=0.5)
            if self.explicit_keys:
                visit["key"] = f"fu-{months}mo"
            follow_ups.append(visit)
        return follow_ups
