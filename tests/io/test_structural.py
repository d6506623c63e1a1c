"""fhir_ivc.io.structural_check: re-parse with fhir.resources R4B plus bundle structure."""

from __future__ import annotations

import copy
from typing import Any

from fhir_ivc.io import structural_check

PATIENT = "urn:uuid:11111111-1111-4111-8111-111111111111"
CONDITION = "urn:uuid:22222222-2222-4222-8222-222222222222"


def transaction() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": PATIENT,
                "resource": {"resourceType": "Patient", "gender": "female"},
                "request": {"method": "PUT", "url": "Patient?identifier=urn:x|case-1"},
            },
            {
                "fullUrl": CONDITION,
                "resource": {
                    "resourceType": "Condition",
                    "subject": {"reference": PATIENT},
                    "code": {"text": "Leiomyosarcoma"},
                },
                "request": {"method": "POST", "url": "Condition"},
            },
        ],
    }


def test_sound_bundle_has_no_issues():
    assert structural_check(transaction()) == []
    collection = transaction()
    collection["type"] = "collection"
    for entry in collection["entry"]:
        del entry["request"]
    assert structural_check(collection) == []


def test_every_problem_is_named_by_entry_and_path():
    bundle = transaction()
    entries = bundle["entry"]
    entries[0]["resource"]["birthDate"] = "not a date"
    entries[0]["resource"]["nickname"] = "secret value"
    entries[1]["resource"]["subject"]["reference"] = "urn:uuid:dangling"
    del entries[1]["request"]["url"]
    entries.append(copy.deepcopy(entries[0]))
    entries[2]["resource"] = {"resourceType": "NotAResource"}
    entries.append({"resource": {"resourceType": "Basic", "code": {"text": "x"}}})
    issues = structural_check(bundle)
    assert "entry[0] Patient.birthDate: " in "\n".join(issues)
    assert "entry[0] Patient.nickname: Extra inputs are not permitted" in issues
    assert "entry[1].request.url: missing" in issues
    assert "entry[2].fullUrl: used by an earlier entry too" in issues
    assert "entry[2] NotAResource: unknown resourceType" in issues
    assert "entry[3].fullUrl: missing" in issues
    assert "entry[3].request.method: missing or not an HTTP verb" in issues
    assert (
        "entry[1] Condition.subject.reference: reference to an entry that is not in the bundle"
        in issues
    )
    assert not any("secret value" in issue or "not a date" in issue for issue in issues)


def test_not_a_bundle():
    assert structural_check({"resourceType": "Patient"}) == ["resourceType is not 'Bundle'"]
    assert structural_check({"resourceType": "Bundle", "type": "nope", "entry": "x"}) == [
        "type: missing or not a Bundle type code",
        "entry: not a list",
    ]
