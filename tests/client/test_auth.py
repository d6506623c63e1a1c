"""Credentials: loading, masking, and the one re-authorisation on 401 (both clients)."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from fhir_ivc.client import BasicAuth, BearerTokenAuth, FhirClient
from fhir_ivc.exceptions import AuthError, AuthFailedError, ConfigError

from ._support import make_response, outcome

TOKEN = "s3cr3t-token-AAAA"
NEW_TOKEN = "s3cr3t-token-BBBB"
PASSWORD = "pa55-w0rd-CCCC"
PATIENT = {"resourceType": "Patient", "id": "123"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------------------------
# Loading and masking
# --------------------------------------------------------------------------------------------


def test_bearer_from_env(monkeypatch):
    monkeypatch.setenv("FHIR_IVC_TOKEN", f"  {TOKEN}\n")
    auth = BearerTokenAuth.from_env("FHIR_IVC_TOKEN")
    assert auth.source == "env:FHIR_IVC_TOKEN"
    assert not auth.refreshable
    request = httpx.Request("GET", "http://fhir.test/fhir/metadata")
    assert next(auth.auth_flow(request)).headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_bearer_from_missing_env(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("FHIR_IVC_TOKEN", raising=False)
    else:
        monkeypatch.setenv("FHIR_IVC_TOKEN", value)
    with pytest.raises(ConfigError, match="FHIR_IVC_TOKEN is not set"):
        BearerTokenAuth.from_env()


def test_bearer_from_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    auth = BearerTokenAuth.from_file(path)
    assert auth.refreshable
    assert auth.source == f"file:{path}"
    request = httpx.Request("GET", "http://fhir.test/fhir/metadata")
    assert next(auth.auth_flow(request)).headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("content", "match"), [(None, "cannot read"), ("", "is empty"), ("a\nb", "several lines")]
)
def test_bad_token_files(tmp_path, content, match):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match) as info:
        BearerTokenAuth.from_file(path)
    if content:
        assert content not in str(info.value)


def test_basic_from_file_and_env(tmp_path, monkeypatch):
    path = tmp_path / "basic"
    path.write_text(f"alice:{PASSWORD}:with-colon\n")
    auth = BasicAuth.from_file(path)
    assert auth.username == "alice"
    request = httpx.Request("GET", "http://fhir.test/fhir/metadata")
    header = next(auth.auth_flow(request)).headers["Authorization"]
    assert header == basic("alice", f"{PASSWORD}:with-colon")

    monkeypatch.setenv("FHIR_IVC_USER", "bob")
    monkeypatch.setenv("FHIR_IVC_PASSWORD", PASSWORD)
    env_auth = BasicAuth.from_env()
    assert next(env_auth.auth_flow(request)).headers["Authorization"] == basic("bob", PASSWORD)


@pytest.mark.parametrize("content", ["no-colon", ":password-only", "user:"])
def test_bad_basic_files(tmp_path, content):
    path = tmp_path / "basic"
    path.write_text(content)
    with pytest.raises(ConfigError):
        BasicAuth.from_file(path)


def test_repr_masks_secrets(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    bearer = BearerTokenAuth.from_file(path)
    assert repr(bearer) == f"BearerTokenAuth(token='***', source='file:{path}')"
    assert TOKEN not in str(bearer)
    plain = BasicAuth("alice", PASSWORD)
    assert repr(plain) == "BasicAuth(username='alice', password='***', source='given')"
    assert PASSWORD not in f"{plain}{plain!r}"
    client = FhirClient("https://fhir.test/fhir", auth=bearer)
    try:
        assert TOKEN not in repr(client)
    finally:
        client.close()


def test_refresh_compares_with_what_the_request_carried(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    auth = BearerTokenAuth.from_file(path)
    path.write_text(NEW_TOKEN)
    assert auth.refresh(used=f"Bearer {TOKEN}")
    # a second request that failed with the old token may retry: the token differs from its own
    assert auth.refresh(used=f"Bearer {TOKEN}")
    # a request that already carried the new token may not
    assert not auth.refresh(used=f"Bearer {NEW_TOKEN}")
    assert not BearerTokenAuth(TOKEN).refresh()


def test_refresh_of_a_vanished_file_is_an_auth_error(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    auth = BearerTokenAuth.from_file(path)
    path.unlink()
    with pytest.raises(AuthError, match="re-authorisation failed"):
        auth.refresh()


# --------------------------------------------------------------------------------------------
# 401 → one re-authorisation (both clients)
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_401_rereads_the_token_file_once_then_succeeds(make_client, router, tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    sent: list[str] = []  # httpx re-sends the same Request object, so record headers as sent

    def rotate_then_refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        path.write_text(NEW_TOKEN)  # the token was rotated while we were using the old one
        return make_response(401, outcome("token expired"))

    def accept(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        return make_response(200, PATIENT)

    route = router.get("/Patient/123").mock(side_effect=[rotate_then_refuse, accept])
    client = make_client(auth=BearerTokenAuth.from_file(path))
    assert await client.call("read", "Patient", "123") == PATIENT
    assert route.call_count == 2
    assert sent == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]
    assert client.delays == []  # re-authorisation is not a retry: no backoff


@pytest.mark.anyio
async def test_401_after_reauth_is_auth_failed(make_client, router, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "token"
    path.write_text(TOKEN)

    def rotate_then_refuse(request: httpx.Request) -> httpx.Response:
        path.write_text(NEW_TOKEN)
        return make_response(401)

    route = router.get("/Patient/123").mock(side_effect=[rotate_then_refuse, make_response(401)])
    client = make_client(auth=BearerTokenAuth.from_file(path))
    with pytest.raises(AuthFailedError) as info:
        await client.call("read", "Patient", "123")
    assert route.call_count == 2
    text = f"{info.value}{info.value!r}{info.value.args}{caplog.text}"
    assert "the server refused the credentials" in str(info.value)
    assert TOKEN not in text
    assert NEW_TOKEN not in text


@pytest.mark.anyio
async def test_401_with_an_unchanged_file_is_not_retried(make_client, router, tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    route = router.get("/Patient/123").mock(return_value=make_response(401))
    client = make_client(auth=BearerTokenAuth.from_file(path))
    with pytest.raises(AuthFailedError):
        await client.call("read", "Patient", "123")
    assert route.call_count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "auth",
    [BearerTokenAuth(TOKEN), BasicAuth("alice", PASSWORD), None],
    ids=["bearer", "basic", "none"],
)
async def test_401_without_refreshable_credentials(make_client, router, auth, caplog):
    caplog.set_level(logging.DEBUG)
    route = router.get("/Patient/123").mock(return_value=make_response(401, outcome("no")))
    client = make_client(auth=auth)
    with pytest.raises(AuthFailedError) as info:
        await client.call("read", "Patient", "123")
    assert route.call_count == 1
    assert info.value.attempts == 1
    assert TOKEN not in f"{info.value}{caplog.text}"
    assert PASSWORD not in f"{info.value}{caplog.text}"


@pytest.mark.anyio
async def test_403_is_auth_failed_without_reauth(make_client, router, tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    route = router.get("/Patient/123").mock(return_value=make_response(403, outcome("forbidden")))
    client = make_client(auth=BearerTokenAuth.from_file(path))
    with pytest.raises(AuthFailedError, match="not allowed"):
        await client.call("read", "Patient", "123")
    assert route.call_count == 1


@pytest.mark.anyio
async def test_retries_keep_the_credentials_out_of_logs(make_client, router, caplog):
    caplog.set_level(logging.DEBUG)
    route = router.get("/Patient", params={"identifier": "urn:mrn|4711"}).mock(
        side_effect=[
            httpx.ConnectError,
            make_response(503),
            make_response(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
        ]
    )
    client = make_client(auth=BasicAuth("alice", PASSWORD))
    pages = await client.pages("Patient", {"identifier": "urn:mrn|4711"})
    assert len(pages) == 1
    assert route.call_count == 3
    assert all(c.request.headers["Authorization"] == basic("alice", PASSWORD) for c in route.calls)
    assert "retrying" in caplog.text
    assert PASSWORD not in caplog.text
    assert basic("alice", PASSWORD).split()[1] not in caplog.text
    assert "4711" not in caplog.text  # query strings (patient identifiers) are never logged


# --------------------------------------------------------------------------------------------
# TLS and plain-http warnings
# --------------------------------------------------------------------------------------------


def test_insecure_setups_are_logged(caplog):
    caplog.set_level(logging.WARNING, logger="fhir_ivc.client")
    FhirClient("https://fhir.test/fhir", verify=False).close()
    FhirClient("http://fhir.example.org/fhir", auth=BearerTokenAuth(TOKEN)).close()
    FhirClient("http://127.0.0.1:8080/fhir", auth=BearerTokenAuth(TOKEN)).close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "TLS certificate verification is OFF for https://fhir.test/fhir",
        "credentials will be sent unencrypted to http://fhir.example.org/fhir (plain http)",
    ]


def test_basic_file_credentials_are_reread_on_401(tmp_path):
    path = tmp_path / "basic"
    path.write_text(f"alice:{PASSWORD}")
    auth = BasicAuth.from_file(path)
    flow = auth.auth_flow(httpx.Request("GET", "http://fhir.test/fhir/metadata"))
    first = next(flow)
    assert first.headers["Authorization"] == basic("alice", PASSWORD)
    path.write_text("alice:rotated")
    second = flow.send(httpx.Response(401))
    assert second.headers["Authorization"] == basic("alice", "rotated")
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))


def test_basic_file_turned_invalid_is_an_auth_error(tmp_path):
    path = tmp_path / "basic"
    path.write_text(f"alice:{PASSWORD}")
    auth = BasicAuth.from_file(path)
    path.write_text("garbage")
    with pytest.raises(AuthError, match="user:password") as info:
        auth.refresh()
    assert PASSWORD not in str(info.value)
