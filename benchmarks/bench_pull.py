"""Pull benchmark: patients/s read back from the local HAPI server, ``$everything`` vs searches.

    .venv/bin/python benchmarks/bench_pull.py                    # 500 patients, 2 rounds
    .venv/bin/python benchmarks/bench_pull.py --n 200 --concurrency 8 --server URL --json out.json
    .venv/bin/python benchmarks/bench_pull.py --source-system URI  # reuse patients loaded before
    .venv/bin/python benchmarks/bench_pull.py --strategies everything,search,auto --ids logical

The server is ``--server URL``, else the one ``scripts/fhir-server`` runs, else one this script
starts (and stops at the end).

1. **Load**: N synthetic cases (``fhir_ivc.testing.synth.synthetic_case``) under a fresh
   ``source_system`` are pushed with ``push_many`` (async client), unless ``--source-system``
   names patients loaded by an earlier run.
2. **Warm-up** (not timed): 20 patients pulled with each strategy, so the JVM has compiled both
   paths.
3. **Timed**: every round pulls all N patients (``PatientQuery.by_system``; with
   ``--source-system``, the first N by identifier) with each strategy of ``--strategies``
   (``$everything``, then the type-search fallback, then ``auto`` if asked, which also prints what
   it gathered each patient with; the order alternates between rounds) and each
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
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import anyio

from fhir_ivc.bulk.ids import IdMode
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
    #: patients on the server when the run was measured
    stage: int = 0
    #: what each patient was gathered with (``auto`` decides per run: ``{"search": 500}``)
    gathered_with: dict[str, int] | None = None

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


def load(
    base_url: str,
    n: int,
    seed: int,
    concurrency: int,
    source_system: str | None = None,
    start: int = 0,
    ids: IdMode = "conditional",
) -> tuple[str, list[Case], float]:
    """Push cases ``start`` … ``start + n - 1`` under ``source_system`` (a fresh one by default).

    ``ids="logical"`` (``--ids logical``) loads with ``PUT Type/<uuid>``: the same content, no
    conditional lookup per entry, so a large server fills faster; the pull does not care.
    """
    source_system = (
        source_system or f"https://fhir-ivc.example.org/fhir/sid/bench-pull-{uuid.uuid4().hex[:12]}"
    )
    cases = [
        synthetic_case(i, seed=seed, source_system=source_system) for i in range(start, start + n)
    ]
    items = []
    for case in cases:
        bundles = build_bundles(case, ids=ids)
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
        gathered_with=dict(Counter(str(p.strategy) for p in pulled)),
    )
    return run, pulled


def check(cases: list[Case], pulled: list[PatientPull]) -> None:
    by_id = {c.case_id: c for c in cases}
    bad = [p.case_id for p in pulled if not p.ok or p.losses or p.case != by_id.get(str(p.case_id))]
    if bad or len(pulled) != len(cases):
        sys.exit(f"pulled cases differ from the originals: {bad[:5]} ({len(pulled)} pulled)")


KEEP_ALL = (
    "import sys\n"
    "from fhir_ivc.client import FhirClient\n"
    "from fhir_ivc.exchange import PatientQuery, pull_many\n"
    "with FhirClient(sys.argv[1], timeout=300) as fhir:\n"
    "    kept = pull_many(fhir, PatientQuery.by_system(sys.argv[2]), strategy=sys.argv[3],\n"
    "                     count=int(sys.argv[4]), concurrency=int(sys.argv[5]))\n"
    "assert all(p.ok for p in kept), [p.problem for p in kept if not p.ok][:3]\n"
)


@dataclass
class Rss:
    stage: int
    what: str
    patients: int
    peak_rss_mib: float
    seconds: float


def peak_rss(command: list[str]) -> tuple[float, float]:
    """Peak resident memory (MiB) and wall seconds of one child process."""
    with tempfile.TemporaryFile() as errors:
        wall0 = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - wall0
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            sys.exit(f"{command[3:6]} failed: {errors.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is KiB on Linux


def measure_rss(
    base_url: str, source_system: str, patients: int, stage: int, args: Any
) -> list[Rss]:
    """``fhir-ivc pull --out`` (streaming) and ``pull_many`` keeping every result (baseline)."""
    out: list[Rss] = []
    strategy, count, conc = args.rss_strategy, str(args.count), str(args.concurrency)
    with tempfile.TemporaryDirectory() as folder:
        cli = [
            sys.executable, "-c", "from fhir_ivc.cli import main; main()", "pull",
            "--server", base_url, "--system", source_system, "--out", folder, "-q",
            "--count", count, "-j", conc, "--strategy", strategy,
        ]  # fmt: skip
        mib, seconds = peak_rss(cli)
        written = len(list(Path(folder).glob("*.json"))) - 0
        if written != patients:
            sys.exit(f"the CLI wrote {written} case files, expected {patients}")
    out.append(Rss(stage, "cli --out (streaming)", patients, mib, seconds))
    if getattr(args, "rss_baseline", True):
        keep = [sys.executable, "-c", KEEP_ALL, base_url, source_system, strategy, count, conc]
        mib, seconds = peak_rss(keep)
        out.append(Rss(stage, "pull_many keep=True (baseline)", patients, mib, seconds))
    for r in out:
        print(
            f"  RSS {r.what:32}: {r.patients} patients, peak {r.peak_rss_mib:6.1f} MiB, "
            f"{r.seconds:.0f} s"
        )
    return out


class SyntheticServer:
    """A local HTTP endpoint that serves ``n`` patients made from one synthetic case, on the fly.

    Only what ``fhir-ivc pull --system`` asks for: ``metadata``, ``Patient?identifier=S|``
    (paged) and ``Patient/[id]/$everything``. Each patient is synthetic case 0 with its own case
    id and resource ids, generated per request and never stored, so the server's memory and CPU
    do not depend on ``n``: what grows with ``n`` in the pull's RSS is the pull's own.
    """

    def __init__(self, n: int, system: str) -> None:
        case = synthetic_case(0, source_system=system)
        entries = build_bundles(case).collection["entry"]
        names = {
            e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries
        }
        text = json.dumps([e["resource"] for e in entries])
        for full_url, name in names.items():
            text = text.replace(f'"reference": "{full_url}"', f'"reference": "{name}"')
        self.template, self.case_id, self.n, self.system = text, case.case_id, n, system
        handler = self._handler()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}/fhir"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def resources(self, i: int) -> list[dict[str, Any]]:
        text = self.template.replace(self.case_id, f"synth-{i:06d}")
        text = re.sub(r'("id": "|"reference": "[A-Za-z]+/)([^"]+)"', rf'\1\2-p{i}"', text)
        resources: list[dict[str, Any]] = json.loads(text)
        return resources

    def statement(self) -> dict[str, Any]:
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": "Patient",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "operation": [{"name": "everything", "definition": "urn:x:everything"}],
                        }
                    ],
                }
            ],
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        if path == "/fhir/metadata":
            return self.statement()
        if path == "/fhir/Patient":
            size = int(query.get("_count", ["50"])[0])
            page = int(query.get("page", ["1"])[0])
            ids = range((page - 1) * size, min(page * size, self.n))
            entries = [self.resources(i)[0] for i in ids]  # the Patient comes first
            links = []
            if page * size < self.n:
                links.append(
                    {
                        "relation": "next",
                        "url": f"{self.base}/Patient?identifier={self.system}|"
                        f"&_count={size}&page={page + 1}",
                    }
                )
            return self.searchset(entries, links)
        match = re.fullmatch(r"/fhir/Patient/.+-p(\d+)/\$everything", path)
        if match:
            return self.searchset(self.resources(int(match[1])), [])
        raise ValueError(path)

    @staticmethod
    def searchset(resources: list[dict[str, Any]], links: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                body = json.dumps(server.answer(url.path, parse_qs(url.query))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def synthetic_rss(sizes: list[int], args: Any) -> list[Rss]:
    """Peak RSS of the streaming CLI and of the keep-everything baseline, per number of patients."""
    out: list[Rss] = []
    for n in sizes:
        system = f"urn:fhir-ivc:bench-pull-rss-{n}"
        server = SyntheticServer(n, system)
        try:
            out += measure_rss(server.base, system, n, n, args)
        finally:
            server.close()
    return out


def latency(base_url: str, source_system: str, k: int, count: int) -> dict[str, Any]:
    """Seconds to gather one patient, each of ``k`` patients both ways, one at a time.

    Sequential (no concurrency) and alternating which strategy goes first, so that both see the
    same load; the medians and their ratio are reported with the server's patient count.
    """
    from fhir_ivc.exchange._sync import gather_patient
    from fhir_ivc.exchange.pull import SearchSupport

    strategies: list[Literal["everything", "search"]] = ["everything", "search"]
    seconds: dict[str, list[float]] = {"everything": [], "search": []}
    with FhirClient(base_url, timeout=300) as fhir:
        support = SearchSupport.from_statement(fhir.capability_statement())
        params = {"identifier": f"{source_system}|", "_count": k}
        page = next(iter(fhir.search("Patient", params)))
        patients = [e["resource"] for e in page.get("entry", [])][:k]
        for i, patient in enumerate(patients):
            for strategy in strategies if i % 2 == 0 else strategies[::-1]:
                started = time.perf_counter()
                gather_patient(fhir, patient, strategy=strategy, count=count, support=support)
                seconds[strategy].append(time.perf_counter() - started)
    result = {
        "server_patients": server_patients(base_url),
        "patients": len(patients),
        "everything_median_s": statistics.median(seconds["everything"]),
        "search_median_s": statistics.median(seconds["search"]),
        "load_average": os.getloadavg(),
    }
    result["ratio"] = result["everything_median_s"] / result["search_median_s"]
    print(
        f"latency on a server of {result['server_patients']} patients, {len(patients)} patients "
        f"one at a time: $everything {result['everything_median_s']:.2f} s, searches "
        f"{result['search_median_s']:.2f} s (median per patient; ratio {result['ratio']:.2f}); "
        f"load average {result['load_average'][0]:.1f}"
    )
    return result


def server_patients(base_url: str) -> int:
    """How many patients the server holds (``Patient?_summary=count``)."""
    with FhirClient(base_url, timeout=300) as fhir:
        page = next(iter(fhir.search("Patient", {"_summary": "count"})))
    return int(page.get("total", 0))


def measure_rates(
    base_url: str, query: PatientQuery, cases: list[Case], stage: int, args: Any
) -> list[Run]:
    stage = server_patients(base_url)  # every patient on the server, other systems included
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    runs: list[Run] = []
    for round_ in range(1, args.rounds + 1):
        strategies = [s for s in ("everything", "search", "auto") if s in args.strategies]
        if round_ % 2 == 0:
            strategies.reverse()
        for strategy in strategies:
            for client in clients:
                run, pulled = timed(base_url, query, round_, strategy, client, args)
                check(cases, pulled)
                run.stage = stage
                runs.append(run)
                print(
                    f"[{stage} on server] round {round_} {strategy:10} {client:5}: "
                    f"{run.rate:6.1f} patients/s ({run.patients} in {run.seconds:.1f} s, "
                    f"{run.requests} requests, {run.resources} resources, "
                    f"client CPU {run.cpu_seconds:.1f} s"
                    f"{', gathered with ' + str(run.gathered_with) if strategy == 'auto' else ''}"
                    f"; load average {os.getloadavg()[0]:.1f})"
                )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="patients pulled (default 500)")
    parser.add_argument(
        "--grow-to",
        type=int,
        help="then load more patients of the same system until the server holds this many, "
        "and measure again (the same N patients by identifier)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="patients in flight")
    parser.add_argument("--count", type=int, default=100, help="_count (page size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", help="FHIR base URL (default: the local HAPI server)")
    parser.add_argument("--source-system", help="pull patients an earlier run loaded")
    parser.add_argument("--clients", default="async,sync", help="async,sync (default both)")
    parser.add_argument(
        "--strategies", default="everything,search", help="of everything,search,auto"
    )
    parser.add_argument(
        "--rss",
        action="store_true",
        help="also measure the peak RSS of `fhir-ivc pull` over every patient of the system "
        "at each stage, against pull_many keeping every result",
    )
    parser.add_argument("--rss-strategy", default="auto")
    parser.add_argument(
        "--no-rss-baseline",
        dest="rss_baseline",
        action="store_false",
        help="with --rss: only the streaming CLI, not pull_many keeping every result (which "
        "pulls every patient a second time)",
    )
    parser.add_argument(
        "--ids",
        choices=["conditional", "logical"],
        default="conditional",
        help="how the cases are loaded (push --ids); logical fills a large server faster",
    )
    parser.add_argument(
        "--latency",
        type=int,
        metavar="K",
        help="only time K patients of --source-system one at a time with both strategies",
    )
    parser.add_argument(
        "--rss-synthetic",
        metavar="N,M",
        help="only the RSS benchmark, against a local synthetic endpoint (no HAPI): pull N, "
        "then M patients, streaming CLI vs pull_many keeping every result",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.rss_synthetic:
        print(f"load average {os.getloadavg()}")
        sizes = [int(x) for x in args.rss_synthetic.split(",")]
        rss = synthetic_rss(sizes, args)
        print(f"load average {os.getloadavg()}")
        if args.json:
            args.json.write_text(json.dumps({"rss": [asdict(r) for r in rss]}, indent=2))
        return 0

    base_url, started = _server(args.server)
    if args.latency:
        result = latency(base_url, args.source_system, args.latency, args.count)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0
    try:
        print(f"server {base_url}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"load average {os.getloadavg()}")
        if args.source_system:
            source_system = args.source_system
            cases = [
                synthetic_case(i, seed=args.seed, source_system=source_system)
                for i in range(args.n)
            ]
            load_seconds = None
        else:
            source_system, cases, load_seconds = load(base_url, args.n, args.seed, 4, ids=args.ids)
            print(
                f"loaded {args.n} cases in {load_seconds:.1f} s ({source_system}, --ids "
                f"{args.ids}); load average {os.getloadavg()}"
            )
        # with --source-system the system may hold more than N patients (an earlier run's
        # --grow-to): the first N are pulled by identifier, as the grown stage does
        query = (
            PatientQuery.by_identifiers([(source_system, c.case_id) for c in cases])
            if args.source_system
            else PatientQuery.by_system(source_system)
        )
        warm = PatientQuery.by_identifiers([(source_system, c.case_id) for c in cases[:WARMUP]])
        for strategy in ("everything", "search"):
            pull(base_url, warm, strategy=strategy, client="async", count=args.count, concurrency=4)

        runs = measure_rates(base_url, query, cases, args.n, args)
        rss = measure_rss(base_url, source_system, args.n, args.n, args) if args.rss else []
        if args.grow_to and args.grow_to > args.n:
            more = args.grow_to - args.n
            _, _, seconds = load(
                base_url, more, args.seed, 4, source_system, start=args.n, ids=args.ids
            )
            print(f"loaded {more} more cases in {seconds:.1f} s; load average {os.getloadavg()}")
            by_id = PatientQuery.by_identifiers([(source_system, c.case_id) for c in cases])
            runs += measure_rates(base_url, by_id, cases, args.grow_to, args)
            if args.rss:
                rss += measure_rss(base_url, source_system, args.grow_to, args.grow_to, args)
        print("\nbest of rounds (patients/s):")
        summary = {}
        for stage in sorted({r.stage for r in runs}):
            for strategy in ("everything", "search", "auto"):
                for client in {r.client for r in runs}:
                    rates = [
                        r.rate
                        for r in runs
                        if (r.stage, r.strategy, r.client) == (stage, strategy, client)
                    ]
                    if not rates:
                        continue
                    summary[f"{stage}/{strategy}/{client}"] = {
                        "best": max(rates),
                        "worst": min(rates),
                    }
                    print(
                        f"  {stage:5} on server {strategy:10} {client:5}: {max(rates):6.1f} "
                        f"(worst {min(rates):.1f})"
                    )
        print(f"load average {os.getloadavg()}")
        if args.json:
            result = {
                "server": base_url,
                "n": args.n,
                "grow_to": args.grow_to,
                "concurrency": args.concurrency,
                "count": args.count,
                "load_seconds": load_seconds,
                "cpus": os.cpu_count(),
                "load_average_end": os.getloadavg(),
                "python": platform.python_version(),
                "fhir_ivc": metadata.version("fhir-ivc"),
                "runs": [asdict(r) | {"rate": r.rate} for r in runs],
                "rss": [asdict(r) for r in rss],
                "summary": summary,
            }
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        if started:
            subprocess.run(["bash", str(SCRIPT), "stop"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
