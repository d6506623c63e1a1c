"""Corrections on the real HAPI server: a case's resources on the server equal its new bundle.

Case-2 of the seed cases is pushed, its liver metastasis is withdrawn from the record and the
case is pushed again: exactly the Condition pushed for that metastasis leaves the server, in the
same transaction that updates the resources that referred to it; the counts by type equal the
edited bundle's; pulling the case back gives the edited case. With ``entered-in-error`` the
Condition stays, marked so, and a pull told to read only the manifest leaves it out.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import httpx

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import FhirClient
from fhir_ivc.exchange import PatientQuery, pull_many, push_many
from fhir_ivc.exchange.manifest import manifest_identifier
from fhir_ivc.model import Case

from .test_push import _everything, _get, _patient_id, _seed_records, _source_system


def _case_2(source_system: str) -> tuple[dict[str, Any], dict[str, Any]]:
    record = next(r for r in _seed_records(source_system) if r["case_id"] == "case-2")
    edited = copy.deepcopy(record)
    edited["metastases"] = [m for m in edited["metastases"] if m["site"] != "liver"]
    assert len(edited["metastases"]) == len(record["metastases"]) - 1
    return record, edited


def _push(base: str, record: dict[str, Any], corrections: Any = "delete"):
    bundles = build_bundles(Case.model_validate(record))
    with FhirClient(base, timeout=120) as client:
        (result,) = push_many(
            client,
            [(bundles.case_id, bundles.transaction, bundles.sources)],
            corrections=corrections,
        )
    assert result.ok, result.error
    return bundles, result


def _server_types(fhir: httpx.Client, source_system: str) -> Counter[str]:
    """The case's resources by type: ``$everything`` (HAPI leaves the List out) and the List."""
    patient_id = _patient_id(fhir, source_system, "case-2")
    types = Counter(r["resourceType"] for r in _everything(fhir, patient_id))
    system, value = manifest_identifier(source_system, "case-2")
    types["List"] = _get(fhir, "List", identifier=f"{system}|{value}", _summary="count")["total"]
    return types


def test_a_withdrawn_metastasis_leaves_the_server_with_nothing_else(fhir_base_url, fhir):
    source_system = _source_system()
    record, edited = _case_2(source_system)
    old, first = _push(fhir_base_url, record)
    assert first.counts["created"] == len(old.transaction["entry"]) + 1  # and the manifest
    old_types = _server_types(fhir, source_system)
    expected_old = Counter(e["resource"]["resourceType"] for e in old.transaction["entry"])
    assert old_types == expected_old + Counter({"List": 1})

    new, second = _push(fhir_base_url, edited)

    gone_urls = {e["request"]["url"] for e in old.transaction["entry"]} - {
        e["request"]["url"] for e in new.transaction["entry"]
    }
    assert [u.split("?")[0] for u in gone_urls] == ["Condition"]  # only the metastasis
    deleted = [e for e in second.entries if e.outcome == "deleted"]
    assert [(e.resource_type, e.status) for e in deleted] == [("Condition", 204)]
    assert deleted[0].source == "metastasis.liver (removed)"
    assert second.counts["created"] == 0
    assert second.counts["failed"] == 0
    # the Condition is gone (HTTP 410), its identifier matches nothing
    (gone,) = [e for e in old.transaction["entry"] if e["request"]["url"] in gone_urls]
    identifier = gone["resource"]["identifier"][0]
    token = f"{identifier['system']}|{identifier['value']}"
    assert _get(fhir, "Condition", identifier=token, _summary="count")["total"] == 0
    assert fhir.get(deleted[0].location.split("/_history")[0]).status_code == 410
    expected_new = Counter(e["resource"]["resourceType"] for e in new.transaction["entry"])
    assert _server_types(fhir, source_system) == expected_new + Counter({"List": 1})
    assert expected_new == expected_old - Counter({"Condition": 1})
    # nothing on the server references the deleted Condition any more
    patient_id = _patient_id(fhir, source_system, "case-2")
    condition_ref = deleted[0].location.split("/_history")[0]
    assert condition_ref not in str(_everything(fhir, patient_id))

    # pulled back, the case is the edited one
    with FhirClient(fhir_base_url, timeout=120) as client:
        (pulled,) = pull_many(client, PatientQuery.by_identifiers([(source_system, "case-2")]))
    assert pulled.case == Case.model_validate(edited), pulled.problem
    assert not pulled.losses, [x.as_dict() for x in pulled.losses]

    # a third push changes nothing and deletes nothing
    _, third = _push(fhir_base_url, edited)
    assert set(third.counts.items()) >= {("created", 0), ("updated", 0), ("deleted", 0)}


def test_entered_in_error_marks_instead_and_manifest_only_pull_skips_it(fhir_base_url, fhir):
    source_system = _source_system()
    record, edited = _case_2(source_system)
    _push(fhir_base_url, record, "entered-in-error")
    _, second = _push(fhir_base_url, edited, "entered-in-error")

    (marked,) = [e for e in second.entries if e.outcome == "deleted"]
    assert marked.message == "no longer in the case: marked entered-in-error"
    condition = _get(fhir, marked.location.split("/_history")[0])
    assert condition["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in condition
    with FhirClient(fhir_base_url, timeout=120) as client:
        query = PatientQuery.by_identifiers([(source_system, "case-2")])
        (everything,) = pull_many(client, query)
        (listed,) = pull_many(client, query.only_manifest())
    # the reader skips entered-in-error Conditions either way
    assert everything.case == listed.case == Case.model_validate(edited), listed.problem


def test_manifest_only_pull_leaves_out_what_others_wrote(fhir_base_url, fhir):
    source_system = _source_system()
    record, _ = _case_2(source_system)
    _push(fhir_base_url, record)
    patient_id = _patient_id(fhir, source_system, "case-2")
    foreign = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "written by another system"},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    assert fhir.post("Observation", json=foreign).status_code == 201
    with FhirClient(fhir_base_url, timeout=120) as client:
        query = PatientQuery.by_identifiers([(source_system, "case-2")])
        (everything,) = pull_many(client, query)
        (listed,) = pull_many(client, query.only_manifest())
    assert any("Observation" in str(loss.as_dict()) for loss in everything.losses)
    assert not listed.losses, [x.as_dict() for x in listed.losses]
    assert listed.case == everything.case == Case.model_validate(record)


def test_corrections_off_writes_no_manifest(fhir_base_url, fhir):
    source_system = _source_system()
    record, _ = _case_2(source_system)
    bundles, result = _push(fhir_base_url, record, "off")
    assert len(result.entries) == len(bundles.transaction["entry"])
    system, value = manifest_identifier(source_system, "case-2")
    assert _get(fhir, "List", identifier=f"{system}|{value}", _summary="count")["total"] == 0
