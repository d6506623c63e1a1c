"""Pull benchmark: patients/s read back from the local HAPI server, ``$everything`` vs searches.

    .venv/bin/python benchmarks/bench_pull.py                    # 500 patients, 2 rounds
    .venv/bin/python benchmarks/bench_pull.py --n 200 --concurrency 8 --server URL --json out.json
    .venv/bin/python benchmarks/bench_pull.py --source-system URI  # reuse patients loaded before

The server is ``--server URL``, else the one ``scripts/fhir-server`` runs, else one this script
starts (and stops at the end).

1. **Load**: N synthetic cases (``fhir_ivc.testing.synth.synthetic_case``) under a fresh
   ``source_system`` are pushed with ``push_many`` (async client), unless ``--source-system``
   names patients loaded by an earlier run.
2. **Warm-up** (not timed): 20 patients pulled with each strategy, so the JVM has compiled both
   paths.
3. **Timed**: every round pulls all N patients (``PatientQuery.by_system``) with each strategy
   (``$everything``, then the type-search fallback; the order alternates between rounds) and each
   client (``AsyncFhirClient`` with an anyio task group, ``FhirClient`` with threads, as the CLI),
   at ``--concurrency`` patients in flight, ``--count`` entries per page. A run's rate is N over
   its wall time, patient search included; reading every patient into a case is part of it.
4. **Check** (not timed): every pulled case equals its original, with no losses.

The server runs on the same machine and competes with this process for CPU: patients/s measure
the pair, not the client. The client's CPU seconds per run are printed to show its share.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import AsyncFhirClient, FhirClient
from fhir_ivc.exchange import PatientPull, PatientQuery, pull_many, push_many
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fhir-server"
WARMUP = 20


@dataclass
class Run:
    round: int
    strategy: str
    client: str
    patients: int
    seconds: float
    cpu_seconds: float
    requests: int
    resources: int

    @property
    def rate(self) -> float:
        return self.patients / self.seconds


def _server(url: str | None) -> tuple[str, bool]:
    """The base URL, and whether this script started the server (and must stop it)."""
    if url:
        return url.rstrip("/"), False
    running = subprocess.run(
        ["bash", str(SCRIPT), "url"], capture_output=True, text=True, check=False
    )
    if running.returncode == 0 and running.stdout.strip():
        return running.stdout.strip(), False
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        sys.exit(f"could not start the FHIR server:\n{started.stderr}")
    return started.stdout.strip().splitlines()[-1], True


def load(base_url: str, n: int, seed: int, concurrency: int) -> tuple[str, list[Case], float]:
    source_system = f"https://fhir-ivc.example.org/fhir/sid/bench-pull-{uuid.uuid4().hex[:12]}"
    cases = [synthetic_case(i, seed=seed, source_system=source_system) for i in range(n)]
    items = []
    for case in cases:
        bundles = build_bundles(case)
        items.append((case.case_id, bundles.transaction, bundles.sources))

    async def push() -> None:
        async with AsyncFhirClient(base_url, timeout=300) as fhir:
            results = await push_many(fhir, items, concurrency=concurrency)
        failed = [r.error for r in results if not r.ok]
        if failed:
            sys.exit(f"loading failed for {len(failed)} cases, e.g. {failed[0]}")

    started = time.perf_counter()
    anyio.run(push)
    return source_system, cases, time.perf_counter() - started


def pull(
    base_url: str, query: PatientQuery, *, strategy: str, client: str, count: int, concurrency: int
) -> list[PatientPull]:
    if client == "sync":
        with FhirClient(base_url, timeout=300) as fhir:
            return pull_many(
                fhir,
                query,
                strategy=strategy,  # type: ignore[arg-type]
                count=count,
                concurrency=concurrency,
            )

    async def main() -> list[PatientPull]:
        async with AsyncFhirClient(base_url, timeout=300) as fhir:
            return await pull_many(
                fhir,
                query,
                strategy=strategy,  # type: ignore[arg-type]
                count=count,
                concurrency=concurrency,
            )

    return anyio.run(main)


def timed(
    base_url: str, query: PatientQuery, round_: int, strategy: str, client: str, args: Any
) -> tuple[Run, list[PatientPull]]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    pulled = pull(
        base_url,
        query,
        strategy=strategy,
        client=client,
        count=args.count,
        concurrency=args.concurrency,
    )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    run = Run(
        round=round_,
        strategy=strategy,
        client=client,
        patients=len(pulled),
        seconds=wall,
        cpu_seconds=cpu,
        requests=sum(p.requests for p in pulled),
        resources=sum(len(p.resources) for p in pulled),
    )
    return run, pulled


def check(cases: list[Case], pulled: list[PatientPull]) -> None:
    by_id = {c.case_id: c for c in cases}
    bad = [p.case_id for p in pulled if not p.ok or p.losses or p.case != by_id.get(str(p.case_id))]
    if bad or len(pulled) != len(cases):
        sys.exit(f"pulled cases differ from the originals: {bad[:5]} ({len(pulled)} pulled)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="patients (default 500)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="patients in flight")
    parser.add_argument("--count", type=int, default=100, help="_count (page size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", help="FHIR base URL (default: the local HAPI server)")
    parser.add_argument("--source-system", help="pull patients an earlier run loaded")
    parser.add_argument("--clients", default="async,sync", help="async,sync (default both)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    base_url, started = _server(args.server)
    try:
        print(f"server {base_url}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        if args.source_system:
            source_system = args.source_system
            cases = [
                synthetic_case(i, seed=args.seed, source_system=source_system)
                for i in range(args.n)
            ]
            load_seconds = None
        else:
            source_system, cases, load_seconds = load(base_url, args.n, args.seed, 4)
            print(f"loaded {args.n} cases in {load_seconds:.1f} s ({source_system})")
        query = PatientQuery.by_system(source_system)
        warm = PatientQuery.by_identifiers([(source_system, c.case_id) for c in cases[:WARMUP]])
        for strategy in ("everything", "search"):
            pull(base_url, warm, strategy=strategy, client="async", count=args.count, concurrency=4)

        clients = [c.strip() for c in args.clients.split(",") if c.strip()]
        runs: list[Run] = []
        for round_ in range(1, args.rounds + 1):
            strategies = ["everything", "search"]
            if round_ % 2 == 0:
                strategies.reverse()
            for strategy in strategies:
                for client in clients:
                    run, pulled = timed(base_url, query, round_, strategy, client, args)
                    check(cases, pulled)
                    runs.append(run)
                    print(
                        f"round {round_} {strategy:10} {client:5}: {run.rate:6.1f} patients/s "
                        f"({run.patients} in {run.seconds:.1f} s, {run.requests} requests, "
                        f"{run.resources} resources, client CPU {run.cpu_seconds:.1f} s)"
                    )
        print("\nbest of rounds (patients/s):")
        summary = {}
        for strategy in ("everything", "search"):
            for client in clients:
                rates = [r.rate for r in runs if (r.strategy, r.client) == (strategy, client)]
                summary[f"{strategy}/{client}"] = {"best": max(rates), "worst": min(rates)}
                print(f"  {strategy:10} {client:5}: {max(rates):6.1f} (worst {min(rates):.1f})")
        if args.json:
            result = {
                "server": base_url,
                "n": args.n,
                "concurrency": args.concurrency,
                "count": args.count,
                "load_seconds": load_seconds,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "fhir_ivc": metadata.version("fhir-ivc"),
                "runs": [asdict(r) | {"rate": r.rate} for r in runs],
                "summary": summary,
            }
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        if started:
            subprocess.run(["bash", str(SCRIPT), "stop"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
