"""``--max-response-bytes``, ``--response-deadline``, ``--max-pages``: the bounds on a server's
answers reach the client of push, pull and validate --server (what the client does at them is
tests/client/test_hostile_server.py; against HAPI tests/integration/test_hostile_hapi.py)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_ivc.cli._app import app
from fhir_ivc.client import DEFAULT_RESPONSE_LIMITS, ResponseLimits

BASE = "https://fhir.test/fhir"


class StopError(Exception):
    """Raised by the recording client: the test has what it needs."""


@pytest.fixture
def seen(runner) -> list[Any]:
    captured: list[Any] = []

    def record(*args: Any, limits: Any = None, **kwargs: Any) -> Any:
        captured.append(limits)
        raise StopError

    runner.use(fhir_client=record, async_fhir_client=record)
    return captured


def test_pull_passes_all_three(runner, seen, tmp_path):
    result = runner.invoke(
        app,
        ["pull", "--server", BASE, "--system", "s", "--ndjson", str(tmp_path / "o"),
         "--max-response-bytes", "1000", "--response-deadline", "2.5", "--max-pages", "3"],
    )  # fmt: skip
    assert isinstance(result.exception, StopError), result.output
    (limits,) = seen
    assert (limits.max_body_bytes, limits.deadline, limits.max_pages) == (1000, 2.5, 3)


def test_push_passes_size_and_deadline_and_defaults_stay(runner, seen, seed_file):
    result = runner.invoke(app, ["push", str(seed_file), "--server", BASE])
    assert isinstance(result.exception, StopError), result.output
    result = runner.invoke(
        app, ["push", str(seed_file), "--server", BASE, "--max-response-bytes", "99"]
    )
    assert isinstance(result.exception, StopError), result.output
    default, small = seen
    assert isinstance(default, ResponseLimits)
    assert default.max_body_bytes == DEFAULT_RESPONSE_LIMITS.max_body_bytes
    assert small.max_body_bytes == 99


def test_push_bulk_passes_them_to_the_fhir_client(runner, seen, seed_file, tmp_path):
    folder = tmp_path / "bulk"
    result = runner.invoke(app, ["map", str(seed_file), "--bulk", str(folder)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["push", str(folder), "--bulk", "--server", BASE,
         "--max-response-bytes", "99", "--response-deadline", "2.5"],
    )  # fmt: skip
    assert isinstance(result.exception, StopError), result.output
    (limits,) = seen  # the CapabilityStatement's client, the first one push --bulk builds
    assert (limits.max_body_bytes, limits.deadline) == (99, 2.5)


@pytest.mark.parametrize("flag", ["--max-response-bytes", "--max-pages"])
def test_limits_must_be_positive(runner, seen, tmp_path, flag):
    result = runner.invoke(
        app, ["pull", "--server", BASE, "--system", "s", "--ndjson", str(tmp_path / "o"), flag, "0"]
    )
    assert result.exit_code == 2
    assert seen == []
