"""SMART Backend Services: keys, client assertions, the shared token, re-authorisation and the
token endpoint's faults (respx), through both client shells."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_ivc.client import AsyncFhirClient, FhirClient, SigningKey, SmartBackendAuth, public_jwks
from fhir_ivc.client._smart_keys import ASSERTION_TYPE
from fhir_ivc.exceptions import AuthError, AuthFailedError, ConfigError

from ._support import make_response

BASE = "https://fhir.test/fhir"
TOKEN_URL = "https://auth.test/oauth2/token"
DISCOVERY = f"{BASE}/.well-known/smart-configuration"
PATIENT = {"resourceType": "Patient", "id": "p1"}
ACCESS = "eyJ-access-token-AAAA"
ACCESS_2 = "eyJ-access-token-BBBB"


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _pem(key: Any, path: Path, password: bytes | None = None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return path


def _private_jwk(key: Any, kid: str | None) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else None
    if algorithm is None:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = algorithm.to_jwk(key, as_dict=True)
    if kid:
        jwk["kid"] = kid
    return jwk


@pytest.fixture(scope="module")
def signing_key(rsa_key, tmp_path_factory) -> SigningKey:
    # loaded once: cryptography checks an RSA key on load (~0.1-0.5 s)
    return SigningKey.load(_pem(rsa_key, tmp_path_factory.mktemp("key") / "key.pem"))


def test_pem_rsa_key_signs_rs384_with_its_thumbprint_as_kid(rsa_key, tmp_path):
    key = SigningKey.load(_pem(rsa_key, tmp_path / "key.pem"))
    assert key.alg == "RS384"
    assert len(key.kid) == 43  # base64url of a SHA-256
    public = key.public_jwk()
    assert public["kid"] == key.kid
    assert public["alg"] == "RS384"
    assert "d" not in public
    assert public_jwks(key) == {"keys": [public]}


def test_pem_ec_p384_key_signs_es384(ec_key, tmp_path):
    key = SigningKey.load(_pem(ec_key, tmp_path / "key.pem"))
    assert key.alg == "ES384"
    assert key.public_jwk()["crv"] == "P-384"


def test_jwks_key_keeps_its_kid_and_kid_picks_one_of_several(rsa_key, ec_key, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps({"keys": [_private_jwk(rsa_key, "rsa-1"), _private_jwk(ec_key, "ec-1")]})
    )
    with pytest.raises(ConfigError, match="2 private keys"):
        SigningKey.load(path)
    assert SigningKey.load(path, kid="ec-1").alg == "ES384"
    single = tmp_path / "jwk.json"
    single.write_text(json.dumps(_private_jwk(rsa_key, "rsa-1")))
    assert SigningKey.load(single).kid == "rsa-1"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: ec.generate_private_key(ec.SECP256R1()), "ES384 needs P-384"),
        (lambda d: rsa.generate_private_key(public_exponent=65537, key_size=1024), "2048"),
    ],
)
def test_keys_smart_does_not_allow_are_refused(tmp_path, make, message):
    with pytest.raises(ConfigError, match=message):
        SigningKey.load(_pem(make(None), tmp_path / "key.pem"))


def test_unusable_key_files_name_the_file_never_the_content(rsa_key, tmp_path):
    encrypted = _pem(rsa_key, tmp_path / "enc.pem", password=b"pw-pw-pw")
    with pytest.raises(ConfigError, match="encrypted"):
        SigningKey.load(encrypted)
    public_only = tmp_path / "public.json"
    public_jwk = _private_jwk(rsa_key, "k")
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        public_jwk.pop(member)
    public_only.write_text(json.dumps({"keys": [public_jwk]}))
    with pytest.raises(ConfigError, match="no private key"):
        SigningKey.load(public_only)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(ConfigError) as caught:
        SigningKey.load(garbage)
    assert "c2VjcmV0" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read private key file"):
        SigningKey.load(tmp_path / "missing.pem")


def test_repr_shows_no_key_material(signing_key):
    text = repr(signing_key)
    auth = SmartBackendAuth("job-1", signing_key, "system/*.rs", token_url=TOKEN_URL)
    assert "PRIVATE" not in text
    assert str(signing_key.key.private_numbers().d)[:20] not in text
    assert "job-1" in repr(auth)
    assert "key" not in repr(auth).split("kid=")[0].lower().replace("smartbackendauth", "")


def test_assertion_claims_follow_smart(signing_key):
    now = time.time()
    first = signing_key.assertion(client_id="job-1", token_url=TOKEN_URL, now=now, lifetime_s=900)
    second = signing_key.assertion(client_id="job-1", token_url=TOKEN_URL, now=now, lifetime_s=240)
    public = signing_key.key.public_key()
    claims = jwt.decode(first, public, algorithms=["RS384"], audience=TOKEN_URL)
    header = jwt.get_unverified_header(first)
    assert header == {"alg": "RS384", "kid": signing_key.kid, "typ": "JWT"}
    assert claims["iss"] == claims["sub"] == "job-1"
    assert claims["aud"] == TOKEN_URL
    assert claims["exp"] - int(now) == 300  # capped at five minutes
    other = jwt.decode(second, public, algorithms=["RS384"], audience=TOKEN_URL)
    assert other["exp"] - int(now) == 240
    assert other["jti"] != claims["jti"]


# --------------------------------------------------------------------------------------------
# The token: fetched once, shared, renewed
# --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def token_answer(value: str = ACCESS, expires_in: int = 300, **extra: Any) -> httpx.Response:
    body = {"access_token": value, "token_type": "bearer", "expires_in": expires_in, **extra}
    return httpx.Response(200, json=body)


class Smart:
    """A FHIR client of either shell with SMART auth, both on one respx router."""

    def __init__(self, kind: str, router: respx.Router, key: SigningKey, **auth_kwargs: Any):
        self.kind = kind
        self.clock = Clock()
        self.delays: list[float] = []

        async def asleep(seconds: float) -> None:
            self.delays.append(seconds)

        auth_kwargs.setdefault("token_url", TOKEN_URL)
        self.auth = SmartBackendAuth(
            "job-1",
            key,
            auth_kwargs.pop("scope", "system/*.rs"),
            transport=httpx.MockTransport(router.handler),
            async_transport=httpx.MockTransport(router.async_handler),
            clock=self.clock,
            sleep=self.delays.append,
            asleep=asleep,
            **auth_kwargs,
        )
        self.client: FhirClient | AsyncFhirClient
        if kind == "sync":
            self.client = FhirClient(
                BASE, auth=self.auth, transport=httpx.MockTransport(router.handler)
            )
        else:
            self.client = AsyncFhirClient(
                BASE, auth=self.auth, transport=httpx.MockTransport(router.async_handler)
            )

    async def read(self) -> Any:
        result = self.client.read("Patient", "p1")
        if self.kind == "async":
            result = await result
        return result

    async def close(self) -> None:
        if isinstance(self.client, AsyncFhirClient):
            await self.client.aclose()
        else:
            self.client.close()


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(assert_all_mocked=True)


@pytest.fixture(params=["sync", "async"])
def smart(request, router, signing_key):
    made: list[Smart] = []

    def make(**kwargs: Any) -> Smart:
        harness = Smart(request.param, router, signing_key, **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        if isinstance(harness.client, FhirClient):
            harness.client.close()


def bearer(request: httpx.Request) -> str:
    return request.headers.get("Authorization", "")


@pytest.mark.anyio
async def test_one_token_serves_many_requests_and_is_renewed_before_expiry(smart, router):
    token = router.post(TOKEN_URL).mock(
        side_effect=[token_answer(ACCESS, 300), token_answer(ACCESS_2, 300)]
    )
    fhir = router.get(f"{BASE}/Patient/p1").mock(return_value=make_response(200, PATIENT))
    harness = smart()
    for _ in range(3):
        assert await harness.read() == PATIENT
    assert token.call_count == 1
    assert [bearer(c.request) for c in fhir.calls] == [f"Bearer {ACCESS}"] * 3
    form = parse_qs(token.calls[0].request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    assert form["scope"] == ["system/*.rs"]
    assert form["client_id"] == ["job-1"]
    harness.clock.now += 300 - 60  # a quarter of the lifetime, at most 60 s, before expiry
    await harness.read()
    assert token.call_count == 2
    assert bearer(fhir.calls[-1].request) == f"Bearer {ACCESS_2}"
    await harness.close()


@pytest.mark.anyio
async def test_a_401_renews_the_token_once_and_retries(smart, router):
    token = router.post(TOKEN_URL).mock(side_effect=[token_answer(ACCESS), token_answer(ACCESS_2)])
    answers = iter([make_response(401), make_response(200, PATIENT)])
    sent: list[str] = []  # the header as sent (the retry reuses the request object)

    def fhir_answer(request: httpx.Request) -> httpx.Response:
        sent.append(bearer(request))
        return next(answers)

    router.get(f"{BASE}/Patient/p1").mock(side_effect=fhir_answer)
    harness = smart()
    assert await harness.read() == PATIENT
    assert token.call_count == 2
    assert sent == [f"Bearer {ACCESS}", f"Bearer {ACCESS_2}"]
    await harness.close()


@pytest.mark.anyio
async def test_a_401_with_the_renewed_token_ends_it_without_a_storm(smart, router):
    token = router.post(TOKEN_URL).mock(side_effect=[token_answer(ACCESS), token_answer(ACCESS_2)])
    fhir = router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(
            401,
            headers={
                "WWW-Authenticate": 'Bearer error="invalid_token", error_description="Jwt expired"'
            },
        )
    )
    harness = smart()
    with pytest.raises(AuthFailedError, match="HTTP 401 invalid_token: Jwt expired with a new"):
        await harness.read()
    for _ in range(3):  # later requests fail at once: no token request, no FHIR request
        with pytest.raises(AuthFailedError, match="does not accept the tokens"):
            await harness.read()
    assert token.call_count == 2
    assert fhir.call_count == 2
    await harness.close()


@pytest.mark.anyio
async def test_a_403_names_the_scope_and_does_not_renew(smart, router):
    token = router.post(TOKEN_URL).mock(return_value=token_answer(scope="system/*.rs"))
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(
            403, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
        )
    )
    harness = smart()
    for _ in range(2):  # not remembered: another request may be allowed
        with pytest.raises(AuthFailedError, match=r"HTTP 403 insufficient_scope .*'system/\*\.rs'"):
            await harness.read()
    assert token.call_count == 1
    await harness.close()


def test_threads_sharing_one_client_make_one_token_request(router, signing_key):
    calls: list[float] = []

    def slow_token(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        time.sleep(0.2)  # every thread arrives while the first is still waiting for it
        return token_answer()

    router.post(TOKEN_URL).mock(side_effect=slow_token)
    fhir = router.get(f"{BASE}/Patient/p1").mock(return_value=make_response(200, PATIENT))
    harness = Smart("sync", router, signing_key)
    assert isinstance(harness.client, FhirClient)
    client = harness.client
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.read("Patient", "p1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert not errors
    assert len(calls) == 1
    assert fhir.call_count == 16


@pytest.mark.anyio
async def test_concurrent_async_requests_make_one_token_request(router, signing_key):
    import anyio

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.1)
        return token_answer()

    token = router.post(TOKEN_URL).mock(side_effect=slow_token)
    fhir = router.get(f"{BASE}/Patient/p1").mock(return_value=make_response(200, PATIENT))
    harness = Smart("async", router, signing_key)
    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(harness.read)
    await harness.close()
    assert token.call_count == 1
    assert fhir.call_count == 20


# --------------------------------------------------------------------------------------------
# Token endpoint faults
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx.Response(401, json={"error": "invalid_client"}),
            r"refused: HTTP 401 invalid_client \(the server does not accept client 'job-1'",
        ),
        (
            httpx.Response(400, json={"error": "invalid_scope", "error_description": "no\nway"}),
            r"HTTP 400 invalid_scope: no way \(scope 'system/\*\.rs' is not granted",
        ),
        (httpx.Response(200, text="<html>"), "answer is not JSON"),
        (httpx.Response(200, json={"token_type": "bearer"}), "no usable access_token"),
        (httpx.Response(200, json={"access_token": "a b", "token_type": "bearer"}), "no usable"),
        (httpx.Response(200, json={"access_token": "t", "token_type": "mac"}), "not Bearer"),
        (httpx.Response(302, headers={"Location": "https://evil.test/"}), "refused: HTTP 302"),
        (httpx.Response(200, content=b"{" + b" " * 70_000 + b"}"), "larger than 64 KiB"),
    ],
)
async def test_a_refusing_token_endpoint_gives_one_error_and_is_not_asked_again(
    smart, router, answer, message
):
    token = router.post(TOKEN_URL).mock(return_value=answer)
    fhir = router.get(f"{BASE}/Patient/p1").mock(return_value=make_response(200, PATIENT))
    harness = smart()
    with pytest.raises(AuthError, match=message):
        await harness.read()
    with pytest.raises(AuthError, match=message):
        await harness.read()
    assert token.call_count == 1
    assert fhir.call_count == 0
    await harness.close()


@pytest.mark.anyio
async def test_transient_token_faults_are_tried_three_times(smart, router):
    token = router.post(TOKEN_URL).mock(
        side_effect=[httpx.ConnectError("down"), httpx.Response(503), token_answer()]
    )
    router.get(f"{BASE}/Patient/p1").mock(return_value=make_response(200, PATIENT))
    harness = smart()
    assert await harness.read() == PATIENT
    assert token.call_count == 3
    assert harness.delays == [0.5, 1.0]
    await harness.close()


@pytest.mark.anyio
async def test_transient_token_faults_give_up_after_three_attempts(smart, router):
    token = router.post(TOKEN_URL).mock(return_value=httpx.Response(429))
    harness = smart()
    with pytest.raises(AuthError, match="HTTP 429 after 3 attempts"):
        await harness.read()
    with pytest.raises(AuthError, match="HTTP 429 after 3 attempts"):
        await harness.read()
    assert token.call_count == 3
    await harness.close()


# --------------------------------------------------------------------------------------------
# Discovery and URLs
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_token_endpoint_is_discovered_once(smart, router):
    discovery = router.get(DISCOVERY).mock(
        return_value=httpx.Response(
            200,
            json={
                "token_endpoint": TOKEN_URL,
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            },
        )
    )
    token = router.post(TOKEN_URL).mock(
        side_effect=[token_answer(ACCESS, 8), token_answer(ACCESS_2)]
    )
    router.get(f"{BASE}/Patient/p1").mock(return_value=make_response(200, PATIENT))
    harness = smart(token_url=None, fhir_base_url=BASE)
    await harness.read()
    harness.clock.now += 10
    await harness.read()
    assert discovery.call_count == 1
    assert token.call_count == 2
    await harness.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (httpx.Response(404), AuthError, "HTTP 404, no JSON configuration"),
        (httpx.Response(200, json={"issuer": "x"}), AuthError, "no token_endpoint"),
        (
            httpx.Response(200, json={"token_endpoint": "http://auth.test/token"}),
            ConfigError,
            "not https",
        ),
    ],
)
async def test_discovery_faults(smart, router, answer, error, message):
    router.get(DISCOVERY).mock(return_value=answer)
    harness = smart(token_url=None, fhir_base_url=BASE)
    with pytest.raises(error, match=message):
        await harness.read()
    await harness.close()


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://ehr.example/token", True),
        ("http://127.0.0.1:9000/oauth2/token", True),
        ("http://localhost/token", True),
        ("http://[::1]:8080/token", True),
        ("http://ehr.example/token", False),
        ("ftp://ehr.example/token", False),
    ],
)
def test_assertions_travel_only_over_https_or_to_this_machine(signing_key, url, ok):
    if ok:
        SmartBackendAuth("job-1", signing_key, "system/*.rs", token_url=url)
    else:
        with pytest.raises(ConfigError, match="not https"):
            SmartBackendAuth("job-1", signing_key, "system/*.rs", token_url=url)


# --------------------------------------------------------------------------------------------
# Secrets stay out of logs and errors
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_key_assertion_or_token_in_logs_or_errors(smart, router, caplog, rsa_key):
    caplog.set_level(logging.DEBUG)
    token = router.post(TOKEN_URL).mock(
        side_effect=[token_answer(ACCESS), httpx.Response(401, json={"error": "invalid_client"})]
    )
    router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[make_response(200, PATIENT), make_response(401)]
    )
    harness = smart()
    await harness.read()
    with pytest.raises(AuthError) as caught:
        await harness.read()
    form = parse_qs(token.calls[0].request.content.decode())
    assertion = form["client_assertion"][0]
    secret_d = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key, as_dict=True)["d"]
    texts = [caplog.text, str(caught.value), repr(harness.auth)]
    for text in texts:
        for secret in (ACCESS, assertion, assertion.split(".")[2], secret_d, "PRIVATE KEY"):
            assert secret not in text
    assert "SMART token for client 'job-1'" in caplog.text  # the log does say what happened
    await harness.close()
