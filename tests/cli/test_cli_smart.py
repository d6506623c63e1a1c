"""``--auth smart`` on push, pull and validate: options, environment, config file, defaults.

The commands' FHIR clients are replaced by recorders (``runner.use``) that capture the
credentials and stop the run, so no server and no token endpoint are needed here; the
token exchange itself is tests/client/test_smart.py, end to end tests/integration/test_smart.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fhir_ivc.cli._app import app
from fhir_ivc.cli._smart_options import check_scope
from fhir_ivc.client import SmartBackendAuth
from fhir_ivc.exceptions import ConfigError

BASE = "https://ehr.test/fhir"
TOKEN_URL = "https://ehr.test/oauth2/token"
SMART_ENV = (
    "FHIR_IVC_AUTH",
    "FHIR_IVC_SMART_CLIENT_ID",
    "FHIR_IVC_SMART_PRIVATE_KEY",
    "FHIR_IVC_SMART_KEY_ID",
    "FHIR_IVC_SMART_SCOPE",
    "FHIR_IVC_SMART_TOKEN_URL",
    "FHIR_IVC_SMART_CONFIG",
)


class StopError(Exception):
    """Raised by the recording client: the test has what it needs."""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in SMART_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "job.pem"
    key = ec.generate_private_key(ec.SECP384R1())  # quick to make, ES384
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def seen(runner) -> list[Any]:
    """The ``auth`` each command built its FHIR client with."""
    captured: list[Any] = []

    def record(*args: Any, auth: Any = None, **kwargs: Any) -> Any:
        captured.append(auth)
        raise StopError

    runner.use(fhir_client=record, async_fhir_client=record)
    return captured


def run(runner, *args: str) -> Any:
    return runner.invoke(app, list(args))


def test_push_defaults_to_the_v2_write_scope_and_discovery(runner, seen, seed_file, key_file):
    result = run(
        runner, "push", str(seed_file), "--server", BASE, "--auth", "smart",
        "--client-id", "job-1", "--private-key", str(key_file),
    )  # fmt: skip
    assert isinstance(result.exception, StopError)
    (auth,) = seen
    assert isinstance(auth, SmartBackendAuth)
    assert (auth.client_id, auth.scope, auth.key.alg) == ("job-1", "system/*.cruds", "ES384")
    assert auth._token_url is None  # found at [base]/.well-known/smart-configuration
    assert "credentials from SMART client 'job-1'" in result.stderr


def test_pull_defaults_to_the_v2_read_scope(runner, seen, key_file, tmp_path):
    result = run(
        runner, "pull", "--server", BASE, "--system", "https://x.test/id", "--ndjson",
        str(tmp_path / "out.ndjson"), "--auth", "smart", "--client-id", "job-1",
        "--private-key", str(key_file), "--token-url", TOKEN_URL,
    )  # fmt: skip
    assert isinstance(result.exception, StopError)
    (auth,) = seen
    assert auth.scope == "system/*.rs"
    assert auth._token_url == TOKEN_URL


def test_environment_and_config_file_with_options_first(
    runner, seen, key_file, tmp_path, monkeypatch
):
    config = tmp_path / "job.toml"
    config.write_text(
        "[smart]\n"
        'client_id = "from-file"\n'
        f'private_key = "{key_file.name}"\n'  # relative to the config file
        'scope = "system/Patient.read system/Observation.read"\n'
        f'token_url = "{TOKEN_URL}"\n'
    )
    (tmp_path / key_file.name).write_bytes(key_file.read_bytes())
    monkeypatch.setenv("FHIR_IVC_AUTH", "smart")
    monkeypatch.setenv("FHIR_IVC_SMART_CONFIG", str(config))
    monkeypatch.setenv("FHIR_IVC_SMART_CLIENT_ID", "from-env")
    result = run(runner, "pull", "--server", BASE, "--system", "s", "--ndjson", str(tmp_path / "o"))
    assert isinstance(result.exception, StopError), result.output
    result = run(
        runner, "pull", "--server", BASE, "--system", "s", "--ndjson", str(tmp_path / "o"),
        "--client-id", "from-option",
    )  # fmt: skip
    assert isinstance(result.exception, StopError), result.output
    assert [a.client_id for a in seen] == ["from-env", "from-option"]
    assert seen[0].scope == "system/Patient.read system/Observation.read"  # v1, from the file
    assert seen[0]._token_url == TOKEN_URL


def test_validate_server_takes_smart_too(runner, seen, key_file, tmp_path):
    resource = tmp_path / "p.json"
    resource.write_text('{"resourceType": "Patient"}')
    result = run(
        runner, "validate", str(resource), "--server", BASE, "--auth", "smart",
        "--client-id", "job-1", "--private-key", str(key_file),
    )  # fmt: skip
    assert isinstance(result.exception, StopError)
    (auth,) = seen
    assert isinstance(auth, SmartBackendAuth)
    assert auth.scope == "system/*.rs"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client-id", "job-1"], "--client-id is a SMART option: give --auth smart"),
        (["--auth", "smart", "--private-key", "k.pem"], "--auth smart needs --client-id"),
        (["--auth", "smart", "--client-id", "job-1"], "--auth smart needs --private-key"),
        (
            ["--auth", "smart", "--auth-token-env", "T", "--client-id", "c"],
            "got --auth-token-env and --auth smart",
        ),
        (
            [
                "--auth",
                "smart",
                "--client-id",
                "c",
                "--private-key",
                "KEY",
                "--scope",
                "patient/*.rs",
            ],
            "has no system/ scope",
        ),
        (
            [
                "--auth",
                "smart",
                "--client-id",
                "c",
                "--private-key",
                "KEY",
                "--scope",
                "system/*.xyz",
            ],
            "not a SMART system scope: 'system/*.xyz'",
        ),
        (
            [
                "--auth",
                "smart",
                "--client-id",
                "c",
                "--private-key",
                "KEY",
                "--token-url",
                "http://ehr.test/t",
            ],
            "is not https",
        ),
        (
            ["--auth", "smart", "--client-id", "c", "--private-key", "missing.pem"],
            "cannot read private key",
        ),
        (["--auth", "kerberos"], "'kerberos' is not one of 'smart'"),
    ],
)
def test_bad_smart_settings_are_one_error_and_exit_2(
    runner, seen, seed_file, key_file, args, message
):
    args = [str(key_file) if a == "KEY" else a for a in args]
    result = run(runner, "push", str(seed_file), "--server", BASE, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split()), result.stderr
    assert "Traceback" not in result.output
    assert seen == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[smart]\nclient_id = 3\n", "client_id must be a non-empty string"),
        ('client_id = "c"\nprivate_key_pem = "x"\n', "unknown key 'private_key_pem'"),
        ("client_id = \n", "not valid TOML"),
    ],
)
def test_bad_config_files_are_named(runner, seen, seed_file, tmp_path, text, problem):
    config = tmp_path / "job.toml"
    config.write_text(text)
    result = run(
        runner, "push", str(seed_file), "--server", BASE, "--auth", "smart",
        "--smart-config", str(config),
    )  # fmt: skip
    assert result.exit_code == 2
    assert problem in result.stderr
    assert str(config) in " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize(
    "scope",
    ["system/*.rs", "system/*.cruds", "system/Patient.read", "system/*.write", "system/*.*",
     "system/Observation.rs?category=laboratory", "openid system/*.rs"],
)  # fmt: skip
def test_well_formed_scopes(scope):
    assert check_scope(f"  {scope} ") == scope


def test_a_scope_with_letters_out_of_order_is_refused():
    with pytest.raises(ConfigError):
        check_scope("system/*.sr")


def test_push_bulk_takes_smart_too(runner, seen, seed_file, tmp_path, key_file):
    folder = tmp_path / "bulk"
    result = run(runner, "map", str(seed_file), "--bulk", str(folder))
    assert result.exit_code == 0, result.output
    result = run(
        runner, "push", str(folder), "--bulk", "--server", BASE, "--auth", "smart",
        "--client-id", "job-1", "--private-key", str(key_file),
    )  # fmt: skip
    assert isinstance(result.exception, StopError), result.output
    (auth,) = seen  # the client that reads the CapabilityStatement
    assert isinstance(auth, SmartBackendAuth)
    assert auth.scope == "system/*.cruds"
    assert "credentials from SMART client 'job-1'" in result.stderr
