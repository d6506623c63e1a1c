"""``fhir-ivc map/push --ids logical`` without a server, and a server that forbids client ids."""

from __future__ import annotations

import json
from functools import partial

import httpx
import pytest
from tests.client._support import capability, outcome

from fhir_ivc.cli._app import app
from fhir_ivc.client import AsyncFhirClient

BASE = "http://fhir.test/fhir"
REFUSAL = (
    "HAPI-0959: No resource exists on this server resource with ID[x], and client-assigned "
    "IDs are not enabled."
)


def _json(status: int, body: dict) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"Content-Type": "application/fhir+json"}
    )


@pytest.fixture
def fake(runner):
    """A server that declares transactions, then refuses every transaction with HAPI-0959."""
    state = {"metadata": capability(), "posts": []}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fhir/metadata":
            return _json(200, state["metadata"])
        if request.url.path == "/fhir/List":  # the case manifest (--corrections): none yet
            return _json(200, {"resourceType": "Bundle", "type": "searchset", "entry": []})
        state["posts"].append(json.loads(request.content))
        return _json(400, outcome(REFUSAL))

    runner.use(async_fhir_client=partial(AsyncFhirClient, transport=httpx.MockTransport(handle)))
    return state


def test_map_ids_logical_writes_put_by_id(runner, seed_file, tmp_path):
    result = runner.invoke(
        app, ["map", str(seed_file), "--out", str(tmp_path), "--ids", "logical", "-q"]
    )

    assert result.exit_code == 0, result.output
    bundle = json.loads((tmp_path / "case-1.transaction.json").read_text())
    urls = [e["request"]["url"] for e in bundle["entry"]]
    assert urls[0] == f"Patient/{bundle['entry'][0]['resource']['id']}"
    assert all("?" not in url for url in urls)


def test_push_says_when_the_server_forbids_client_ids(runner, fake, seed_file):
    result = runner.invoke(app, ["push", str(seed_file), "--server", BASE, "--ids", "logical"])

    assert result.exit_code == 1, result.output
    assert "does not accept client-assigned ids" in result.stderr
    assert "--ids conditional" in result.stderr
    assert result.stderr.count("does not accept client-assigned ids") == 1
    assert fake["posts"][0]["entry"][0]["request"]["url"].startswith("Patient/")


def test_push_stops_before_sending_when_capabilities_forbid_update_create(runner, fake, seed_file):
    fake["metadata"]["rest"][0]["resource"][0]["updateCreate"] = False

    result = runner.invoke(app, ["push", str(seed_file), "--server", BASE, "--ids", "logical"])

    assert result.exit_code == 2, result.output
    assert "does not accept client-assigned ids" in result.stderr
    assert "CapabilityStatement: Patient" in result.stderr
    assert fake["posts"] == []


def test_conditional_push_is_not_stopped_by_update_create_false(runner, fake, seed_file):
    fake["metadata"]["rest"][0]["resource"][0]["updateCreate"] = False

    result = runner.invoke(app, ["push", str(seed_file), "--server", BASE])

    assert len(fake["posts"]) == 2  # sent (and refused by this fake, which is beside the point)
    assert "?identifier=" in fake["posts"][0]["entry"][0]["request"]["url"]
    assert result.exit_code == 1
