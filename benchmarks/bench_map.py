"""Map benchmark: case -> bundle -> validate -> JSON, against serialising the same bundles.

    .venv/bin/python benchmarks/bench_map.py              # 10,000 synthetic cases
    .venv/bin/python benchmarks/bench_map.py --n 500 --kind both --json out.json

Phases, in one run over the same N cases (``fhir_ivc.testing.synth.synthetic_case(i)``; the two seed
cases with varied ids when synth is not available):

(a) pipeline: ``build_bundles`` + ``fhir_ivc.validation.validate_bundle`` + ``orjson.dumps``,
    streamed one case at a time (nothing kept), as ``fhir-ivc map --validate`` does;
(b) baseline: ``orjson.dumps`` of the same bundles, pre-built;
(c) map only and (d) validate only, on the same pre-built bundles, to show where (a)'s time goes;
(d0) validate only with the entry memo off (``Validator.use_entry_memo``), on the same bundles,
    chunk by chunk in turn with (d): what the memo saves, measured in the same run;
(e) ``fhir-ivc map --ndjson``'s own per-record work with ``-j 1`` and with ``-j N`` (``--jobs``,
    default 2) on the first ``--jobs-cases`` cases: each case's NDJSON line read into a ``Case``,
    its bundles built, checked and serialised (``cli._map_jobs.finish``), taken back in input
    order; in this process, or in N worker processes (``parallel_finished``): the wall-time
    speed-up of worker processes, with the parent's and the workers' CPU time.

(b)-(d) pre-build the bundles in chunks (``--chunk``) so memory stays bounded. Peak RSS
(``getrusage``) is printed after generating the cases, after (a) and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import orjson

from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.cli._map_jobs import Finished, Work, finish, parallel_finished
from fhir_ivc.cli._services import validation_check
from fhir_ivc.io import BundleEncoder, BundleKind, PendingRecord, RecordSource
from fhir_ivc.model import Case
from fhir_ivc.validation import validate_bundle, validator

KINDS = {
    "transaction": ("transaction",),
    "collection": ("collection",),
    "both": ("transaction", "collection"),
}
T = TypeVar("T")
SEED_CASES = Path(__file__).resolve().parents[1] / "examples" / "cases" / "seed-cases.yaml"


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def make_cases(n: int, seed: int) -> tuple[list[Case], str]:
    try:
        from fhir_ivc.testing.synth import synthetic_case
    except ImportError:  # before synth landed: the seed cases, with distinct ids
        import yaml

        with SEED_CASES.open(encoding="utf-8") as f:
            seeds = [Case.model_validate(r) for r in yaml.safe_load(f)]
        cases = [
            seeds[i % len(seeds)].model_copy(update={"case_id": f"bench-{i:06d}"}) for i in range(n)
        ]
        return cases, "seed cases with varied case_id"
    return [synthetic_case(i, seed=seed) for i in range(n)], f"fhir_ivc.testing.synth (seed {seed})"


@dataclass
class Phase:
    name: str
    seconds: float = 0.0  #: wall clock
    cpu: float = 0.0  #: CPU time of this process (less disturbed by other load on the machine)
    cases: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.cases / self.seconds if self.seconds else float("inf")

    @property
    def ms_per_case(self) -> float:
        return 1000 * self.seconds / self.cases if self.cases else 0.0


def timed(phase: Phase, action: Callable[[], T], count: int) -> T:
    start, cpu = time.perf_counter(), time.process_time()
    result = action()
    phase.seconds += time.perf_counter() - start
    phase.cpu += time.process_time() - cpu
    phase.cases += count
    return result


def pipeline(cases: list[Case], kinds: tuple[str, ...]) -> Phase:
    """(a): map, validate and serialise each case, keeping nothing."""
    phase = Phase("(a) map + validate + orjson", extra={"invalid_bundles": 0, "bytes": 0})

    def run() -> None:
        for case in cases:
            bundles = build_bundles(case)
            for kind in kinds:
                bundle = getattr(bundles, kind)
                if validate_bundle(bundle):
                    phase.extra["invalid_bundles"] += 1
                phase.extra["bytes"] += len(orjson.dumps(bundle))

    timed(phase, run, len(cases))
    return phase


def chunks(cases: list[Case], size: int) -> Iterator[list[Case]]:
    for i in range(0, len(cases), size):
        yield cases[i : i + size]


def split_phases(cases: list[Case], kinds: tuple[str, ...], chunk: int) -> list[Phase]:
    """(b) baseline dumps, (c) map only, (d) validate only, on the same pre-built bundles."""
    dumps = Phase("(b) orjson.dumps only")
    mapping = Phase("(c) map only")
    validating = Phase("(d) validate only", extra={"resources": 0})
    unmemoised = Phase("(d0) validate, no entry memo", extra={"resources": 0})
    checker = validator()
    for i, part in enumerate(chunks(cases, chunk)):
        built = timed(mapping, partial(_map_all, part), len(part))
        bundles = [getattr(b, kind) for b in built for kind in kinds]
        # (d0) and (d) on the same bundles, in turn first (each warms the other's memos)
        for memo in (False, True) if i % 2 == 0 else (True, False):
            checker.use_entry_memo = memo
            phase = validating if memo else unmemoised
            timed(phase, partial(_validate_all, bundles), len(part))
            phase.extra["resources"] += sum(len(b["entry"]) for b in bundles)
        checker.use_entry_memo = True
        timed(dumps, partial(_dump_all, bundles), len(part))
        del built, bundles
    return [dumps, mapping, validating, unmemoised]


def _map_all(cases: list[Case]) -> list[CaseBundles]:
    return [build_bundles(c) for c in cases]


def _validate_all(bundles: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [validate_bundle(b) for b in bundles]


def _dump_all(bundles: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(b) for b in bundles]


def jobs_phase(cases: list[Case], kinds: tuple[str, ...], jobs: int) -> Phase:
    """(e): map's per-record work in ``jobs`` processes (1: in this one), records in order."""
    phase = Phase(f"(e) map -j {jobs} (wall)", extra={"invalid_bundles": 0, "workers_cpu": 0.0})
    bundle_kinds = tuple(BundleKind(k) for k in kinds)
    work = Work(build_bundles, validation_check, bundle_kinds)
    encode = BundleEncoder(bundle_kinds)
    records = [
        PendingRecord(RecordSource("bench.ndjson", i + 1), case.model_dump_json().encode() + b"\n")
        for i, case in enumerate(cases)
    ]

    def run() -> None:
        finished: Iterator[Finished]
        if jobs == 1:
            finished = (finish(work, encode, record) for record in records)
        else:
            finished = parallel_finished(records, work, encode, jobs)
        for done in finished:
            if done.documents is None:
                phase.extra["invalid_bundles"] += 1

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    timed(phase, run, len(cases))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    phase.extra["workers_cpu"] = (after.ru_utime + after.ru_stime) - (
        children.ru_utime + children.ru_stime
    )
    return phase


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of cases (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic series (default 0)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="transaction")
    parser.add_argument("--chunk", type=int, default=500, help="pre-built cases held at once")
    parser.add_argument("--warmup", type=int, default=20, help="cases run before timing")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--jobs", type=int, default=2, help="processes of phase (e) (default 2)")
    parser.add_argument(
        "--jobs-cases", type=int, default=2000, help="cases of phase (e) (default 2000; 0: skip it)"
    )
    args = parser.parse_args(argv)
    kinds = KINDS[args.kind]

    load_start = os.getloadavg()
    start = time.perf_counter()
    cases, source = make_cases(args.n, args.seed)
    generated = time.perf_counter() - start
    rss_cases = peak_rss_mib()
    for case in cases[: args.warmup]:  # imports, model classes, code paths; not timed
        bundles = build_bundles(case)
        for kind in kinds:
            orjson.dumps(getattr(bundles, kind))
            validate_bundle(getattr(bundles, kind))

    validator().clear_memos()  # (a) and (d) start from what a fresh process remembers
    full = pipeline(cases, kinds)
    rss_after_a = peak_rss_mib()
    validator().clear_memos()
    dumps, mapping, validating, unmemoised = split_phases(cases, kinds, args.chunk)
    rss_end = peak_rss_mib()
    subset = cases[: args.jobs_cases]
    serial = jobs_phase(subset, kinds, 1) if subset else None
    parallel = jobs_phase(subset, kinds, args.jobs) if subset else None

    entries = sum(len(getattr(build_bundles(c), k)["entry"]) for c in cases[:200] for k in kinds)
    print(f"fhir-ivc map benchmark: {args.n} cases ({source}), bundle kind: {args.kind}")
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"fhir.resources {metadata.version('fhir.resources')}, orjson {metadata.version('orjson')}"
    )
    print(
        f"generated in {generated:.1f} s ({args.n / generated:,.0f} cases/s); "
        f"~{entries / min(200, args.n):.1f} resources per case (first 200); "
        f"{full.extra['bytes'] / full.cases / 1024:.1f} KiB JSON per case"
    )
    print()
    print(
        f"{'phase':<30}{'wall s':>9}{'cases/s':>11}{'ms/case':>10}"
        f"{'CPU s':>9}{'CPU cases/s':>13}{'CPU share of (a)':>18}"
    )
    for phase in (full, dumps, mapping, validating, unmemoised):
        share = f"{100 * phase.cpu / full.cpu:.1f} %" if phase is not full else ""
        print(
            f"{phase.name:<30}{phase.seconds:>9.2f}{phase.per_second:>11,.1f}"
            f"{phase.ms_per_case:>10.3f}{phase.cpu:>9.2f}{phase.cases / phase.cpu:>13,.1f}"
            f"{share:>18}"
        )
    ratio = dumps.per_second / full.per_second
    cpu_ratio = full.cpu / dumps.cpu
    print()
    print(
        f"(b)/(a): plain serialisation is {ratio:,.0f}x the pipeline's throughput "
        f"({cpu_ratio:,.0f}x in CPU time)"
    )
    print(f"invalid bundles in (a): {full.extra['invalid_bundles']}")
    per_resource = 1e6 / validating.extra["resources"]
    print(
        f"(d) validate only: {validating.cpu * per_resource:.1f} µs CPU per resource "
        f"({validating.seconds * per_resource:.1f} µs wall; per bundle entry); without the "
        f"entry memo (d0): {unmemoised.cpu * per_resource:.1f} µs CPU "
        f"({unmemoised.seconds * per_resource:.1f} µs wall): (d)/(d0) "
        f"{validating.cpu / unmemoised.cpu:.2f} in CPU time"
    )
    speedup = serial.seconds / parallel.seconds if serial and parallel else None
    if serial and parallel:
        print(
            f"(e) on {len(subset)} cases: -j 1 {serial.seconds:.2f} s wall, -j {args.jobs} "
            f"{parallel.seconds:.2f} s wall: {speedup:.2f}x; CPU s -j 1 {serial.cpu:.2f}, "
            f"-j {args.jobs} parent {parallel.cpu:.2f} + workers "
            f"{parallel.extra['workers_cpu']:.2f}; invalid bundles "
            f"{serial.extra['invalid_bundles']} / {parallel.extra['invalid_bundles']}"
        )
    print(
        f"load average (1, 5, 15 min): {' '.join(f'{x:.1f}' for x in load_start)} at the start, "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end"
    )
    print(
        f"peak RSS: {rss_cases:.0f} MiB after generating the cases, {rss_after_a:.0f} MiB after "
        f"(a) (streamed), {rss_end:.0f} MiB at the end (chunks of {args.chunk})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "n": args.n,
                    "source": source,
                    "kind": args.kind,
                    "phases": {
                        p.name: {
                            "seconds": p.seconds,
                            "cpu_seconds": p.cpu,
                            "cases_per_s": p.per_second,
                        }
                        for p in (full, dumps, mapping, validating, unmemoised)
                    },
                    "jobs": {
                        "cases": len(subset),
                        "processes": args.jobs,
                        "serial_wall_s": serial.seconds if serial else None,
                        "parallel_wall_s": parallel.seconds if parallel else None,
                        "speedup": speedup,
                        "serial_cpu_s": serial.cpu if serial else None,
                        "parallel_parent_cpu_s": parallel.cpu if parallel else None,
                        "parallel_workers_cpu_s": parallel.extra["workers_cpu"]
                        if parallel
                        else None,
                    },
                    "baseline_over_pipeline": ratio,
                    "baseline_over_pipeline_cpu": cpu_ratio,
                    "invalid_bundles": full.extra["invalid_bundles"],
                    "validate_us_per_resource_cpu": validating.cpu * per_resource,
                    "validate_no_entry_memo_us_per_resource_cpu": unmemoised.cpu * per_resource,
                    "peak_rss_mib": {"cases": rss_cases, "after_a": rss_after_a, "end": rss_end},
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 1 if full.extra["invalid_bundles"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
