"""SMART Backend Services end to end: the real authorization server (Spring Authorization
Server, private_key_jwt) and the HAPI server in its secured mode (Spring Security resource
server: signature, expiry, audience, scope per interaction).

Push and pull the seed cases through them, and every refusal (wrong key, expired assertion,
missing scope, unknown or revoked client) gives exactly one error line and exit 2, after at
most one token request: the authorization server counts them (``/stats/token-requests``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fhir_ivc.cli._app import app
from fhir_ivc.client import FhirClient, SigningKey, SmartBackendAuth
from fhir_ivc.client import smart as smart_module
from tests.integration._smart_servers import SmartServers, start_in_background

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"
SEED_SYSTEM = "https://fhir-ivc.example.org/fhir/sid/seed-report"


@pytest.fixture(scope="module")
def servers() -> Iterator[SmartServers]:
    found = start_in_background()  # started at collection (conftest), or now
    try:
        found.wait()
        yield found
    finally:
        found.stop()


def smart_args(servers: SmartServers, name: str, *extra: str, key: str | None = None) -> list[str]:
    return [
        "--server",
        servers.fhir,
        "--auth",
        "smart",
        "--client-id",
        servers.client_id(name),
        "--private-key",
        str(servers.key(key or name)),
        *extra,
    ]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fhir-ivc: error:")]


def test_the_secured_server_refuses_requests_without_a_valid_token(servers):
    assert httpx.get(f"{servers.fhir}/metadata", timeout=60).status_code == 200  # SMART: open
    config = httpx.get(f"{servers.fhir}/.well-known/smart-configuration", timeout=60).json()
    assert config["token_endpoint"] == f"{servers.auth_url}/oauth2/token"
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    assert httpx.get(f"{servers.fhir}/Patient", timeout=60).status_code == 401
    key = SigningKey.load(servers.key("job-rs"))
    auth = SmartBackendAuth(
        servers.client_id("job-rs"), key, "system/*.rs", fhir_base_url=servers.fhir
    )
    with FhirClient(servers.fhir, auth=auth) as client:
        assert client.capability_statement()["resourceType"] == "CapabilityStatement"
    token = auth._token  # the held token, signed by the authorization server
    assert token is not None
    header, claims, signature = token.value.split(".")
    forged = f"{header}.{claims}.{signature[:-4]}AAAA"
    for value in (forged, "not-a-jwt"):
        answer = httpx.get(
            f"{servers.fhir}/Patient", headers={"Authorization": f"Bearer {value}"}, timeout=60
        )
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    answer = httpx.get(
        f"{servers.fhir}/Patient", headers={"Authorization": f"Bearer {token.value}"}, timeout=60
    )
    assert answer.status_code == 200


def test_push_and_pull_the_seed_cases_through_smart(servers, tmp_path, monkeypatch):
    runner = CliRunner()
    before = servers.token_requests("job-rs")
    # RS384 key from a PEM file, the token endpoint discovered from the FHIR server
    pushed = runner.invoke(app, ["push", str(SEED), *smart_args(servers, "job-rs"), "-j", "4"])
    assert pushed.exit_code == 0, pushed.output
    assert "2 ok, 0 failed" in pushed.stderr
    assert servers.token_requests("job-rs") == before + 1  # 4 workers, one token

    # ES384 key, everything from a job's config file and the environment
    config = tmp_path / "job.toml"
    config.write_text(
        f'client_id = "{servers.client_id("job-es")}"\n'
        f'private_key = "{servers.key("job-es")}"\n'
        f'token_url = "{servers.auth_url}/oauth2/token"\n'
        'scope = "system/*.read"\n'  # a v1 scope
    )
    monkeypatch.setenv("FHIR_IVC_AUTH", "smart")
    monkeypatch.setenv("FHIR_IVC_SMART_CONFIG", str(config))
    before_es = servers.token_requests("job-es")
    out = tmp_path / "pulled.ndjson"
    pulled = runner.invoke(
        app,
        [
            "pull",
            "--server",
            servers.fhir,
            "--system",
            SEED_SYSTEM,
            "--ndjson",
            str(out),
            "-j",
            "4",
        ],
    )
    assert pulled.exit_code == 0, pulled.output
    cases = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(c["case_id"] for c in cases) == ["case-1", "case-2"]
    assert servers.token_requests("job-es") == before_es + 1


def test_a_short_lived_token_is_renewed_before_it_expires(servers):
    key = SigningKey.load(servers.key("job-short"))
    auth = SmartBackendAuth(
        servers.client_id("job-short"),
        key,
        "system/*.rs",
        token_url=f"{servers.auth_url}/oauth2/token",
    )
    with FhirClient(servers.fhir, auth=auth) as client:
        client.capability_statement()
        list(client.search("Patient", {"_count": "1"}))
        time.sleep(1.6)  # the 2 s token is renewed half a second before it runs out
        list(client.search("Patient", {"_count": "1"}))
    # at least one renewal (more on a slow machine), each ahead of expiry: none after a 401
    assert auth.token_requests >= 2
    assert auth._token is not None
    assert not auth._token.renewed
    assert servers.token_requests("job-short") == auth.token_requests


@pytest.mark.parametrize(
    ("case", "name", "key", "extra", "message"),
    [
        ("wrong key", "job-rs", "stranger", [], "invalid_client"),
        ("expired assertion", "job-rs", None, [], "invalid_client"),
        ("scope not granted", "job-read", None, [], "invalid_scope"),
        (
            "scope too narrow",
            "job-read",
            None,
            ["--scope", "system/*.rs"],
            "HTTP 403 insufficient_scope",
        ),
        ("unknown client", "job-nobody", "job-rs", [], "invalid_client"),
        ("revoked client", "job-revoked", None, [], "invalid_client"),
    ],
)
def test_each_refusal_is_one_error_line_exit_2_and_no_token_storm(
    servers, monkeypatch, caplog, case, name, key, extra, message
):
    if case == "expired assertion":  # this machine's clock ten minutes behind
        monkeypatch.setattr(smart_module, "_system_clock", lambda: time.time() - 600)
    if case == "revoked client":
        servers.revoke("job-revoked")
    caplog.set_level(logging.DEBUG)
    before = servers.token_requests(name)
    result = CliRunner().invoke(
        app, ["push", str(SEED), *smart_args(servers, name, *extra, key=key), "-j", "4"]
    )
    assert result.exit_code == 2, (case, result.output)
    assert "Traceback" not in result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, (case, result.stderr)
    assert message in lines[0], (case, lines[0])
    assert servers.client_id(name) in lines[0] or case == "scope too narrow"
    assert servers.token_requests(name) - before == 1, case  # one ask, no retry storm
    # the key file's contents never show
    pem = servers.key(key or name).read_text()
    body = "".join(pem.splitlines()[1:-1])
    for text in (result.output, caplog.text):
        assert body[:40] not in text


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def test_no_token_or_key_reaches_output_logs_or_reports(servers, tmp_path, caplog):
    """Issue 12 §4 for SMART: with every logger at DEBUG, neither the client assertion nor the
    access token (both JWTs) nor a line of the private key appears in stdout, stderr, log
    records or the push report."""
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    key_lines = [
        line
        for line in servers.key("job-rs").read_text().splitlines()
        if line and not line.startswith("-----")
    ]
    assert key_lines, "the key file has no body: the test would prove nothing"
    runner = CliRunner()
    report = tmp_path / "push.json"
    before = servers.token_requests("job-rs")
    pushed = runner.invoke(
        app, ["push", str(SEED), *smart_args(servers, "job-rs"), "--report", str(report)]
    )
    assert pushed.exit_code == 0, pushed.output
    pulled = runner.invoke(
        app,
        ["pull", *smart_args(servers, "job-rs"), "--system", SEED_SYSTEM, "--ndjson", "-"],
    )
    assert pulled.exit_code == 0, pulled.output
    assert servers.token_requests("job-rs") == before + 2  # a token was really fetched, twice
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    texts = {
        "push stdout": pushed.stdout,
        "push stderr": pushed.stderr,
        "pull stderr": pulled.stderr,
        "logs": logged,
        "report": report.read_text(),
    }
    for name, text in texts.items():
        assert _JWT.search(text) is None, f"a JWT in {name}"
        assert not [line for line in key_lines if line in text], f"the private key in {name}"
