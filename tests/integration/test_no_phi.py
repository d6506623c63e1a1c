"""No PHI, no secrets (issue 12 §4): every command, with the most verbose logging, over the seed
cases and a synthetic batch against the real HAPI server. No patient identifier value, birth
date, token or password may appear in stdout, stderr, log records or reports; only the data
outputs (bundles, pulled case records) carry them.

The case model has no name field; the seed cases get identifiers here so that they carry PHI
too. A record rejected *because of* its identifier is part of the batch.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fhir_ivc.cli._app import app
from fhir_ivc.testing.synth import synthetic_case

pytestmark = pytest.mark.integration

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"
TOKEN = "tok-" + uuid.uuid4().hex
PASSWORD = "pw-" + uuid.uuid4().hex


def batch(run: str) -> tuple[list[dict[str, Any]], set[str], str]:
    """Seed + synthetic records with identifiers and birth dates, one bad one; their PHI, and
    the case source system of this run (case ids are not PHI: they are what logs name)."""
    records: list[dict[str, Any]] = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    for record in records:
        record["case_id"] = f"{record['case_id']}-{run}"
    for index in range(12):
        record = synthetic_case(index, seed=7).model_dump(mode="json", exclude_none=True)
        record["case_id"] = f"syn-{index}-{run}"
        records.append(record)
    source = f"https://fhir-ivc.example.org/fhir/sid/phi-test-{run}"
    for number, record in enumerate(records):
        record["source_system"] = source
        record["patient"]["identifiers"] = [
            {"system": f"{source}-mrn", "value": f"MRN{run}{number:04d}", "type": "MR"}
        ]
    bad = json.loads(json.dumps(records[0]))
    bad["case_id"] = f"bad-{run}"
    bad["patient"]["identifiers"][0]["value"] = f"MRN{run}BAD" + "x" * 300  # too long
    bad["patient"]["birth_date"] = "1961-13-45"  # not a date
    records.append(bad)
    phi: set[str] = {TOKEN, PASSWORD}
    for record in records:
        phi.update(i["value"] for i in record["patient"].get("identifiers", []))
        birth = record["patient"].get("birth_date")
        if isinstance(birth, str) and len(birth) == 10:  # a year alone is too common to look for
            phi.add(birth)
    return records, phi, source


def leaks(text: str, phi: set[str]) -> list[str]:
    return sorted(value for value in phi if value in text)


def test_no_command_prints_logs_or_reports_phi_or_secrets(fhir_base_url, tmp_path, caplog):
    run = uuid.uuid4().hex[:8]
    records, phi, system = batch(run)
    cases = tmp_path / "cases.ndjson"
    cases.write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "basic").write_text(f"user:{PASSWORD}\n")
    bundles, pulled, reports = tmp_path / "bundles", tmp_path / "pulled", tmp_path / "reports"
    reports.mkdir()
    server = ["--server", fhir_base_url]
    commands = [
        ["schema"],
        ["map", str(cases), "--out", str(bundles), "--rejects", str(reports / "map.rejects")],
        ["validate", str(bundles / f"case-1-{run}.transaction.json"), "--severity", "information"],
        ["validate", str(cases), "--format", "json"],  # case records are not resources: errors
        [
            "push",
            str(cases),
            *server,
            "--verbose",
            "--auth-token-file",
            str(tmp_path / "token"),
            "--report",
            str(reports / "push.json"),
        ],
        [
            "push",
            str(bundles / f"case-2-{run}.transaction.json"),
            "--prebuilt",
            *server,
            "--verbose",
            "--basic-auth-file",
            str(tmp_path / "basic"),
            "--report",
            str(reports / "prebuilt.json"),
        ],
        ["push", str(cases), "--dry-run", "--verbose"],
        [
            "pull",
            *server,
            "--system",
            system,
            "--out",
            str(pulled),
            "--loss-report",
            str(reports / "loss.json"),
            "--auth-token-file",
            str(tmp_path / "token"),
        ],
        [
            "pull",
            *server,
            "--identifier",
            f"{system}|syn-3-{run}",
            "--identifier",
            f"{system}|nobody-{run}",
            "--out",
            str(pulled),
            "--loss-report",
            str(reports / "loss-one.json"),
        ],
    ]
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    runner = CliRunner()
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 1), (args, result.output)
        assert "Traceback" not in result.output
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            assert leaks(text, phi) == [], (args[0], stream)
    assert caplog.records, "the commands logged nothing: the test would prove nothing"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert leaks(logged, phi) == []
    written = sorted(reports.iterdir())
    assert {p.name for p in written} >= {"map.rejects", "push.json", "prebuilt.json", "loss.json"}
    for report in written:
        assert leaks(report.read_text(), phi) == [], report.name
    # the data outputs do carry the PHI: the test is looking at the right values
    assert leaks("".join(p.read_text() for p in bundles.glob("*.json")), phi)
    assert leaks("".join(p.read_text() for p in pulled.glob("*.json")), phi)
