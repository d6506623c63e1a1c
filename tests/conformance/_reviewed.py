"""The reviewed lists: ``expected-warnings.txt`` and ``expected-gap-errors.txt``.

One line per kind of issue: ``<count>\\t<key>`` where the key is the issue normalised by
:func:`tests.conformance._gaps.key` (severity, [gap rule,] message id, location with indices as
``[*]`` and the resource type instead of ``Bundle.entry[*].resource``, message with uuids
replaced by ``*``). The tests compare the *set* of keys: a new kind of issue, or one that is gone,
fails until a person accepts it; the counts are recorded for the reviewer and shown in the diff,
not enforced.

To accept the current set after reviewing the diff the failing test prints:

    FHIR_IVC_ACCEPT_CONFORMANCE=1 .venv/bin/python -m pytest tests/conformance

which rewrites both files; commit them with a message saying why the new issues are acceptable.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCEPT = os.environ.get("FHIR_IVC_ACCEPT_CONFORMANCE") == "1"

HEADERS = {
    "expected-warnings.txt": (
        "Warnings of the HL7 engine on every bundle `fhir-ivc map` emits (2 seed + 200 synthetic\n"
        "cases, transaction + collection), reviewed. Each was judged acceptable: see\n"
        "docs/conformance.md, 'Warnings'."
    ),
    "expected-gap-errors.txt": (
        "Errors of the HL7 engine on the emitted bundles that a rule of\n"
        "tests/conformance/_gaps.py explains by the missing US Core 6.1.0 package\n"
        "(docs/conformance.md, 'Known gap'), reviewed."
    ),
}


def read(name: str) -> Counter[str]:
    path = HERE / name
    out: Counter[str] = Counter()
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        count, key = line.split("\t", 1)
        out[key] = int(count)
    return out


def write(name: str, tally: Counter[str]) -> None:
    lines = [f"# {h}" for h in HEADERS[name].splitlines()]
    lines += [
        "# Format: count<TAB>key (tests/conformance/_reviewed.py). Accept changes with",
        "#   FHIR_IVC_ACCEPT_CONFORMANCE=1 .venv/bin/python -m pytest tests/conformance",
        "",
    ]
    lines += [f"{count}\t{key}" for key, count in sorted(tally.items())]
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def compare(name: str, actual: Counter[str]) -> list[str]:
    """Differences of the key sets (new first), or [] (after rewriting, when accepting)."""
    if ACCEPT:
        write(name, actual)
    expected = read(name)
    new = sorted(set(actual) - set(expected))
    gone = sorted(set(expected) - set(actual))
    return [f"NEW  {actual[k]}\t{k}" for k in new] + [f"GONE {expected[k]}\t{k}" for k in gone]
