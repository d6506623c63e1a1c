"""Hostile-server bounds against the real HAPI server, where HAPI can produce the case: a
next-link chain longer than the page limit, an answer larger than the answer limit (the
$validate OperationOutcome: a pull reads /metadata first, and HAPI's CapabilityStatement is
larger than any search page of small patients). (What HAPI cannot be
made to do -- garbage, gigabytes, slow drips, redirects -- is tests/client/test_hostile_server.py.)

Each is one error line naming the request without its query string, exit 2, never a traceback.
"""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from fhir_ivc.cli._app import app


@pytest.fixture(scope="module")
def system(fhir_base_url) -> str:
    """An identifier system of its own holding three patients (no names, no birth dates)."""
    import httpx

    system = f"https://fhir-ivc.example.org/fhir/sid/hostile-{uuid.uuid4().hex[:8]}"
    entries = [
        {
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": system, "value": f"h{i}"}],
            },
            "request": {"method": "POST", "url": "Patient"},
        }
        for i in range(3)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    answer = httpx.post(
        fhir_base_url, json=bundle, headers={"Content-Type": "application/fhir+json"}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    return system


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fhir-ivc: error:")]


def test_pull_stops_at_the_page_limit_with_one_error(fhir_base_url, system, tmp_path):
    out = tmp_path / "out.ndjson"
    args = ["pull", "--server", fhir_base_url, "--system", system, "--ndjson", str(out)]
    result = CliRunner().invoke(app, [*args, "--count", "1", "--max-pages", "2"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = errors(result.stderr)
    assert "search Patient: more than 2 pages" in line
    assert system not in line  # the query is not shown
    assert "identifier=" not in line
    # within the bounds the same pull goes through (exit 1: these patients are no full cases)
    wide = CliRunner().invoke(app, [*args, "--count", "1", "--max-pages", "5"])
    assert wide.exit_code in (0, 1), wide.output
    assert "more than" not in wide.stderr


def test_validate_server_stops_at_the_answer_limit(fhir_base_url, tmp_path):
    resource = tmp_path / "patient.json"
    resource.write_text('{"resourceType": "Patient", "gender": "unknown"}')
    args = ["validate", str(resource), "--server", fhir_base_url, "--max-response-bytes", "50"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = errors(result.stderr)
    assert "larger than 50 bytes" in line
    assert "Patient/$validate" in line
