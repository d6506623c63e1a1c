"""Reading data written by other mCODE producers (in process): what maps, and precise losses.

The mCODE STU4 IG examples (tests/data/mcode-examples, README there) are a breast-cancer and a
lung-cancer patient: the case model is IVC-specific, so they do not become valid cases. The tests
assert what *does* map (``CaseReadResult.fields``) and that everything else is a Loss naming the
resource, the element and the reason. A hand-written IVC leiomyosarcoma in plain mCODE (standard
codes only, none of fhir_ivc's own extensions or code systems) shows that another producer's
IVC case is read into a valid case.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fhir_ivc.bundle import CaseReadResult, read_case
from fhir_ivc.mappers._context import mcode
from fhir_ivc.model import Case
from fhir_ivc.terminology import codes as C  # noqa: N812 - as in the mappers
from fhir_ivc.terminology.systems import SNOMED

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "mcode-examples"
JENNY_SYSTEM = "http://hospital.example.org"
#: Jenny M's resources that are examples of their own, not entries of her patient bundle
JENNY_EXTRA = (
    "MedicationAdministration-cancer-related-medication-admin-doxorubicin-jenny-m.json",
    "Specimen-tumor-specimen-left-breast-jenny-m.json",
)


def example(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return resource


def jenny_m_resources() -> list[dict[str, Any]]:
    """Every mCODE example resource of the patient Jenny M: her bundle's entries and the rest."""
    bundle = example("Bundle-mcode-patient-bundle-jenny-m.json")
    resources = [entry["resource"] for entry in bundle["entry"]]
    resources += [example(name) for name in JENNY_EXTRA]
    return resources


