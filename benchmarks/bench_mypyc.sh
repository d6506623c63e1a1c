#!/usr/bin/env bash
# A/B of this checkout's pure-Python package against a mypyc-compiled copy of its hot modules.
#
#   benchmarks/bench_mypyc.sh                                  # --set all, --n 3000, 2 rounds
#   benchmarks/bench_mypyc.sh --set validation --n 10000 --rounds 1 --lock /work/wt/bench.lock
#   benchmarks/bench_mypyc.sh --build-only                     # just the compiled copy (kept)
#   benchmarks/bench_mypyc.sh --reuse /tmp/fhir-ivc-mypyc.XXXX --no-check --n 10000 --rounds 1
#
# An experiment, not a build of the product: nothing here changes the installed package.
#
# 1. Copies src/, profiles/ and pyproject.toml to a temporary directory and compiles the modules
#    of --set there with mypyc (it ships with mypy, a dev dependency; needs a C compiler and the
#    Python headers): "validation" = the validator's walk (_structure, _core, _profile_stage,
#    _entry_memo, _profile, _terminology, _issues, _validator, _base_invariants, _invariants);
#    "all" = those plus fhir_ivc/mappers/*.py and bundle/{__init__,assemble,checks}.py.
#    The other modules stay pure Python; the compiled copy is used with PYTHONPATH=<copy>/src.
# 2. Checks that the compiled copy gives the same results: benchmarks/check_verdicts.py
#    (compiled here vs --against, default HEAD, pure; every issue list of ~1,600 documents in
#    four passes) and the sha256 of the first 500 synthetic cases' bundles (both kinds) built by
#    each side.
# 3. Runs benchmarks/bench_map.py --n N --jobs-cases 0 alternately, pure then compiled, --rounds
#    times (under flock --lock FILE when given, taken once for all the runs), writes each run's
#    text and JSON output and /proc/loadavg before and after it to --out (default a temporary
#    directory, printed), and prints one table of the runs.
# --keep keeps the compiled copy (printed); --reuse DIR runs with one kept before (no copy, no
# compile: it holds the sources of when it was built).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
N=3000
ROUNDS=2
SET=all
OUT=
LOCK=
AGAINST=HEAD
CHECK=1
BUILD_ONLY=0
KEEP=0
REUSE=
while [ $# -gt 0 ]; do
  case $1 in
    --n) N=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --set) SET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --lock) LOCK=$2; shift 2 ;;
    --against) AGAINST=$2; shift 2 ;;
    --no-check) CHECK=0; shift ;;
    --build-only) BUILD_ONLY=1; KEEP=1; shift ;;
    --keep) KEEP=1; shift ;;
    --reuse) REUSE=$2; KEEP=1; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

