"""Spark benchmark: ``map_cases`` on ``local[1]`` and ``local[2]`` against ``fhir-ivc map``.

    nice -n 10 .venv/bin/python benchmarks/bench_spark.py --n 10000
    nice -n 10 .venv/bin/python benchmarks/bench_spark.py --n 100000 --json out.json
    # one contender at a time on the same cases (a shared machine's benchmark lock):
    bench_spark.py --n 100000 --work /tmp/bs --only cli
    bench_spark.py --n 100000 --work /tmp/bs --only 'local[2]'   # the CLI's bundles reused

One run, the same N synthetic cases (``fhir_ivc.testing.synth``, series 0) written once as
NDJSON; each contender maps that file to transaction bundles with validation (``--no-validate``
to leave it out) and writes them to one output:

``cli``
    ``fhir-ivc map cases.ndjson --ndjson out.ndjson --kind transaction -q``, with ``-j 2`` when
    the command has ``-j`` (``fhir-ivc map --help`` is asked), else single process (said so).
``local[1]``, ``local[2]``
    a SparkSession with that master (its start is timed apart and left out), the file read as
    text in ``--partitions`` splits (``spark.sql.files.maxPartitionBytes``, no shuffle),
    ``map_cases(json_column="value")``, the bundles written with ``.write.text`` (one pass: the
    rejects, none here, are not materialised).

Reported: wall seconds, cases/s, local[2]/local[1] (scaling) and each against the CLI, the load
average before and after each contender (the machine is shared), and whether every contender's
bundles are the CLI's (the multiset of SHA-256 of the lines). CPU seconds too, the steadier
number on a loaded machine: the CLI's (its process and children, ``RUSAGE_CHILDREN``), and for
Spark the Python workers' (``time.process_time()`` around each partition, summed in an
accumulator) plus the JVM's (``/proc/PID/stat`` before and after).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from fhir_ivc.testing import synthetic_cases

FHIR_IVC = str(Path(sys.executable).with_name("fhir-ivc"))


@dataclass
class Run:
    name: str
    wall_s: float
    cases: int
    lines: int
    same_as_cli: bool | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    note: str = ""
    start_s: float | None = None
    cpu_s: float | None = None
    #: Spark: the JVM's share of cpu_s
    jvm_cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.cases / self.wall_s


def load() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def digest(paths: list[Path]) -> Counter[bytes]:
    found: Counter[bytes] = Counter()
    for path in paths:
        with path.open("rb") as file:
            for line in file:
                found[hashlib.sha256(line.rstrip(b"\n")).digest()] += 1
    return found


def write_cases(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for case in synthetic_cases(n):
            file.write(case.model_dump_json(exclude_none=True) + "\n")


def cli_has_jobs() -> bool:
    text = subprocess.run(
        [FHIR_IVC, "map", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "--jobs" in text or " -j" in text


def run_cli(cases: Path, out: Path, n: int, jobs: int, validate: bool) -> Run:
    args = [FHIR_IVC, "map", str(cases), "--ndjson", str(out), "--kind", "transaction", "-q"]
    args += [] if validate else ["--no-validate"]
    note = "single process: this fhir-ivc map has no -j"
    if jobs > 1 and cli_has_jobs():
        args += ["-j", str(jobs)]
        note = f"-j {jobs}"
    before = load()
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(args, check=True)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    lines = sum(1 for _ in out.open("rb"))
    return Run("cli", wall, n, lines, True, before, load(), note, cpu_s=round(cpu, 1))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timed:
    """A partition function that adds the worker's CPU seconds for its partition to ``acc``."""

    def __init__(self, task, acc) -> None:
        self.task = task
        self.acc = acc

    def __call__(self, batches):
        started = time.process_time()
        try:
            yield from self.task(batches)
        finally:
            self.acc.add(time.process_time() - started)


