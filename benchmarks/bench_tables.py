"""Case-table reader benchmark: cases/s and peak RSS, CSV and Parquet against NDJSON.

    .venv/bin/python benchmarks/bench_tables.py                # 100,000 synthetic cases
    .venv/bin/python benchmarks/bench_tables.py --n 5000 --rounds 1 --json out.json

One run writes the same N cases (``fhir_ivc.testing.synth.synthetic_case(i)``, series 0) four
ways into a temporary folder (``--workdir`` to keep them):

* ``ndjson``: one case record per line -- the **baseline**, the streaming reader of today;
* ``csv``: the case tables as ``fhir-ivc pull --tables`` writes them (every table grouped by
  case, in the order of cases.csv: the cursor path);
* ``csv-unsorted``: the same tables with the cases of every table but cases.csv in reverse
  order, each case's rows kept in their order (the on-disk SQLite index path);
* ``parquet``: the case tables as Parquet files.

Each input is then read by ``fhir_ivc.io.iter_case_records`` (what ``fhir-ivc map`` and
``push`` read; every case validated by the case model) in a **fresh child process**, so that
the peak RSS (``getrusage`` of the child) is that reader's alone. The formats take turns,
``--rounds`` times, so machine load hits all alike; the best round of each is reported with the
ratio to NDJSON of the same round order.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

FORMATS = ("ndjson", "csv", "csv-unsorted", "parquet")


def peak_rss_mib() -> float:
    """Peak RSS of this process image: VmHWM on Linux. (``ru_maxrss`` would not do: Linux keeps
    it across fork and exec, so a child reports its parent's peak when that is higher.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def read(path: str) -> dict[str, Any]:
    """Child process: read every case of ``path``; count, time, peak RSS."""
    from fhir_ivc.io import iter_case_records

    started, cpu = time.perf_counter(), time.process_time()
    ok = bad = 0
    for result in iter_case_records(path):
        if result.ok:
            ok += 1
        else:
            bad += 1
    return {
        "cases": ok,
        "rejected": bad,
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_rss_mib": peak_rss_mib(),
    }


def _paths(workdir: Path) -> dict[str, Path]:
    return {
        "ndjson": workdir / "cases.ndjson",
        "csv": workdir / "csv",
        "csv-unsorted": workdir / "csv-unsorted",
        "parquet": workdir / "parquet",
    }


def generate(n: int, workdir: Path) -> dict[str, Path]:
    from fhir_ivc.io.tables import TableWriter
    from fhir_ivc.testing.synth import synthetic_case

    paths = _paths(workdir)
    with (
        open(paths["ndjson"], "wb") as ndjson,
        TableWriter(paths["csv"]) as csv_tables,
        TableWriter(paths["parquet"], "parquet") as parquet_tables,
    ):
        for i in range(n):
            case = synthetic_case(i)
            ndjson.write(orjson.dumps(case.model_dump(mode="json", exclude_none=True)) + b"\n")
            csv_tables.write(case)
            parquet_tables.write(case)
    paths["csv-unsorted"].mkdir()
    for table in paths["csv"].iterdir():
        with open(table, encoding="utf-8", newline="") as file:
            header, *rows = list(csv.reader(file))
        if table.name != "cases.csv":  # the cases backwards, each case's rows kept in order
            groups: dict[str, list[list[str]]] = {}
            for row in rows:
                groups.setdefault(row[0], []).append(row)
            rows = [row for case_id in reversed(groups) for row in groups[case_id]]
        with open(paths["csv-unsorted"] / table.name, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    return paths


def reused(workdir: Path) -> dict[str, Path] | None:
    """The inputs an earlier run left in ``workdir`` (``--reuse``), when they are all there."""
    paths = _paths(workdir)
    return paths if all(p.exists() for p in paths.values()) else None


def size_mib(path: Path) -> float:
    files = [path] if path.is_file() else list(path.iterdir())
    return sum(f.stat().st_size for f in files) / (1024 * 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases (default 100,000)")
    parser.add_argument("--rounds", type=int, default=2, help="turns of every format")
    parser.add_argument("--workdir", type=Path, help="keep the inputs here (default: temporary)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument(
        "--reuse", action="store_true", help="read the inputs already in --workdir (same --n)"
    )
    parser.add_argument("--read", metavar="PATH", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read(args.read)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-tables-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        paths = reused(workdir) if args.reuse else None
        if paths is None:
            paths = generate(args.n, workdir)
            print(f"generated {args.n:,} cases in 4 forms in {time.perf_counter() - started:.0f} s")
        else:
            print(f"reusing the inputs in {workdir}")
        runs: dict[str, list[dict[str, Any]]] = {f: [] for f in FORMATS}
        for round_no in range(args.rounds):
            order = FORMATS if round_no % 2 == 0 else FORMATS[::-1]
            for fmt in order:
                child = subprocess.run(
                    [sys.executable, __file__, "--read", str(paths[fmt])],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(child.stdout)
                runs[fmt].append(result)
                print(
                    f"round {round_no + 1} {fmt:13} {result['cases']:>7,} cases "
                    f"{result['seconds']:7.1f} s  {result['cases'] / result['seconds']:6.0f} "
                    f"cases/s  peak RSS {result['peak_rss_mib']:6.0f} MiB"
                )
        sizes = {fmt: size_mib(paths[fmt]) for fmt in FORMATS}

    best = {fmt: min(runs[fmt], key=lambda r: r["seconds"]) for fmt in FORMATS}
    base = best["ndjson"]
    print()
    print(f"{args.n:,} cases, best of {args.rounds} round(s):")
    print("| input | size MiB | cases/s (wall) | cases/s (CPU) | peak RSS MiB | vs NDJSON |")
    print("|---|---:|---:|---:|---:|---:|")
    for fmt in FORMATS:
        r = best[fmt]
        rate = r["cases"] / r["seconds"]
        ratio = rate / (base["cases"] / base["seconds"])
        print(
            f"| {fmt} | {sizes[fmt]:.0f} | {rate:,.0f} | {r['cases'] / r['cpu']:,.0f} | "
            f"{r['peak_rss_mib']:.0f} | {ratio:.2f}x |"
        )
    if any(best[f]["rejected"] or best[f]["cases"] != args.n for f in FORMATS):
        print("WARNING: some input did not give every case back", file=sys.stderr)
        return 1
    if args.json:
        info = {
            "n": args.n,
            "rounds": args.rounds,
            "python": platform.python_version(),
            "pyarrow": metadata.version("pyarrow"),
            "cpus": os.cpu_count(),
            "runs": runs,
            "sizes_mib": sizes,
        }
        args.json.write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