V=fhir_ivc/validation
MODULES=(
  $V/_structure.py $V/_core.py $V/_profile_stage.py $V/_entry_memo.py $V/_profile.py
  $V/_terminology.py $V/_issues.py $V/_validator.py $V/_base_invariants.py $V/_invariants.py
)
case $SET in
  validation) ;;
  all)
    # shellcheck disable=SC2207 # module paths have no spaces
    MODULES+=($(cd "$ROOT/src" && echo fhir_ivc/mappers/*.py) fhir_ivc/bundle/__init__.py fhir_ivc/bundle/assemble.py
      fhir_ivc/bundle/checks.py) ;;
  *) echo "--set is validation or all" >&2; exit 2 ;;
esac

if [ -n "$REUSE" ]; then
  BUILD=$REUSE
  echo "reusing the compiled copy in $BUILD (its sources as they were copied then)"
else
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/fhir-ivc-mypyc.XXXXXX")
[ "$KEEP" = 1 ] || trap 'rm -rf "$BUILD"' EXIT
cp -r "$ROOT/src" "$ROOT/profiles" "$ROOT/pyproject.toml" "$BUILD/"
find "$BUILD/src" -name '*.so' -delete
find "$BUILD/src" -name __pycache__ -prune -exec rm -rf {} +
echo "compiling ${#MODULES[@]} modules (--set $SET) in $BUILD ..."
start=$(date +%s)
(cd "$BUILD/src" && nice -n 10 "$PY" -m mypyc --config-file ../pyproject.toml "${MODULES[@]}") \
  >"$BUILD/build.log" 2>&1 || { tail -30 "$BUILD/build.log"; exit 1; }
echo "compiled in $(($(date +%s) - start)) s (log: $BUILD/build.log)"
fi
PYTHONPATH="$BUILD/src" "$PY" - "$BUILD/src" "${MODULES[@]}" <<'EOF'
import importlib, sys
root, modules = sys.argv[1], sys.argv[2:]
for path in modules:
    name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    file = importlib.import_module(name).__file__ or ""
    assert file.startswith(root) and file.endswith(".so"), (name, file)
print(f"{len(modules)} modules load compiled from {root}")
EOF
[ "$BUILD_ONLY" = 1 ] && { echo "use it with: PYTHONPATH=$BUILD/src"; exit 0; }

if [ "$CHECK" = 1 ]; then
  echo "same verdicts: compiled (here) vs $AGAINST (pure) ..."
  (cd "$ROOT" && PYTHONPATH="$BUILD/src" nice -n 10 "$PY" benchmarks/check_verdicts.py \
    --against "$AGAINST")
  hashes() {
    PYTHONPATH=$1 nice -n 10 "$PY" -c '
import hashlib, orjson
from fhir_ivc.bundle import build_bundles
from fhir_ivc.testing.synth import synthetic_case
h = hashlib.sha256()
for i in range(500):
    b = build_bundles(synthetic_case(i))
    h.update(orjson.dumps(b.transaction))
    h.update(orjson.dumps(b.collection))
print(h.hexdigest())'
  }
  pure=$(hashes "$ROOT/src")
  compiled=$(hashes "$BUILD/src")
  echo "bundles of 500 cases, sha256: pure $pure, compiled $compiled"
  [ "$pure" = "$compiled" ] || { echo "bundle bytes differ" >&2; exit 1; }
fi

OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/fhir-ivc-mypyc-runs.XXXXXX")}
mkdir -p "$OUT"
if [ -n "$LOCK" ]; then
  exec 9>"$LOCK"
  echo "waiting for $LOCK ..."
  flock 9
fi
for round in $(seq 1 "$ROUNDS"); do
  for side in pure compiled; do
    path=$ROOT/src
    [ "$side" = compiled ] && path=$BUILD/src
    name=$side-$round
    cut -d' ' -f1-3 /proc/loadavg >"$OUT/$name.load"
    echo "$(date -u +%H:%M:%S) $name: bench_map.py --n $N --jobs-cases 0 (load $(cat "$OUT/$name.load"))"
    (cd "$ROOT" && PYTHONPATH=$path "$PY" benchmarks/bench_map.py --n "$N" --jobs-cases 0 \
      --json "$OUT/$name.json" >"$OUT/$name.txt" 2>&1) || { cat "$OUT/$name.txt"; exit 1; }
    cut -d' ' -f1-3 /proc/loadavg >>"$OUT/$name.load"
  done
done
[ -n "$LOCK" ] && flock -u 9

"$PY" - "$OUT" "$ROUNDS" <<'EOF'
import json
import sys
from pathlib import Path

out, rounds = Path(sys.argv[1]), int(sys.argv[2])
runs = [f"{side}-{r}" for r in range(1, rounds + 1) for side in ("pure", "compiled")]
data = {r: json.loads((out / f"{r}.json").read_text()) for r in runs}
loads = {r: (out / f"{r}.load").read_text().split("\n") for r in runs}


def row(label, cell):
    print(f"| {label} | " + " | ".join(cell(r, data[r]) for r in runs) + " |")


def cpu(d, i):
    return list(d["phases"].values())[i]["cpu_seconds"]  # (a) (b) (c) (d) (d0), in order


print("\n| CPU s | " + " | ".join(runs) + " |\n|---|" + "---:|" * len(runs))
for i, phase in enumerate(data[runs[0]]["phases"]):
    row(phase, lambda r, d, i=i: f"{cpu(d, i):.2f}")
row("(d) µs CPU per resource", lambda r, d: f"{d['validate_us_per_resource_cpu']:.1f}")
row("(c)/(b) map only vs orjson", lambda r, d: f"{cpu(d, 2) / cpu(d, 1):.1f}x")
row("(d)/(b) validate only vs orjson", lambda r, d: f"{cpu(d, 3) / cpu(d, 1):.1f}x")
row("**(a)/(b) pipeline vs orjson**", lambda r, d: f"**{d['baseline_over_pipeline_cpu']:.1f}x**")
row("invalid bundles in (a)", lambda r, d: str(d["invalid_bundles"]))
row("load (1 5 15 min), start -> end", lambda r, d: f"{loads[r][0]} -> {loads[r][1]}")
for side in ("pure", "compiled"):
    mean = [data[f"{side}-{r}"] for r in range(1, rounds + 1)]
    ratio = sum(d["baseline_over_pipeline_cpu"] for d in mean) / rounds
    us = sum(d["validate_us_per_resource_cpu"] for d in mean) / rounds
    print(f"{side}: means of {rounds} runs: (a)/(b) {ratio:.1f}x, (d) {us:.1f} µs per resource")
print(f"runs in {out}")
EOF
