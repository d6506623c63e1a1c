"""The real parts of the SMART tests: the authorization server (servers/auth) and the HAPI
server in its secured mode, started once per session and side by side.

:func:`start_in_background` is called by ``conftest.py`` as soon as collection selected a test
of ``test_smart.py``, so both JVMs start while the other tests run against the plain HAPI
server; the ``smart_servers`` fixture then waits for them. Their keys and clients are made
here: every session registers clients with ids of its own, in a clients file the
authorization server reads again whenever it changes (``revoke`` uses that).

Servers this session started are stopped at its end (unless FHIR_IVC_KEEP_SMART_SERVERS is
set). A running pair (``scripts/auth-server
start --clients .auth-server/test-clients.json`` and the secured HAPI of
``.fhir-server-smart/``) is reused and left running, which keeps reruns quick.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_ivc.client import SigningKey, public_jwks

REPO = Path(__file__).resolve().parents[2]
AUTH = REPO / "scripts" / "auth-server"
HAPI = REPO / "scripts" / "fhir-server"
STATE = REPO / ".auth-server"
CLIENTS = STATE / "test-clients.json"
KEYS = STATE / "test-keys"
HAPI_STATE = REPO / ".fhir-server-smart"
START_TIMEOUT_S = 1800  # a cold first build of both (Maven filling ~/.m2) comes on top
AUDIENCE = "fhir-ivc-hapi"
ALL_SCOPES = ["system/*.rs", "system/*.cruds", "system/*.read", "system/*.write"]


def _pem(key: Any, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


@dataclass
class SmartServers:
    """Keys, clients and the two servers' URLs (``fhir`` = the secured HAPI base URL)."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    auth_url: str = ""
    fhir: str = ""
    started: list[tuple[Path, dict[str, str]]] = field(default_factory=list)
    _jobs: list[tuple[str, subprocess.Popen[str], dict[str, str]]] = field(default_factory=list)
    _clients: list[dict[str, Any]] = field(default_factory=list)

    def client_id(self, name: str) -> str:
        return f"{name}-{self.run}"

    def key(self, name: str) -> Path:
        return KEYS / self.run / f"{self.client_id(name)}.pem"

    # -- registration --------------------------------------------------------------------------

    def _register(self, name: str, key: Any, scopes: list[str], **extra: Any) -> None:
        path = _pem(key, self.key(name))
        signing = SigningKey.load(path)
        self._clients.append(
            {
                "client_id": self.client_id(name),
                "alg": signing.alg,
                "jwks": public_jwks(signing),
                "scopes": scopes,
                **extra,
            }
        )

    def write_clients(self) -> None:
        """Register this session's clients beside those of any other session using the
        running server (under a lock: two sessions may start together)."""
        STATE.mkdir(parents=True, exist_ok=True)
        with (STATE / "test-clients.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            others = []
            if CLIENTS.exists():
                try:
                    others = json.loads(CLIENTS.read_text()).get("clients", [])
                except ValueError:
                    others = []
            mine = {c["client_id"] for c in self._clients}
            clients = [c for c in others if c.get("client_id") not in mine] + self._clients
            # the server compares modification times: make sure a rewrite is seen as one
            before = CLIENTS.stat().st_mtime_ns if CLIENTS.exists() else 0
            CLIENTS.write_text(json.dumps({"audience": AUDIENCE, "clients": clients}, indent=1))
            if CLIENTS.stat().st_mtime_ns <= before:
                os.utime(CLIENTS, ns=(before + 1_000_000_000, before + 1_000_000_000))

    def make_clients(self) -> None:
        (KEYS / self.run).mkdir(parents=True, exist_ok=True)
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._register("job-rs", rsa_key, ALL_SCOPES)
        self._register("job-es", ec.generate_private_key(ec.SECP384R1()), ALL_SCOPES)
        self._register("job-read", rsa_key, ["system/*.rs"])
        self._register("job-revoked", rsa_key, ALL_SCOPES)
        self._register("job-short", rsa_key, ALL_SCOPES, token_ttl_s=2)
        # a key of no registered client, for the wrong-key case
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048), self.key("stranger"))
        self.write_clients()

    def revoke(self, name: str) -> None:
        for client in self._clients:
            if client["client_id"] == self.client_id(name):
                client["revoked"] = True
        self.write_clients()

    # -- the servers ---------------------------------------------------------------------------

    def token_requests(self, name: str) -> int:
        """POST /oauth2/token of this client since the server started (every status)."""
        stats = httpx.get(f"{self.auth_url}/stats/token-requests", timeout=30).json()
        return sum(stats.get(self.client_id(name), {}).values())

    def _script(self, script: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )

    def _status(self, script: Path, env: dict[str, str]) -> str | None:
        done = subprocess.run(
            ["bash", str(script), "status"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            return None
        return done.stdout.strip().rsplit(" at ", 1)[-1]

    def start(self) -> None:
        """Start what is not running yet; both at once (the JVMs start in parallel)."""
        auth_running = self._status(AUTH, {})
        if not auth_running:  # a new server: the clients of earlier sessions are gone
            CLIENTS.unlink(missing_ok=True)
        self.make_clients()
        # generous start timeouts: on a shared, loaded machine a JVM start can take minutes
        hapi_env = {"FHIR_SERVER_STATE": str(HAPI_STATE), "FHIR_SERVER_START_TIMEOUT": "1200"}
        if auth_running and CLIENTS.exists():
            self.auth_url = auth_running
            port = auth_running.rsplit(":", 1)[1]
        else:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = str(probe.getsockname()[1])
            self.auth_url = f"http://127.0.0.1:{port}"
            start = ("start", "--port", port, "--clients", str(CLIENTS))
            env = {"AUTH_SERVER_START_TIMEOUT": "1200"}
            self._jobs.append(("auth", self._script(AUTH, *start, env=env), {}))
        hapi_running = self._status(HAPI, hapi_env)
        if hapi_running:  # checked in wait(): it must trust this authorization server
            self.fhir = hapi_running
        else:
            args = subprocess.run(
                ["bash", str(AUTH), "hapi-args", "--port", port],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            env = {**hapi_env, "FHIR_SERVER_ARGS": args}
            self._jobs.append(("hapi", self._script(HAPI, "start", env=env), hapi_env))

    def _trusts(self, fhir: str) -> bool:
        try:
            config = httpx.get(f"{fhir}/.well-known/smart-configuration", timeout=30).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(config.get("token_endpoint") == f"{self.auth_url}/oauth2/token")

    def wait(self) -> None:
        """Wait for every start, then raise with the scripts' output if one failed (the ones
        that started are in ``started``, so ``stop`` still stops them)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        failures = []
        for name, job, env in self._jobs:
            try:
                out, err = job.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                job.kill()
                out, err = job.communicate()
            if job.returncode != 0 or not out.strip():
                failures.append(f"starting the {name} server failed:\n{err}\n{out}")
                continue
            url = out.strip().splitlines()[-1]  # another session's server when it won the race
            if "already running" not in err:
                self.started.append((AUTH if name == "auth" else HAPI, env))
            if name == "hapi":
                self.fhir = url
            else:
                self.auth_url = url
        self._jobs.clear()
        if not failures and not self._trusts(self.fhir):
            failures.append(
                f"the secured HAPI server at {self.fhir} trusts another authorization server "
                f"than the one at {self.auth_url}: stop it "
                "(FHIR_SERVER_STATE=.fhir-server-smart scripts/fhir-server stop)"
            )
        if failures:
            raise RuntimeError("\n".join(failures))

    def stop(self) -> None:
        shutil.rmtree(KEYS / self.run, ignore_errors=True)
        if os.environ.get("FHIR_IVC_KEEP_SMART_SERVERS"):  # reruns reuse them
            return
        for script, env in self.started:
            subprocess.run(
                ["bash", str(script), "stop"],
                env={**os.environ, **env},
                capture_output=True,
                timeout=120,
                check=False,
            )
        self.started.clear()


_SERVERS: SmartServers | None = None


def start_in_background() -> SmartServers:
    """The session's servers, their starts under way (once)."""
    global _SERVERS
    if _SERVERS is None:
        _SERVERS = SmartServers()
        _SERVERS.start()
    return _SERVERS
