"""Push benchmark: the adapter's ``push_many`` against a bare httpx loop, same bundles, same server.

    .venv/bin/python benchmarks/bench_push.py                      # 500 cases, concurrency 8
    .venv/bin/python benchmarks/bench_push.py --n 200 --concurrency 4 --server URL --json out.json
    .venv/bin/python benchmarks/bench_push.py --feed 1000 --feed-only  # --state, corrections

The server is ``--server URL``, else the one ``scripts/fhir-server`` runs, else one this script
starts (and stops at the end). Before timing anything, ``--warmup`` cases are pushed so the JVM
has compiled the transaction path.

Each round builds N synthetic cases (``fhir_ivc.testing.synth.synthetic_case``) as transaction
bundles twice, under two fresh ``source_system``s, so that both clients do the same work (the same
number of resources, all new), and then times two phases:

* **create**: the bare loop posts its copy, the adapter pushes the other (every entry created);
* **no-op**: both push the same bundles again (every entry unchanged).

Within a phase the two clients take turns of ``--chunk`` cases (default 100), alternating which
goes first, so that the load of a shared machine, which changes by the minute, hits both alike;
a client's rate is its cases over the sum of its turns' wall time.

The **bare loop** is the least a client can do: one ``httpx.AsyncClient``, an ``anyio``
semaphore of ``--concurrency``, ``POST [base]`` with the bundle serialised exactly as the adapter
serialises it, ``raise_for_status()`` and ``response.json()``. The **adapter** is
``fhir_ivc.exchange.push_many(AsyncFhirClient, items, concurrency=N)``: it also plans the entries,
decides retryability, parses the transaction-response and classifies every entry (created /
updated / unchanged / failed). Both results are checked (every bare answer has one entry per
request entry; every adapter entry has the expected outcome), outside the timed region.

``--feed N`` (or ``--feed-only``) pushes N cases with ``fhir-ivc push --state``, then re-runs
the same, unchanged cases three ways, taking turns: ``--corrections off`` (what push did before
corrections), the default ``--corrections delete`` (one manifest GET per case), and
``--state`` (no request for a confirmed case); it prints the requests (the report's
``summary.requests``) and the seconds of each, and the ratios.

``--cli`` (on by default) also times ``fhir-ivc push cases.ndjson -j N`` end to end on a third
source system: reading, mapping, validating and pushing, as a user runs it.

The server runs on the same machine and competes with this process for CPU: cases/s measure
the pair, not the client. Client CPU seconds per phase are printed to show the client's share.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import FHIR_JSON, AsyncFhirClient
from fhir_ivc.exchange import CasePushResult, push_many
from fhir_ivc.testing.synth import synthetic_case

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fhir-server"
Item = tuple[str, dict[str, Any], dict[str, str]]


def _source_system(tag: str) -> str:
    return f"https://fhir-ivc.example.org/fhir/sid/bench-{tag}-{uuid.uuid4().hex[:12]}"


def make_items(n: int, seed: int, source_system: str) -> list[Item]:
    items = []
    for i in range(n):
        bundles = build_bundles(synthetic_case(i, seed=seed, source_system=source_system))
        items.append((bundles.case_id, bundles.transaction, bundles.sources))
    return items


# --- the two clients --------------------------------------------------------------------------


def _body(bundle: dict[str, Any]) -> bytes:
    # what fhir_ivc.client._core.ClientCore.request sends
    return json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode()


async def bare_loop(base_url: str, items: list[Item], concurrency: int) -> list[int]:
    """POST every bundle; returns the number of response entries per case."""
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    counts = [0] * len(items)
    semaphore = anyio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=600, headers=headers) as client:

        async def one(index: int, bundle: dict[str, Any]) -> None:
            async with semaphore:
                response = await client.post(base_url, content=_body(bundle))
                response.raise_for_status()
                counts[index] = len(response.json()["entry"])

        async with anyio.create_task_group() as group:
            for index, (_, bundle, _) in enumerate(items):
                group.start_soon(one, index, bundle)
    return counts


async def adapter(base_url: str, items: list[Item], concurrency: int) -> list[CasePushResult]:
    async with AsyncFhirClient(base_url, timeout=600) as client:
        return await push_many(client, items, concurrency=concurrency)


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    client: str
    cases: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.cases / self.seconds


def timed(
    name: str, client: str, cases: int, run: Callable[[], Coroutine[Any, Any, Any]]
) -> tuple[Phase, Any]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = anyio.run(run)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return Phase(name, client, cases, seconds, cpu), result


def check_bare(items: list[Item], counts: list[int]) -> None:
    for (case_id, bundle, _), count in zip(items, counts, strict=True):
        if count != len(bundle["entry"]):
            raise SystemExit(f"bare loop: {case_id}: {count} response entries")


def check_adapter(items: list[Item], results: list[CasePushResult], outcome: str) -> None:
    for (case_id, bundle, _), result in zip(items, results, strict=True):
        if not result.ok or result.counts[outcome] != len(bundle["entry"]):  # type: ignore[index]
            raise SystemExit(f"adapter: {case_id}: {result.counts} {result.error or ''}")


def write_cases(path: Path, n: int, seed: int, source_system: str) -> Path:
    """``n`` synthetic case records as NDJSON (what ``fhir-ivc push`` reads)."""
    with open(path, "wb") as file:
        for i in range(n):
            case = synthetic_case(i, seed=seed, source_system=source_system)
            file.write(orjson.dumps(case.model_dump(mode="json", exclude_none=True)) + b"\n")
    return path


def push_command(cases: Path, base_url: str, concurrency: int, report: Path) -> list[str]:
    """``fhir-ivc push CASES --server URL -j N --report FILE --quiet``."""
    executable = str(Path(sys.executable).with_name("fhir-ivc"))
    options = ["--server", base_url, "-j", str(concurrency), "--report", str(report), "--quiet"]
    return [executable, "push", str(cases), *options]


def cli_push(base_url: str, n: int, seed: int, concurrency: int) -> Phase:
    """``fhir-ivc push`` on case records, as a subprocess (includes start-up and mapping)."""
    source_system = _source_system("cli")
    with tempfile.TemporaryDirectory() as tmp:
        cases = write_cases(Path(tmp) / "cases.ndjson", n, seed, source_system)
        report = Path(tmp) / "r.json"
        command = push_command(cases, base_url, concurrency, report)
        cpu0 = os.times()
        t0 = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        cpu1 = os.times()
        if done.returncode != 0:
            raise SystemExit(f"fhir-ivc push failed ({done.returncode}):\n{done.stderr}")
        summary = json.loads(report.read_text())["summary"]
        if summary["ok"] != n or summary["entries"]["updated"] or summary["entries"]["unchanged"]:
            raise SystemExit(f"fhir-ivc push: unexpected summary {summary}")
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    phase = Phase("create", "cli", n, seconds, cpu)
    print(
        f"  {'create':<7} {'cli':<8} {n:>5} cases in {seconds:7.2f} s = {phase.rate:7.1f} "
        f"cases/s  (client CPU {cpu:6.2f} s; map + validate + push, process start-up included)",
        flush=True,
    )
    return phase


# --- feed runs: --state and --corrections on a second, unchanged run -------------------------


def _cli_run(command: list[str], report: Path) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"fhir-ivc push failed ({done.returncode}):\n{done.stderr}")
    summary: dict[str, Any] = json.loads(report.read_text())["summary"]
    return seconds, summary


def feed_runs(
    base_url: str, n: int, seed: int, concurrency: int, repeats: int, work: Path | None = None
) -> dict[str, Any]:
    """``fhir-ivc push`` of ``n`` cases, then the same unchanged cases again, three ways.

    * ``off``: ``--corrections off``, no state (what push did before issue 11);
    * ``delete``: the default ``--corrections delete`` (one manifest GET per case), no state;
    * ``state``: ``--corrections delete --state FILE`` whose journal the first run filled.

    The three re-runs take turns (``repeats`` times, rotating which goes first); each is a
    process, start-up and mapping included. Requests are the report's ``summary.requests``.

    ``work`` (``--feed-dir``): keep the cases and the journal there, and reuse them when they
    exist, so that the first push can be made beforehand (``fhir-ivc push DIR/cases.ndjson
    --state DIR/state.sqlite``, outside the benchmark lock); the first run then only finds every
    case confirmed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = work or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cases = folder / "cases.ndjson"
        if work is None or not cases.exists():
            write_cases(cases, n, seed, _source_system("feed"))
        report, state = Path(tmp) / "r.json", folder / "state.sqlite"
        base = push_command(cases, base_url, concurrency, report)
        ways = {
            "off": [*base, "--corrections", "off"],
            "delete": base,
            "state": [*base, "--state", str(state)],
        }
        seconds, summary = _cli_run(ways["state"], report)
        print(
            f"  feed    first run {n:>5} cases in {seconds:7.2f} s, {summary['requests']} requests"
            f" (--state: {summary['ok']} pushed, {summary.get('confirmed', 0)} already confirmed)",
            flush=True,
        )
        times: dict[str, list[float]] = {way: [] for way in ways}
        requests: dict[str, int] = {}
        order = list(ways)
        for k in range(repeats):
            for way in order[k % 3 :] + order[: k % 3]:
                seconds, summary = _cli_run(ways[way], report)
                times[way].append(seconds)
                requests[way] = summary["requests"]
                if summary.get("confirmed", 0) + summary["ok"] != n or summary["failed"]:
                    raise SystemExit(f"feed {way}: unexpected summary {summary}")
    result: dict[str, Any] = {"n": n, "repeats": repeats, "ways": {}}
    for way in ways:
        best, total = min(times[way]), sum(times[way]) / len(times[way])
        result["ways"][way] = {"seconds": times[way], "requests": requests[way]}
        print(
            f"  feed    re-run {way:<7} {n:>5} cases: {requests[way]:>5} requests, "
            f"{total:7.2f} s mean ({best:.2f} best of {len(times[way])})",
            flush=True,
        )
    mean = {way: sum(t) / len(t) for way, t in times.items()}
    result["ratios"] = {
        "delete/off": mean["delete"] / mean["off"],
        "state/delete": mean["state"] / mean["delete"],
    }
    print(
        f"  feed    ratios: delete/off {result['ratios']['delete/off']:.2f} (the manifest GET), "
        f"state/delete {result['ratios']['state/delete']:.2f}",
        flush=True,
    )
    return result


