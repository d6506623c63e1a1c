"""Integration tests against a real HAPI FHIR R4 server (servers/hapi, via scripts/fhir-server).

``fhir_base_url`` (session scope) is, in this order:

1. ``$FHIR_IVC_TEST_SERVER`` -- an already running server's base URL (checked, never stopped);
2. the server ``scripts/fhir-server start`` already runs (reused, left running);
3. a server this session starts with ``scripts/fhir-server start`` and stops at the end.

The fixture fails (never skips) when no server can be had: CI must not go green by skipping the
integration tests. Every test collected below this folder gets the ``integration`` marker, so
``pytest -m "not integration"`` (``make unit``) leaves them out.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = REPO / "scripts" / "fhir-server"
ENV_URL = "FHIR_IVC_TEST_SERVER"
# The script itself waits up to 300 s for /metadata (FHIR_SERVER_START_TIMEOUT); a cold first
# build (Maven downloading HAPI into ~/.m2) comes on top of that.
START_TIMEOUT_S = 1800
FHIR_JSON = "application/fhir+json"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every item of the session, not only this folder's: filter by path.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    # The SMART tests' two servers start now, beside the tests that run first (test_smart.py).
    if session.config.option.collectonly:
        return
    if any(item.path.name == "test_smart.py" for item in session.items):
        from tests.integration._smart_servers import start_in_background

        start_in_background()


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _check_metadata(base_url: str) -> None:
    try:
        response = httpx.get(f"{base_url}/metadata", headers={"Accept": FHIR_JSON}, timeout=60)
    except httpx.HTTPError as exc:
        pytest.fail(f"FHIR server {base_url} does not answer: {exc!r}", pytrace=False)
    if response.status_code != 200:
        pytest.fail(
            f"FHIR server {base_url}/metadata returned {response.status_code}", pytrace=False
        )


@pytest.fixture(scope="session")
def fhir_base_url() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/fhir``) of a running HAPI FHIR R4 server."""
    external = os.environ.get(ENV_URL, "").strip().rstrip("/")
    if external:
        _check_metadata(external)
        yield external
        return

    if _script("status", timeout=30).returncode == 0:  # started by hand: reuse, don't stop
        url = _script("url", timeout=30).stdout.strip()
        _check_metadata(url)
        yield url
        return

    try:
        started = _script("start", timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        _script("stop", timeout=120)
        pytest.fail(f"scripts/fhir-server start timed out after {exc.timeout} s", pytrace=False)
    lines = started.stdout.strip().splitlines()
    if started.returncode != 0 or not lines:
        pytest.fail(
            "could not start the HAPI FHIR server (scripts/fhir-server start, "
            f"exit {started.returncode}); set {ENV_URL} to use a running one.\n"
            f"--- stderr ---\n{started.stderr}\n--- stdout ---\n{started.stdout}",
            pytrace=False,
        )
    url = lines[-1].strip()
    if "already running" in started.stderr:  # another session won the race: use, don't stop
        _check_metadata(url)
        yield url
        return
    try:
        _check_metadata(url)
        yield url
    finally:
        stopped = _script("stop", timeout=120)
        if stopped.returncode != 0:  # pragma: no cover - reported, not raised, at teardown
            print(f"scripts/fhir-server stop failed:\n{stopped.stderr}")


@pytest.fixture
def fhir(fhir_base_url: str) -> Iterator[httpx.Client]:
    """An httpx client on the server's base URL, sending and accepting FHIR JSON."""
    with httpx.Client(
        base_url=fhir_base_url,
        headers={"Accept": FHIR_JSON, "Content-Type": FHIR_JSON},
        timeout=120,
    ) as client:
        yield client
