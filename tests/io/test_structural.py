"""fhir_ivc.io.structural_check: fhir.validate's errors as one line each (its own tests cover
the checks in depth)."""

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


def test_problems_are_lines_that_start_with_the_expression():
    bundle = transaction()
    entries = bundle["entry"]
    entries[0]["resource"]["birthDate"] = "not a date"
    entries[0]["resource"]["nickname"] = "secret value"
    entries[1]["resource"]["subject"]["reference"] = "urn:uuid:dangling"
    del entries[1]["request"]["url"]
    entries.append(copy.deepcopy(entries[0]))
    entries[2]["resource"] = {"resourceType": "NotAResource"}
    issues = structural_check(bundle)
    assert "Bundle.entry[0].resource.nickname: Extra inputs are not permitted" in issues
    assert "Bundle.entry[1].request.url: missing" in issues
    prefixes = [
        "Bundle.entry[0].resource.birthDate: ",
        "Bundle.entry[1].resource.subject.reference: ",
        "Bundle.entry[2].fullUrl: ",
        "Bundle.entry[2].resource.resourceType: ",
    ]
    for prefix in prefixes:
        assert any(issue.startswith(prefix) for issue in issues), (prefix, issues)
    assert all("\n" not in issue for issue in issues)
    assert not any("secret value" in issue or "not a date" in issue for issue in issues)


def test_not_a_bundle():
    assert structural_check({"resourceType": "Patient"}) == ["Bundle: not a Bundle"]
