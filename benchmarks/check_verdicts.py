"""Differential check of the offline validator against another version of itself.

Speed work on ``fhir_ivc.validation`` must not change a single verdict. This script builds one
fixed set of inputs (synthetic bundles, the seed-case bundles, the mutation suite's 85 mutants,
seeded random mutations of emitted bundles, the example bundles and the broken/valid resource
suite), validates every input with the code of this checkout and with the code of a git
revision (default ``main``, its ``src/`` extracted with ``git archive`` and run in a
subprocess), and compares the issue lists, every severity (``min_severity="information"``),
in four passes that exercise the memos differently:

1. every input in order, memos cleared first (cold, then warming up as the inputs repeat);
2. every input again (warm memos);
3. every input with the entry memo off (``Validator.use_entry_memo = False``, memos cleared);
4. every input in reverse order with ``min_severity="error"`` (what ``map --validate`` asks).

Both sides validate the same inputs (JSON written once by this process), so the comparison is
of the validators alone. Exit 0 when every issue list is identical, 1 otherwise (the first
differences are printed).

    .venv/bin/python benchmarks/check_verdicts.py                 # 500 cases, against main
    .venv/bin/python benchmarks/check_verdicts.py --n 100 --against HEAD~3
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: values a random mutation puts somewhere (each also as a replacement of a whole element)
_VALUES: tuple[Any, ...] = (
    None,
    "",
    "x",
    " padded ",
    "300",
    "2020-13-01",
    "2020-02-30T10:00:00",
    "urn:uuid:00000000-0000-0000-0000-000000000000",
    0,
    -1,
    2**31,
    2**70,
    1.5,
    True,
    [],
    {},
    [None],
    {"id": "x"},
    {"reference": "Specimen/abc"},
    {"system": "http://snomed.info/sct", "code": "0"},
    {"coding": [{"system": "http://loinc.org", "code": "21889-1"}]},
    {"url": "http://example.org/ext", "valueString": "y"},
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _mutate(bundle: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    paths = _paths(out)[1:]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        target: Any = out
        try:
            for part in path[:-1]:
                target = target[part]
            last = path[-1]
            choice = rng.randrange(len(_VALUES) + 2)
            if choice == len(_VALUES) and isinstance(target, dict):
                del target[last]
            elif choice == len(_VALUES) + 1 and isinstance(target, dict):
                target[f"{last}X"] = copy.deepcopy(target[last])  # an unknown element
            else:
                target[last] = copy.deepcopy(_VALUES[choice % len(_VALUES)])
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit of this bundle removed the place
    return out


def build_inputs(n: int, mutations: int, seed: int) -> list[dict[str, Any]]:
    """The documents both validators check, in a fixed order."""
    sys.path.insert(0, str(ROOT))
    from tests.validation._mutants import MUTANTS, _cases, build

    from fhir_ivc.bundle import build_bundles
    from fhir_ivc.testing.synth import synthetic_case

    docs: list[dict[str, Any]] = []
    for i in range(n):
        bundles = build_bundles(synthetic_case(i))
        docs += [bundles.transaction, bundles.collection]
    bases = []
    for _, case in _cases():
        bundles = build_bundles(case)
        bases += [bundles.transaction, bundles.collection]
    docs += bases
    docs += [build(mutant)[0] for mutant in MUTANTS]
    rng = random.Random(seed)
    pool = bases + docs[:20]
    docs += [_mutate(rng.choice(pool), rng) for _ in range(mutations)]
    for folder in ("examples/bundles", "tests/validation/broken", "tests/validation/valid"):
        for path in sorted((ROOT / folder).glob("*.json")):
            if not path.name.endswith(".expected.json"):
                docs.append(json.loads(path.read_text()))
    return docs


def verdicts(inputs: Path, out: Path) -> None:
    """Validate every input in the four passes; write the issue lists as JSON."""
    from fhir_ivc.validation import validate, validator

    docs = json.loads(inputs.read_text())
    v = validator()
    results: list[Any] = []
    v.clear_memos()
    for _ in range(2):
        results += [validate(d, min_severity="information") for d in docs]
    v.clear_memos()
    v.use_entry_memo = False
    results += [validate(d, min_severity="information") for d in docs]
    v.use_entry_memo = True
    results += [validate(d, min_severity="error") for d in reversed(docs)]
    out.write_text(json.dumps(results))


def _other(revision: str, inputs: Path, out: Path, work: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", revision, "src", "profiles"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import fhir_ivc; assert fhir_ivc.__file__.startswith(sys.argv[1]), fhir_ivc.__file__; "
        "sys.path.insert(1, sys.argv[2]); from check_verdicts import verdicts; "
        "from pathlib import Path; verdicts(Path(sys.argv[3]), Path(sys.argv[4]))"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(work / "src"),
            str(Path(__file__).parent),
            str(inputs),
            str(out),
        ],
        check=True,
        cwd=work,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="synthetic cases (default 500)")
    parser.add_argument("--mutations", type=int, default=500, help="random mutants (500)")
    parser.add_argument("--seed", type=int, default=10, help="seed of the random mutations")
    parser.add_argument("--against", default="main", help="git revision (default main)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = work / "inputs.json"
        docs = build_inputs(args.n, args.mutations, args.seed)
        inputs.write_text(json.dumps(docs))
        mine, theirs = work / "mine.json", work / "theirs.json"
        verdicts(inputs, mine)
        _other(args.against, inputs, theirs, work / "other")
        new, old = json.loads(mine.read_text()), json.loads(theirs.read_text())
    size = len(docs)
    differ = [i for i, (a, b) in enumerate(zip(new, old, strict=True)) if a != b]
    issues = sum(len(r) for r in new)
    print(
        f"{size} documents x 4 passes, {issues} issues: "
        f"{len(differ)} issue lists differ from {args.against}"
    )
    for i in differ[:5]:
        print(f"pass {i // size + 1}, document {i % size}:")
        print("  here:   ", json.dumps(new[i])[:600])
        print(f"  {args.against}:", json.dumps(old[i])[:600])
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
