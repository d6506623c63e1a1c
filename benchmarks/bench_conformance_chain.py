"""Cost of the full mCODE chain in the HL7 engine run, against the mCODE-only chain, same run.

    .venv/bin/python benchmarks/bench_conformance_chain.py            # 200 synthetic + 2 seed cases
    .venv/bin/python benchmarks/bench_conformance_chain.py --n 50 --rounds 2 --json out.json

Maps the cases once (``fhir-ivc map``, both bundle kinds), then runs the engine
(``org.fhirivc.hapi.validate.ValidateMain``, one JVM per run, as scripts/fhir-validate does) over
the same bundles with two chains, alternating A B B A ... so that a drift of the machine's load
hits both:

* A (baseline): mCODE 4.0.0 only, plus profiles/ (the chain before US Core was available);
* B: the full chain of ``scripts/fhir-packages`` (mCODE 4.0.0, US Core 6.1.0, extensions 5.2.0),
  plus profiles/.

Per run: wall time, the JVM's CPU time (user + system, from the child's rusage), the engine's own
phases (chain ready, package check, validation) and the errors / warnings / information counts
over the emitted bundles. Needs the jar (``scripts/fhir-server build``) and the packages.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "servers" / "hapi" / "target" / "app" / "fhir-ivc-hapi.jar"
MAIN = "org.fhirivc.hapi.validate.ValidateMain"
JAVA_OPTS = ["-Xmx2g", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError"]


def _packages() -> list[str]:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fhir-packages")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def _map(n: int, work: Path) -> Path:
    sys.path.insert(0, str(ROOT / "src"))
    from fhir_ivc.testing.synth import synthetic_cases

    cases = work / "cases.ndjson"
    with cases.open("w", encoding="utf-8") as fh:
        for case in synthetic_cases(n):
            fh.write(case.model_dump_json() + "\n")
    fhir_ivc = Path(sys.executable).parent / "fhir-ivc"
    out = work / "bundles"
    for source in (cases, ROOT / "examples" / "cases" / "seed-cases.yaml"):
        subprocess.run(
            [str(fhir_ivc), "map", str(source), "--out", str(out), "--no-validate", "--quiet"],
            check=True,
        )
    for rejects in out.glob("*.ndjson"):
        rejects.unlink()  # only the bundles are validated
    return out


def _run(packages: list[str], bundles: Path, report: Path) -> dict[str, Any]:
    args = [a for p in packages for a in ("--package", p)]
    cmd = ["java", *JAVA_OPTS, "-cp", str(APP), MAIN, *args]
    cmd += ["--check-package", str(ROOT / "profiles"), "--out", str(report), str(bundles)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"engine run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    data = json.loads(report.read_text(encoding="utf-8"))
    timing = data["timingMs"]
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "chain_ready_s": round(timing["startToChainReady"] / 1000, 1),
        "package_check_s": round(timing["checkPackages"] / 1000, 1),
        "validate_s": round(timing["validate"] / 1000, 1),
        "resources": timing["resources"],
        **{k: data["totals"].get(k, 0) for k in ("error", "warning", "information")},
        "max_rss_mb": round(after.ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="synthetic cases (default 200)")
    parser.add_argument("--rounds", type=int, default=1, help="A B pairs, alternated (default 1)")
    parser.add_argument("--json", type=Path, help="write the runs here")
    ns = parser.parse_args()
    if not APP.is_file():
        raise SystemExit(f"{APP} missing: run scripts/fhir-server build")
    full = _packages()
    mcode = [p for p in full if Path(p).name.startswith("hl7.fhir.us.mcode-")]
    chains = {"A mCODE only": mcode, "B full chain": full}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chains}
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        work = Path(tmp)
        bundles = _map(ns.n, work)
        print(f"{len(list(bundles.glob('*.json')))} bundles, load {os.getloadavg()[0]:.1f}")
        # A B, then B A, ...: a drift of the machine's load hits both chains alike
        order = [n for r in range(ns.rounds) for n in sorted(chains, reverse=r % 2 == 1)]
        for name in order:
            result = _run(chains[name], bundles, work / "report.json")
            result["load"] = round(os.getloadavg()[0], 1)
            runs[name].append(result)
            print(name, result, flush=True)
    print("\nmedians (B / A):")
    for field in ("wall_s", "cpu_s", "chain_ready_s", "package_check_s", "validate_s"):
        a = statistics.median(r[field] for r in runs["A mCODE only"])
        b = statistics.median(r[field] for r in runs["B full chain"])
        print(f"  {field:16s} A {a:7.1f}  B {b:7.1f}  ratio {b / a if a else float('nan'):.2f}")
    if ns.json:
        ns.json.write_text(json.dumps(runs, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
