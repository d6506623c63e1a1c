"""``fhir-ivc pull --state`` and ``--since`` against HAPI FHIR: kill -9, resume, incremental.

* **kill -9**: 40 synthetic cases are pushed under a fresh source system; ``fhir-ivc pull
  --state`` runs as a subprocess through a counting proxy (it forwards to HAPI and records every
  request path) and is killed with SIGKILL once the journal lists at least 8 finished patients.
  The re-run must not send a request for any patient the journal had finished, must fetch each
  of the others exactly once, and the NDJSON file must hold every case exactly once, equal to
  its original.
* **--since**: after a full pull with ``--state``, one case is changed and pushed again; ``pull
  --since last`` and ``pull --since <instant before the change>`` return only that case.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import FhirClient
from fhir_ivc.exchange import push_many
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

N_CASES = 40
KILL_AFTER = 8
CLI = [sys.executable, "-c", "from fhir_ivc.cli import main; main()"]


class CountingProxy:
    """A local HTTP proxy to the FHIR server that records the path of every GET.

    Response bodies have the server's base URL replaced by the proxy's, so that next links
    lead back through the proxy.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.paths: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with proxy.lock:
                    proxy.paths.append(self.path)
                prefix = urlparts(proxy.target)[1]
                answer = httpx.get(
                    proxy.target + self.path.removeprefix(prefix),
                    headers={"Accept": self.headers.get("Accept", "application/fhir+json")},
                    timeout=120,
                )
                body = answer.content.replace(proxy.target.encode(), proxy.base.encode())
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}{urlparts(self.target)[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def everything_ids(self) -> list[str]:
        with self.lock:
            return [
                m[1] for p in self.paths if (m := re.search(r"Patient/([^/?]+)/\$everything", p))
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def urlparts(url: str) -> tuple[str, str]:
    match = re.fullmatch(r"(https?://[^/]+)(/.*)?", url)
    assert match, url
    return match[1], match[2] or ""


@pytest.fixture
def proxy(fhir_base_url: str) -> Iterator[CountingProxy]:
    counting = CountingProxy(fhir_base_url)
    yield counting
    counting.close()


def push(fhir_base_url: str, cases: list[Case]) -> None:
    bundles = [build_bundles(case) for case in cases]
    with FhirClient(fhir_base_url, timeout=120) as fhir:
        results = push_many(
            fhir, [(b.case_id, b.transaction, b.sources) for b in bundles], concurrency=2
        )
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]


def fresh_cases(n: int) -> list[Case]:
    system = f"https://fhir-ivc.example.org/fhir/sid/test-pull-state-{uuid.uuid4()}"
    return [synthetic_case(i, source_system=system) for i in range(n)]


def pull_args(base: str, system: str, state: Path, ndjson: Path, *extra: str) -> list[str]:
    return [
        *CLI,
        "pull",
        "--server",
        base,
        "--system",
        system,
        "--ndjson",
        str(ndjson),
        "--state",
        str(state),
        "--count",
        "100",
        "-j",
        "2",
        "--strategy",
        "everything",  # the test counts $everything requests: no probing by `auto`
        "-q",
        *extra,
    ]


def done_patients(state: Path) -> set[str]:
    if not state.exists():
        return set()
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return {key for (key,) in db.execute("SELECT key FROM done")}
    except sqlite3.OperationalError:  # the tables are not there yet
        return set()
    finally:
        db.close()


def test_a_killed_pull_resumes_without_refetching_and_writes_each_case_once(
    fhir_base_url, proxy, tmp_path
):
    cases = fresh_cases(N_CASES)
    push(fhir_base_url, cases)
    system = str(cases[0].source_system)
    state, ndjson = tmp_path / "pull.state", tmp_path / "cases.ndjson"
    args = pull_args(proxy.base, system, state, ndjson)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(done_patients(state)) < KILL_AFTER:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the pull did not get going"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    finished = {key.removeprefix("Patient/") for key in done_patients(state)}
    assert KILL_AFTER <= len(finished) < N_CASES, "killed too late to test anything"
    assert not ndjson.exists()  # the file appears only when the run completes

    proxy.paths.clear()
    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    fetched = proxy.everything_ids()
    assert not set(fetched) & finished, "finished patients were fetched again"
    assert sorted(fetched) == sorted(set(fetched))
    assert len(fetched) == N_CASES - len(finished)

    lines = [json.loads(line) for line in ndjson.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["case_id"] for r in lines) == sorted(c.case_id for c in cases)
    by_id = {c.case_id: c for c in cases}
    assert all(Case.model_validate(r) == by_id[r["case_id"]] for r in lines)
    losses = tmp_path / "cases.losses.ndjson"
    assert len(losses.read_text(encoding="utf-8").splitlines()) == N_CASES


def test_since_pulls_only_the_changed_case(fhir_base_url, proxy, tmp_path):
    cases = fresh_cases(3)
    push(fhir_base_url, cases)
    system = str(cases[0].source_system)
    state = tmp_path / "pull.state"

    full = subprocess.run(
        pull_args(proxy.base, system, state, tmp_path / "all.ndjson"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert full.returncode == 0, full.stderr
    assert len((tmp_path / "all.ndjson").read_text().splitlines()) == 3

    time.sleep(1.1)  # the change must be later than the full pull's start, on the server's clock
    before_change = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    record = cases[1].model_dump(mode="json")
    record["imaging"][0]["findings"] += " (revised after the first pull)"
    changed = Case.model_validate(record)
    push(fhir_base_url, [changed])

    for since in ("last", before_change):
        out = tmp_path / f"since-{since.replace(':', '')}.ndjson"
        proxy.paths.clear()
        result = subprocess.run(
            pull_args(proxy.base, system, state, out, "--since", since),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        pulled = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [r["case_id"] for r in pulled] == [changed.case_id], since
        assert Case.model_validate(pulled[0]) == changed
        assert len(proxy.everything_ids()) == 1, since