def key(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def read(resources: list[dict[str, Any]], source_system: str | None = None) -> CaseReadResult:
    return read_case([(key(r), r) for r in resources], source_system=source_system)


def losses_of(result: CaseReadResult) -> set[tuple[str, str]]:
    return {(loss.resource, loss.element) for loss in result.losses}


def reason(result: CaseReadResult, resource: str, element: str) -> str:
    found = [x.reason for x in result.losses if (x.resource, x.element) == (resource, element)]
    assert len(found) == 1, (resource, element, found)
    return found[0]


# --------------------------------------------------------------------------------------------
# Jenny M: what maps
# --------------------------------------------------------------------------------------------

#: The resources whose content (partly) maps into the case record's fields
JENNY_MAPPED = {
    "Patient/cancer-patient-jenny-m",
    "Condition/primary-cancer-condition-jenny-m",
    "Observation/cancer-disease-status-jenny-m",
    "Observation/tumor-size-jenny-m",
    "MedicationAdministration/cancer-related-medication-admin-doxorubicin-jenny-m",
    "Specimen/human-specimen-left-breast-jenny-m",
    "Specimen/tumor-specimen-left-breast-jenny-m",
}


@pytest.fixture(scope="module")
def jenny() -> CaseReadResult:
    return read(jenny_m_resources(), JENNY_SYSTEM)


def test_jenny_m_is_not_an_ivc_case_and_says_why(jenny):
    assert jenny.case is None
    assert jenny.case_id == "MRN1234"
    assert "diagnosis.histology, diagnosis.icdo3_morphology, diagnosis.basis" in str(jenny.error)
    assert "not stated in the FHIR data" in str(jenny.error)


def test_jenny_m_what_maps(jenny):
    fields = jenny.fields
    assert fields["case_id"] == "MRN1234"
    assert fields["source_system"] == JENNY_SYSTEM
    assert fields["patient"] == {"sex": "female", "identifiers": [], "birth_date": "1965-01-01"}
    # disease status (mCODE CancerDiseaseStatus) → a follow-up
    assert fields["follow_up"] == [{"when": {"date": "2018-11-01"}, "disease_status": "improving"}]
    # tumor size on the specimen (TumorSize, specimen =) → pathology size
    assert fields["pathology"] == {"size_cm": [2.5]}
    # medication administration coded as an RxNorm product naming an agent of the case model
    (therapy,) = fields["systemic_therapy"]
    assert therapy["agents"] == ["doxorubicin"]
    assert therapy["status"] == "completed"
    assert therapy["start"] == {"date": "2018-04-22"}
    assert therapy["setting"] == "adjuvant"
    assert therapy["inferred"] == ["setting"]  # not stated: read from its reason, and marked
    assert therapy["note"].startswith("doxorubicin (60 mg/m")
    # the diagnosis has no IVC segments and no ICD-O-3 morphology
    assert fields["diagnosis"] == {
        "ivc_segments": [],
        "intraluminal_extension": [],
        "organ_contact": [],
    }
    assert fields["metastases"] == []


def test_every_jenny_m_resource_maps_or_is_reported(jenny):
    resources = {key(r) for r in jenny_m_resources()}
    whole = {loss.resource for loss in jenny.losses if loss.element == ""}
    assert whole.isdisjoint(JENNY_MAPPED)
    assert resources == JENNY_MAPPED | whole
    assert len(whole) == len(resources) - len(JENNY_MAPPED) == 35


@pytest.mark.parametrize(
    ("resource", "element", "words"),
    [
        ("Patient/cancer-patient-jenny-m", "Patient.name", "names are not carried"),
        ("Patient/cancer-patient-jenny-m", "Patient.address", "not carried"),
        (
            "Patient/cancer-patient-jenny-m",
            "Patient.extension[http://hl7.org/fhir/us/core/StructureDefinition/us-core-race]",
            "extension not carried",
        ),
        ("Patient/cancer-patient-jenny-m", "Patient.identifier.type", "'MR' is not carried"),
        (
            "Condition/primary-cancer-condition-jenny-m",
            "Condition.extension[histologyMorphologyBehavior]",
            "82711006 'Infiltrating duct carcinoma (morphologic abnormality)' has no ICD-O-3",
        ),
        (
            "Condition/primary-cancer-condition-jenny-m",
            "Condition.code",
            "353431000119107 'Primary malignant neoplasm of female left breast (disorder)' is "
            "not carried",
        ),
        (
            "Condition/primary-cancer-condition-jenny-m",
            "Condition.clinicalStatus",
            "condition-clinical|remission is not carried (read as active)",
        ),
        ("Condition/primary-cancer-condition-jenny-m", "Condition.bodySite", "IVC segments"),
        ("Condition/primary-cancer-condition-jenny-m", "Condition.stage", "staging"),
        (
            "Condition/primary-cancer-condition-jenny-m",
            "Condition.onsetDateTime",
            "not the date of diagnosis",
        ),
        (
            "Observation/cancer-disease-status-jenny-m",
            "Observation.extension[http://hl7.org/fhir/us/mcode/StructureDefinition/"
            "mcode-cancer-disease-status-evidence-type]",
            "extension not carried",
        ),
        ("Observation/cancer-disease-status-jenny-m", "Observation.performer", "who performed"),
        ("Observation/tumor-size-jenny-m", "Observation.effectiveDateTime", "not carried"),
        (
            "MedicationAdministration/cancer-related-medication-admin-doxorubicin-jenny-m",
            "MedicationAdministration.medicationCodeableConcept",
            "rxnorm|1790099 '10 ML doxorubicin hydrochloride 2 MG/ML Injection' is not an agent "
            "code of the case model; read as 'doxorubicin' from its name",
        ),
        (
            "MedicationAdministration/cancer-related-medication-admin-doxorubicin-jenny-m",
            "MedicationAdministration.dosage",
            "doses are not carried",
        ),
        (
            "MedicationAdministration/cancer-related-medication-admin-doxorubicin-jenny-m",
            "MedicationAdministration.extension[therapy-setting]",
            "read as adjuvant from the reason (marked inferred)",
        ),
        (
            "Specimen/tumor-specimen-left-breast-jenny-m",
            "Specimen.collection.bodySite",
            "not from the IVC",
        ),
        (
            "MedicationRequest/cancer-related-medication-request-paclitaxel-jenny-m",
            "",
            "orders are not carried",
        ),
        (
            "Procedure/cancer-related-surgical-procedure-jenny-m",
            "",
            "64368001 'Excision of part of breast (procedure)': not a procedure the case model "
            "carries",
        ),
        (
            "Procedure/radiotherapy-treatment-summary-chest-wall-jenny-m",
            "",
            "mcode-radiotherapy-course-summary",
        ),
        ("Observation/tnm-clinical-stage-group-jenny-m", "", "not an observation the case model"),
        ("Observation/tumor-marker-test-er-jenny-m", "", "85337-4"),
        (
            "DiagnosticReport/us-core-diagnosticreport-lab-jenny-m",
            "",
            "not the surgical pathology report",
        ),
        ("Practitioner/us-core-practitioner-owen-oncologist", "", "who treated the patient"),
        ("Organization/us-core-organization-physician-services-inc", "", "organizations"),
        ("FamilyMemberHistory/family-member-history-aunt-jenny-m", "", "family history"),
    ],
)
def test_jenny_m_losses_name_resource_element_and_reason(jenny, resource, element, words):
    assert words in reason(jenny, resource, element)


def test_losses_are_precise(jenny):
    for loss in jenny.losses:
        rtype = loss.resource.split("/")[0]
        assert "/" in loss.resource, loss
        assert loss.element == "" or loss.element.startswith(f"{rtype}."), loss
        assert loss.reason, loss
    assert len(jenny.losses) == len(set(jenny.losses))  # nothing reported twice


def test_reading_does_not_change_the_resources():
    resources = jenny_m_resources()
    before = copy.deepcopy(resources)
    read(resources, JENNY_SYSTEM)
    assert resources == before


# --------------------------------------------------------------------------------------------
# Other patients' examples: histology, grade, metastases, sizes
# --------------------------------------------------------------------------------------------

JOHN = (
    "Condition-secondary-cancer-condition-brain-mets.json",
    "Observation-histologic-behavior-and-type-non-small-cell.json",
    "Observation-histologic-grade-intermediate.json",
    "Observation-tumor-morphology-report-non-small-cell-intermediate-grade.json",
    "Procedure-cancer-related-surgical-procedure-lobectomy.json",
)


def patient(pid: str, gender: str = "male") -> dict[str, Any]:
    """A stand-in Patient (the IG has no Patient resource for these examples)."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:test:other-producer", "value": pid}],
        "gender": gender,
    }


def test_john_anyperson_histology_grade_metastasis_surgery():
    result = read([patient("cancer-patient-john-anyperson"), *(example(n) for n in JOHN)])
    assert result.case is None
    assert str(result.error).startswith("no primary cancer condition")
    assert result.fields["pathology"] == {"grade": "intermediate"}
    assert result.fields["metastases"] == []
    histology = "Observation/histologic-behavior-and-type-non-small-cell"
    assert "'80463/3' is not a morphology/behavior code (NNNN/B)" in reason(
        result, histology, "Observation.valueCodeableConcept"
    )
    assert "1149430001" in reason(
        result, "Observation/histologic-grade-intermediate", "Observation.method"
    )
    assert "94225005 'Secondary malignant neoplasm of brain'" in reason(
        result, "Condition/secondary-cancer-condition-brain-mets", "Condition.code"
    )
    assert "only groups the histology and grade" in reason(
        result, "Observation/tumor-morphology-report-non-small-cell-intermediate-grade", ""
    )
    assert "359615001 'Partial lobectomy of lung (procedure)'" in reason(
        result, "Procedure/cancer-related-surgical-procedure-lobectomy", ""
    )


def test_icdo3_histology_maps_when_the_code_is_valid():
    histology = example("Observation-histologic-behavior-and-type-non-small-cell.json")
    histology["valueCodeableConcept"]["coding"][0]["code"] = "8046/3"
    result = read([patient("cancer-patient-john-anyperson"), histology])
    assert result.fields["pathology"] == {
        "icdo3_morphology": "8046/3",
        "histologic_type": "Non-small cell carcinoma",  # the ICD-O-3 display: no text given
    }
    assert "pathology" not in str(result.error)


def test_secondary_cancer_condition_maps_when_the_site_is_in_the_case_model():
    metastasis = example("Condition-secondary-cancer-condition-brain-mets.json")
    lung = next(c for c in C.METASTASIS_SITE.codings("lung") if c["system"] == SNOMED)
    metastasis["code"] = {"coding": [lung]}
    result = read([patient("cancer-patient-john-anyperson"), metastasis])
    assert result.fields["metastases"] == [{"site": "lung", "detected": {"date": "2019-05-01"}}]
    assert "Condition.asserter" in {x.element for x in result.losses}


def test_gross_examination_size_with_focus_on_the_tumor_is_a_pathology_size():
    result = read(
        [
            patient("cancer-patient-eve-anyperson", "female"),
            example("BodyStructure-tumor-lobular-carcinoma-left-breast.json"),
            example("Observation-tumor-size-pathology.json"),
        ]
    )
    assert result.fields["pathology"] == {"size_cm": [1.2, 0.5]}
    assert "not in the IVC" in reason(
        result, "Observation/tumor-size-pathology", "Observation.focus"
    )
    assert "neither the IVC nor a known intraluminal" in reason(
        result, "BodyStructure/tumor-lobular-carcinoma-left-breast", "BodyStructure.location"
    )


# --------------------------------------------------------------------------------------------
# An IVC leiomyosarcoma from another producer: plain mCODE, standard codes only
# --------------------------------------------------------------------------------------------


def _snomed(table: Any, key: str) -> dict[str, Any]:
    return {"coding": [c for c in table.codings(key) if c["system"] == SNOMED]}


def other_producer_ivc_case() -> list[dict[str, Any]]:
    """An IVC leiomyosarcoma as a generic mCODE producer writes it (no fhir_ivc extensions)."""
    subject = {"reference": "Patient/p1"}
    ivc = {
        "coding": [C.IVC_STRUCTURE.coding()],
        "extension": [
            {
                "url": mcode("mcode-body-location-qualifier"),
                "valueCodeableConcept": _snomed(C.IVC_SEGMENT, "middle"),
            }
        ],
    }
    return [
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": {"profile": [mcode("mcode-cancer-patient")]},
            "identifier": [{"system": "urn:oid:1.2.3.4", "value": "LMS-7"}],
            "gender": "female",
            "birthDate": "1962-05",
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "meta": {"profile": [mcode("mcode-primary-cancer-condition")]},
            "extension": [
                {
                    "url": mcode("mcode-histology-morphology-behavior"),
                    "valueCodeableConcept": C.icdo3_morphology("8890/3"),
                }
            ],
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {"coding": [C.MALIGNANT_NEOPLASM.coding()]},
            "bodySite": [ivc],
            "evidence": [{"code": [_snomed(C.EVIDENCE_TYPE, "histology")]}],
            "subject": subject,
        },
        {
            "resourceType": "Condition",
            "id": "m1",
            "meta": {"profile": [mcode("mcode-secondary-cancer-condition")]},
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/condition-related",
                    "valueReference": {"reference": "Condition/c1"},
                }
            ],
            "code": _snomed(C.METASTASIS_SITE, "liver"),
            "subject": subject,
            "onsetDateTime": "2021-02",
        },
        {
            "resourceType": "BodyStructure",
            "id": "t1",
            "meta": {"profile": [mcode("mcode-tumor")]},
            "location": {"coding": [C.IVC_STRUCTURE.coding()]},
            "patient": subject,
        },
        {
            "resourceType": "Observation",
            "id": "s1",
            "meta": {"profile": [mcode("mcode-tumor-size")]},
            "status": "final",
            "code": {"coding": [C.TUMOR_SIZE.coding()]},
            "subject": subject,
            "focus": [{"reference": "BodyStructure/t1"}],
            "effectiveDateTime": "2020-01-15",
            "method": _snomed(C.IMAGING_MODALITY, "ct"),
            "component": [
                {
                    "code": {"coding": [C.TUMOR_LONGEST_DIMENSION.coding()]},
                    "valueQuantity": {
                        "value": 95,
                        "unit": "mm",
                        "system": "http://unitsofmeasure.org",
                        "code": "mm",
                    },
                }
            ],
        },
        {
            "resourceType": "MedicationAdministration",
            "id": "ma1",
            "meta": {"profile": [mcode("mcode-cancer-related-medication-administration")]},
            "status": "completed",
            "medicationReference": {"reference": "Medication/dox"},
            "subject": subject,
            "effectiveDateTime": "2021-03-01",
            "reasonReference": [{"reference": "Condition/m1"}],
        },
        {
            "resourceType": "Medication",
            "id": "dox",
            "code": {
                "coding": [c for c in C.AGENT.codings("doxorubicin") if "rxnorm" in c["system"]]
            },
        },
        {
            "resourceType": "Observation",
            "id": "d1",
            "meta": {"profile": [mcode("mcode-cancer-disease-status")]},
            "status": "final",
            "code": {"coding": [C.CANCER_DISEASE_STATUS.coding()]},
            "subject": subject,
            "focus": [{"reference": "Condition/m1"}],
            "effectiveDateTime": "2021-09",
            "valueCodeableConcept": _snomed(C.DISEASE_STATUS, "stable"),
        },
    ]


def test_an_ivc_case_from_another_producer_becomes_a_valid_case():
    result = read(other_producer_ivc_case(), "urn:oid:1.2.3.4")
    assert result.error is None, result.error
    expected = Case.model_validate(
        {
            "case_id": "LMS-7",
            "source_system": "urn:oid:1.2.3.4",
            "patient": {"sex": "female", "birth_date": "1962-05"},
            "diagnosis": {
                "histology": "Leiomyosarcoma, NOS",  # the ICD-O-3 display: no text was given
                "icdo3_morphology": "8890/3",
                "ivc_segments": ["middle"],
                "basis": "histology",
            },
            "imaging": [{"modality": "ct", "dimensions_cm": [9.5], "when": {"date": "2020-01-15"}}],
            "metastases": [{"site": "liver", "detected": {"date": "2021-02"}}],
            "systemic_therapy": [
                {
                    "agents": ["doxorubicin"],
                    "setting": "metastatic",
                    "status": "completed",
                    "start": {"date": "2021-03-01"},
                    "inferred": ["setting"],
                }
            ],
            "follow_up": [{"when": {"date": "2021-09"}, "disease_status": "stable"}],
        }
    )
    assert result.case == expected
    assert [(x.resource, x.element) for x in result.losses] == [
        ("MedicationAdministration/ma1", "MedicationAdministration.extension[therapy-setting]")
    ]


def test_the_missing_morphology_is_not_filled_in_with_the_model_default():
    resources = other_producer_ivc_case()
    del resources[1]["extension"]
    result = read(resources, "urn:oid:1.2.3.4")
    assert result.case is None
    assert "diagnosis.histology, diagnosis.icdo3_morphology: not stated" in str(result.error)
    assert ("Condition/c1", "Condition.extension[histologyMorphologyBehavior]") in losses_of(result)


def test_resources_that_must_not_be_read_are_reported_and_skipped():
    resources = other_producer_ivc_case()
    resources[7]["status"] = "entered-in-error"  # the disease status
    resources[2]["modifierExtension"] = [
        {"url": "http://example.org/negated", "valueBoolean": True}
    ]
    resources[4]["status"] = "preliminary"  # the tumor size
    result = read(resources, "urn:oid:1.2.3.4")
    assert result.case is not None
    assert result.case.follow_up == []
    assert result.case.metastases == []
    assert result.case.imaging[0].dimensions_cm == [9.5]
    assert "entered-in-error: not read" in reason(result, "Observation/d1", "Observation.status")
    assert "http://example.org/negated" in reason(
        result, "Condition/m1", "Condition.modifierExtension"
    )
    assert "'preliminary' is not carried" in reason(result, "Observation/s1", "Observation.status")


def test_conflicting_primaries_are_reported():
    resources = other_producer_ivc_case()
    second = copy.deepcopy(resources[1])
    second["id"] = "c2"
    result = read([*resources, second], "urn:oid:1.2.3.4")
    assert result.case is not None
    assert reason(result, "Condition/c2", "Condition") == (
        "conflicting values: a second primary cancer condition"
    )
