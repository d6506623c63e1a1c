"""``fhir-ivc pull`` streams: memory does not grow with the number of patients.

A fake server makes every patient from one synthetic case on the fly (the case id and the
resource ids changed per patient), so that hundreds of patients cost no set-up. The peak of
traced Python memory while pulling 15 and 75 patients must be about the same: the engine keeps
nothing after the command has written a patient (``pull_many(..., keep=False)``), and the
``.json`` loss report is assembled from a spool file, not from a list.
"""

from __future__ import annotations

import json
import re
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.client._support import make_response
from tests.exchange.test_pull import SYSTEM, server_resources, statement

from fhir_ivc.cli._app import app
from fhir_ivc.cli._pull_outputs import LossDocument
from fhir_ivc.client import FhirClient
from fhir_ivc.io import dump_json
from fhir_ivc.testing.synth import synthetic_case

BASE = "http://fhir.test/fhir"
TEMPLATE_ID = "synth-000000"


class ManyPatients:
    """``n`` patients, each a copy of synthetic case 0 with its own case id and resource ids."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.template = json.dumps(server_resources(synthetic_case(0, source_system=SYSTEM)))
        self.requests = 0

    def case_id(self, i: int) -> str:
        return f"synth-{i:06d}"

    def resources(self, i: int) -> list[dict[str, Any]]:
        text = self.template.replace(TEMPLATE_ID, self.case_id(i))
        # every server id gets the patient's suffix, so that no two patients share a resource
        text = re.sub(r'("id": "|"reference": "[A-Za-z]+/)([^"]+)"', rf'\1\2-p{i}"', text)
        resources: list[dict[str, Any]] = json.loads(text)
        return resources

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.path.removeprefix("/fhir/")
        if path == "metadata":
            return make_response(200, statement())
        if path == "Patient":
            page = int(request.url.params.get("page", "1"))
            size = 50
            patients = [
                next(r for r in self.resources(i) if r["resourceType"] == "Patient")
                for i in range((page - 1) * size, min(page * size, self.n))
            ]
            links = []
            if page * size < self.n:
                links.append({"relation": "next", "url": f"Patient?page={page + 1}"})
            return self.bundle(patients, links)
        if m := re.fullmatch(r"Patient/(.+)-p(\d+)/\$everything", path):
            return self.bundle(self.resources(int(m[2])), [])
        raise AssertionError(f"unexpected request {path}")

    @staticmethod
    def bundle(resources: list[dict[str, Any]], links: list[dict[str, str]]) -> httpx.Response:
        return make_response(
            200,
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "link": links,
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
            },
        )


def peak_of_pull(runner, tmp_path: Path, n: int, *extra: str) -> tuple[int, Any]:
    fake = ManyPatients(n)
    runner.use(fhir_client=partial(FhirClient, transport=httpx.MockTransport(fake.handler)))
    out = tmp_path / f"out-{n}"
    tracemalloc.start()
    try:
        result = runner.invoke(
            app,
            [
                *("pull", "--server", BASE, "--system", SYSTEM, "-q", "--out", str(out)),
                *("--strategy", "everything", *extra),
            ],
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("synth-*.json"))) == n
    return peak, out


def test_peak_memory_does_not_grow_with_the_number_of_patients(runner, tmp_path):
    report = ["--loss-report", str(tmp_path / "losses.json")]
    small, _ = peak_of_pull(runner, tmp_path, 15, *report)
    large, _ = peak_of_pull(runner, tmp_path, 75, *report)
    # holding the patients would add ~250 KiB each: 60 more patients = ~15 MB
    assert large < small + 3 * 2**20, (small, large)
    document = json.loads((tmp_path / "losses.json").read_text(encoding="utf-8"))
    assert document["patients"] == 75
    assert sorted(r["case_id"] for r in document["results"]) == [
        f"synth-{i:06d}" for i in range(75)
    ]


@pytest.mark.parametrize(
    "entries",
    [[], [{"case_id": "a", "losses": []}], [{"case_id": "a", "x": {"y": [1, {}]}}, {"b": []}]],
)
def test_the_loss_document_equals_the_one_dumped_at_once(tmp_path, entries):
    header = {"tool": "fhir-ivc", "patients": len(entries)}
    path = tmp_path / "losses.json"
    with LossDocument(path) as document:
        for entry in entries:
            document.write(entry)
        document.finish(header)
    assert path.read_bytes() == dump_json({**header, "results": entries}, pretty=True)
    assert orjson.loads(path.read_bytes())["results"] == entries