def run_spark(
    master: str, cases: Path, out: Path, n: int, partitions: int, validate: bool, cli: Counter
) -> Run:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from fhir_ivc.io import DEFAULT_LIMITS, BundleKind
    from fhir_ivc.spark.map import FRAME_SCHEMA, MapPartition, MapResult, RecordReader

    split = max(64 << 10, -(-cases.stat().st_size // partitions))
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(master)
        .appName("fhir-ivc-bench")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.files.maxPartitionBytes", str(split))
        .config("spark.sql.files.openCostInBytes", str(split))  # else splits are >= 4 MB
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    start_s = time.perf_counter() - started
    try:
        before = load()
        started = time.perf_counter()
        df = spark.read.text(str(cases))
        used = df.rdd.getNumPartitions()
        # map_cases(df, json_column="value", kinds=["transaction"], validate=validate), its
        # partition function wrapped to count the workers' CPU time
        kinds = (BundleKind.TRANSACTION,)
        reader = RecordReader("value", None)
        task = MapPartition(reader, kinds, "conditional", "bundles", validate, DEFAULT_LIMITS)
        acc = spark.sparkContext.accumulator(0.0)
        result = MapResult(df.mapInArrow(Timed(task, acc), FRAME_SCHEMA), "bundles")
        jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        jvm_cpu = _proc_cpu(jvm)
        result.rows.select("bundle").write.mode("overwrite").text(str(out))
        wall = time.perf_counter() - started
        jvm_cpu = _proc_cpu(jvm) - jvm_cpu
        after = load()
    finally:
        spark.stop()
    parts = sorted(out.glob("part-*"))
    got = digest(parts)
    lines = sum(got.values())
    note = f"{used} partitions"
    cpu = round(acc.value + jvm_cpu, 1)
    return Run(
        master,
        wall,
        n,
        lines,
        got == cli,
        before,
        after,
        note,
        round(start_s, 1),
        cpu,
        round(jvm_cpu, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8, help="input splits for Spark")
    parser.add_argument("--jobs", type=int, default=2, help="fhir-ivc map -j, where it has it")
    parser.add_argument("--no-validate", dest="validate", action="store_false")
    parser.add_argument("--only", nargs="*", default=["cli", "local[1]", "local[2]"])
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--work",
        type=Path,
        help="a folder kept between runs: its cases (and, with --only without cli, the CLI's "
        "bundles) are reused, so each contender can run on its own",
    )
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        cases = work / "cases.ndjson"
        cli_out = work / "cli.ndjson"
        stamp = work / "cases.n"
        if args.work and stamp.exists() and stamp.read_text() == f"{args.n}":
            print(f"{args.n} cases reused from {cases}")
        else:
            cli_out.unlink(missing_ok=True)
            started = time.perf_counter()
            write_cases(cases, args.n)
            stamp.write_text(f"{args.n}")
            made = time.perf_counter() - started
            print(f"{args.n} cases, {cases.stat().st_size / 2**20:.0f} MiB, made in {made:.0f} s")
        runs: list[Run] = []
        if "cli" in args.only or not cli_out.exists():
            cli = run_cli(cases, cli_out, args.n, args.jobs, args.validate)
            if "cli" in args.only:
                runs.append(cli)
        else:
            print(f"the CLI's bundles reused from {cli_out}")
        expected = digest([cli_out])
        for master in ("local[1]", "local[2]"):
            if master in args.only:
                out = work / master.replace("[", "-").replace("]", "")
                runs.append(
                    run_spark(master, cases, out, args.n, args.partitions, args.validate, expected)
                )
                shutil.rmtree(out, ignore_errors=True)
        report(runs, args)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    by = {r.name: r for r in runs}
    print(f"validate={args.validate}, {os.cpu_count()} CPUs")
    print(
        f"{'contender':<10} {'wall s':>8} {'cases/s':>8} {'CPU s':>8} {'(JVM)':>7} "
        f"{'cases/CPU s':>11} {'start s':>8} same  load before -> after"
    )
    for r in runs:
        start = f"{r.start_s:8.1f}" if r.start_s is not None else " " * 8
        jvm = f"{r.jvm_cpu_s:7.1f}" if r.jvm_cpu_s is not None else " " * 7
        per_cpu = r.cases / r.cpu_s if r.cpu_s else 0.0
        same = "yes " if r.same_as_cli else "NO  "
        print(
            f"{r.name:<10} {r.wall_s:8.1f} {r.rate:8.1f} {r.cpu_s or 0:8.1f} {jvm} "
            f"{per_cpu:11.1f} {start} {same}{r.load_before} -> {r.load_after}  {r.note}"
        )
    for name in ("local[1]", "local[2]"):
        if name in by and "cli" in by and by[name].cpu_s and by["cli"].cpu_s:
            cpu_ratio = by[name].cpu_s / by["cli"].cpu_s
            print(f"{name}: CPU seconds per case vs cli: {cpu_ratio:.2f}x")
    ratios = {}
    if "local[1]" in by and "local[2]" in by:
        ratios["local[2]/local[1]"] = by["local[2]"].rate / by["local[1]"].rate
    for name in ("local[1]", "local[2]"):
        if name in by and "cli" in by:
            ratios[f"{name}/cli"] = by[name].rate / by["cli"].rate
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    if args.json:
        data = {
            "n": args.n,
            "validate": args.validate,
            "runs": [{**asdict(r), "cases_per_s": r.rate} for r in runs],
            "ratios": ratios,
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
