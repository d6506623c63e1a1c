"""The private key of a SMART backend client, and the client assertions it signs.

A key is loaded from a PEM file (PKCS#8 or the traditional RSA/EC forms, unencrypted) or from
a JSON file holding one JWK or a JWKS (the form many EHR consoles hand out). RSA keys (2048
bits or more) sign RS384, P-384 EC keys sign ES384: the two algorithms SMART Backend Services
requires servers to support. The ``kid`` comes from the JWK when it has one, else it is the
RFC 7638 thumbprint of the public key (what :func:`public_jwks` publishes for registration).

Nothing here ever puts key material into a message, a log line or a ``repr()``: errors name the
file and what is wrong with it, never its contents.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fhir_ivc.exceptions import ConfigError

__all__ = ["ASSERTION_TYPE", "MAX_ASSERTION_LIFETIME_S", "SigningKey", "public_jwks"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: SMART: the assertion's ``exp`` is no more than five minutes in the future.
MAX_ASSERTION_LIFETIME_S = 300
_MIN_RSA_BITS = 2048
_MAX_KEY_FILE_BYTES = 1 << 20

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    return jwk


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    members = ("e", "kty", "n") if public_jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


def _algorithm(key: PrivateKey, source: str) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ConfigError(f"{source}: RSA key of {key.key_size} bits; SMART needs 2048 or more")
        return "RS384"
    if isinstance(key.curve, ec.SECP384R1):
        return "ES384"
    raise ConfigError(
        f"{source}: EC key on curve {key.curve.name}; ES384 needs P-384 (secp384r1), "
        "or use an RSA key (RS384)"
    )


def _from_pem(data: bytes, source: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted PEM
        raise ConfigError(f"{source}: the PEM key is encrypted; give an unencrypted one") from exc
    except ValueError as exc:
        raise ConfigError(f"{source}: not a PEM private key the SMART client can use") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{source}: {type(key).__name__} keys are not supported (RSA or EC)")
    return key


def _pick_jwk(document: Any, kid: str | None, source: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a JWK or JWKS must be a JSON object")
    keys = document.get("keys") if "keys" in document else [document]
    if not isinstance(keys, list):
        raise ConfigError(f"{source}: 'keys' of a JWKS must be an array")
    private = [k for k in keys if isinstance(k, dict) and "d" in k]
    if kid is not None:
        private = [k for k in private if k.get("kid") == kid]
    if not private:
        wanted = f" with kid {kid!r}" if kid is not None else ""
        raise ConfigError(f"{source}: no private key{wanted} in the JWK(S) (no 'd' member)")
    if len(private) > 1:
        raise ConfigError(f"{source}: {len(private)} private keys; choose one with its key id")
    return private[0]


def _from_jwk(jwk: dict[str, Any], source: str) -> PrivateKey:
    try:
        key = jwt.PyJWK(jwk).key
    except (jwt.exceptions.PyJWKError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{source}: not a usable private JWK ({type(exc).__name__})") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{source}: the JWK is not an RSA or EC private key")
    return key


@dataclass(frozen=True, repr=False)
class SigningKey:
    """A private key with its algorithm (RS384/ES384) and key id; ``repr()`` shows no key."""

    key: PrivateKey
    alg: str
    kid: str
    source: str

    @classmethod
    def load(cls, path: str | Path, *, kid: str | None = None) -> SigningKey:
        """Read a PEM or JWK/JWKS file; ``kid`` picks one private key of a JWKS."""
        file = Path(path)
        source = str(file)
        try:
            with file.open("rb") as handle:
                data = handle.read(_MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read private key file {file}: {exc.strerror}") from exc
        if len(data) > _MAX_KEY_FILE_BYTES:
            raise ConfigError(f"{source}: larger than 1 MiB, not a key file")
        if data.lstrip().startswith(b"{"):
            try:
                document = json.loads(data)
            except ValueError as exc:
                raise ConfigError(f"{source}: neither PEM nor valid JSON (JWK/JWKS)") from exc
            jwk = _pick_jwk(document, kid, source)
            key = _from_jwk(jwk, source)
            alg = _algorithm(key, source)
            if jwk.get("alg") not in (None, alg):
                raise ConfigError(
                    f"{source}: the JWK says alg {jwk.get('alg')!r}; SMART needs {alg}"
                )
            return cls(key, alg, str(jwk.get("kid") or _thumbprint(_public_jwk(key))), source)
        key = _from_pem(data, source)
        alg = _algorithm(key, source)
        return cls(key, alg, kid or _thumbprint(_public_jwk(key)), source)

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (``kid``, ``alg``, ``use``), for the server's registration."""
        jwk = _public_jwk(self.key)
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def assertion(self, *, client_id: str, token_url: str, now: float, lifetime_s: int) -> str:
        """A signed client assertion (RFC 7523): iss = sub = client id, aud = token URL."""
        issued = int(now)
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "iat": issued,
            "exp": issued + min(lifetime_s, MAX_ASSERTION_LIFETIME_S),
            "jti": uuid.uuid4().hex,  # unique per assertion: servers refuse a replayed one
        }
        headers = {"kid": self.kid, "typ": "JWT"}
        return jwt.encode(claims, self.key, algorithm=self.alg, headers=headers)

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r}, source={self.source!r})"


def public_jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JWKS of the public keys, to register the client with an authorization server."""
    return {"keys": [key.public_jwk() for key in keys]}