# --- the server -------------------------------------------------------------------------------


def server_url(given: str | None) -> tuple[str, bool]:
    """The base URL and whether this script started the server (and must stop it)."""
    if given:
        return given.rstrip("/"), False
    status = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, check=False)
    if status.returncode == 0:
        url = subprocess.run(
            ["bash", str(SCRIPT), "url"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return url, False
    print("starting the local HAPI FHIR server (scripts/fhir-server start) ...", flush=True)
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        raise SystemExit(f"scripts/fhir-server start failed:\n{started.stderr}")
    return started.stdout.strip().splitlines()[-1], True


def server_facts(base_url: str) -> dict[str, Any]:
    statement = httpx.get(f"{base_url}/metadata", headers={"Accept": FHIR_JSON}, timeout=60).json()
    software = statement.get("software", {})
    facts: dict[str, Any] = {
        "fhir_version": statement.get("fhirVersion"),
        "software": f"{software.get('name')} {software.get('version')}",
    }
    # the JVM options, when the server is the one scripts/fhir-server runs (same port)
    state = ROOT / ".fhir-server"
    pid_file, port_file = state / "pid", state / "port"
    port = httpx.URL(base_url).port
    if pid_file.exists() and port_file.exists() and port_file.read_text().strip() == str(port):
        try:
            cmdline = Path(f"/proc/{pid_file.read_text().strip()}/cmdline").read_bytes()
            facts["jvm_options"] = [
                a.decode() for a in cmdline.split(b"\0") if a.startswith((b"-X", b"-XX"))
            ]
        except OSError:
            pass
    return facts


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=500, help="cases per client and phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="rounds (fresh source systems)")
    parser.add_argument(
        "--chunk", type=int, default=100, help="cases per turn; the clients take turns"
    )
    parser.add_argument("--warmup", type=int, default=40, help="cases pushed before timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", help="FHIR base URL (default: the local HAPI server)")
    parser.add_argument("--no-cli", dest="cli", action="store_false", help="skip fhir-ivc push")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--feed",
        type=int,
        default=0,
        metavar="N",
        help="also push N cases, then re-run them unchanged without and with --state",
    )
    parser.add_argument("--feed-repeats", type=int, default=2, help="re-runs of each kind")
    parser.add_argument("--feed-only", action="store_true", help="only the --feed runs")
    parser.add_argument(
        "--feed-dir",
        type=Path,
        help="keep (and reuse) the --feed cases and journal in this folder",
    )
    args = parser.parse_args(argv)

    base_url, started = server_url(args.server)
    try:
        facts = server_facts(base_url)
        print(
            f"server {base_url}: {facts['software']}, FHIR {facts['fhir_version']}"
            f"{', JVM ' + ' '.join(facts['jvm_options']) if facts.get('jvm_options') else ''}"
        )
        print(
            f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"httpx {metadata.version('httpx')}; the server shares the machine"
        )
        print(
            f"{args.n} cases per client and phase, concurrency {args.concurrency}, "
            f"turns of {args.chunk} cases, {args.rounds} round(s)"
        )

        if args.feed_only:
            result = feed_runs(
                base_url, args.feed, args.seed, args.concurrency, args.feed_repeats, args.feed_dir
            )
            if args.json:
                args.json.write_text(json.dumps({"server": base_url, **facts, "feed": result}))
            return 0
        if args.warmup:
            warm = make_items(args.warmup, args.seed + 1000, _source_system("warmup"))
            t0 = time.perf_counter()
            check_bare(warm, anyio.run(bare_loop, base_url, warm, args.concurrency))
            print(f"warm-up: {args.warmup} cases in {time.perf_counter() - t0:.2f} s")

        phases: list[Phase] = []
        for round_ in range(args.rounds):
            t0 = time.perf_counter()
            bare_items = make_items(args.n, args.seed, _source_system("bare"))
            adapter_items = make_items(args.n, args.seed, _source_system("adapter"))
            print(
                f"round {round_ + 1}: built 2 x {args.n} bundles in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            for phase_name, outcome in (("create", "created"), ("no-op", "unchanged")):
                chunks: dict[str, list[Phase]] = {"bare": [], "adapter": []}
                for k, start in enumerate(range(0, args.n, args.chunk)):
                    part = slice(start, start + args.chunk)
                    first_bare = (k + round_) % 2 == 0
                    for who in ("bare", "adapter") if first_bare else ("adapter", "bare"):
                        if who == "bare":
                            items = bare_items[part]
                            phase, counts = timed(
                                phase_name,
                                who,
                                len(items),
                                partial(bare_loop, base_url, items, args.concurrency),
                            )
                            check_bare(items, counts)
                        else:
                            items = adapter_items[part]
                            phase, results = timed(
                                phase_name,
                                who,
                                len(items),
                                partial(adapter, base_url, items, args.concurrency),
                            )
                            check_adapter(items, results, outcome)
                        chunks[who].append(phase)
                for who, parts in chunks.items():
                    total = Phase(
                        phase_name,
                        who,
                        sum(p.cases for p in parts),
                        sum(p.seconds for p in parts),
                        sum(p.cpu_seconds for p in parts),
                    )
                    rates = sorted(p.rate for p in parts)
                    print(
                        f"  {phase_name:<7} {who:<8} {total.cases:>5} cases in "
                        f"{total.seconds:7.2f} s = {total.rate:7.1f} cases/s  "
                        f"(chunks {rates[0]:.1f}-{rates[-1]:.1f}; client CPU "
                        f"{total.cpu_seconds:6.2f} s)",
                        flush=True,
                    )
                    phases.append(total)
            del bare_items, adapter_items
        if args.cli:
            phases.append(cli_push(base_url, args.n, args.seed, args.concurrency))
        feed = (
            feed_runs(
                base_url, args.feed, args.seed, args.concurrency, args.feed_repeats, args.feed_dir
            )
            if args.feed
            else None
        )

        print("\nsummary (cases/s, all rounds; ratio = adapter / bare):")
        summary: dict[str, dict[str, float]] = {}
        for name in ("create", "no-op"):
            totals: dict[str, float] = {}
            for who in ("bare", "adapter"):
                chosen = [p for p in phases if p.name == name and p.client == who]
                totals[who] = sum(p.cases for p in chosen) / sum(p.seconds for p in chosen)
            ratio = totals["adapter"] / totals["bare"]
            summary[name] = {**totals, "ratio": ratio}
            print(
                f"  {name:<7} bare {totals['bare']:7.1f}   adapter {totals['adapter']:7.1f}   "
                f"ratio {ratio:.2f}"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "server": base_url,
                        **facts,
                        "cpus": os.cpu_count(),
                        "n": args.n,
                        "concurrency": args.concurrency,
                        "rounds": args.rounds,
                        "chunk": args.chunk,
                        "phases": [asdict(p) | {"rate": p.rate} for p in phases],
                        "summary": summary,
                        "feed": feed,
                    },
                    indent=2,
                )
            )
    finally:
        if started:
            subprocess.run(["bash", str(SCRIPT), "stop"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
