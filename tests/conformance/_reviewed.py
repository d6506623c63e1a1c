"""The reviewed lists: ``expected-warnings.txt`` (warnings on what the adapter emits) and
``expected-third-party-errors.txt`` (errors on the mCODE and US Core examples, data the project
did not write).

One line per kind of issue: ``<count>\\t<key>\\t<reason>``. The key is the issue normalised
by :func:`tests.conformance._found.key` (severity, message id, location with indices as ``[*]``
and the resource type instead of ``Bundle.entry[*].resource``, message with uuids replaced by
``*``); the reason is one line a person can check (why the issue is right, and acceptable or
not ours). The tests compare the *set* of keys: a new kind of issue, or one that is gone, fails
until a person accepts it; every kind needs a reason. The counts are recorded for the reviewer
and shown in the diff, not enforced.

To accept the current set after reviewing the diff the failing test prints:

    FHIR_IVC_ACCEPT_CONFORMANCE=1 .venv/bin/python -m pytest tests/conformance

which rewrites the file, keeping the reasons of known kinds and marking new kinds
``UNREVIEWED`` (a test fails until each has a reason); commit it with a message saying why the
new issues are acceptable.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCEPT = os.environ.get("FHIR_IVC_ACCEPT_CONFORMANCE") == "1"
UNREVIEWED = "UNREVIEWED"

HEADERS = {
    "expected-warnings.txt": (
        "Warnings of the HL7 engine (full mCODE chain: docs/conformance.md) on every bundle\n"
        "`fhir-ivc map` emits (2 seed + 200 synthetic cases, transaction + collection), reviewed.\n"
        "Each kind is followed by the reason it is acceptable (docs/conformance.md, 'Warnings')."
    ),
    "expected-third-party-errors.txt": (
        "Errors of the HL7 engine (full mCODE chain) on third-party data: the mCODE 4.0.0\n"
        "examples (tests/data/mcode-examples) and the US Core 6.1.0 examples (package/example/\n"
        "of the pinned tarball), reviewed. Not the adapter's output (that has 0 errors): each\n"
        "kind is followed by its cause (docs/conformance.md, 'Third-party data')."
    ),
}


def read(name: str) -> dict[str, tuple[int, str]]:
    """key -> (count, reason)."""
    path = HERE / name
    out: dict[str, tuple[int, str]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        count, rest = line.split("\t", 1)
        key, reason = rest.rsplit("\t", 1)
        out[key] = (int(count), reason.strip())
    return out


def write(name: str, tally: Counter[str], reasons: dict[str, str]) -> None:
    lines = [f"# {h}" for h in HEADERS[name].splitlines()]
    lines += [
        "# Format: count<TAB>key<TAB>reason (tests/conformance/_reviewed.py). Accept changes with",
        "#   FHIR_IVC_ACCEPT_CONFORMANCE=1 .venv/bin/python -m pytest tests/conformance",
        "",
    ]
    lines += [
        f"{count}\t{key}\t{reasons.get(key) or UNREVIEWED}" for key, count in sorted(tally.items())
    ]
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def compare(name: str, actual: Counter[str]) -> list[str]:
    """Differences of the key sets (new first), or [] (after rewriting, when accepting)."""
    if ACCEPT:
        write(name, actual, {k: reason for k, (_, reason) in read(name).items()})
    expected = read(name)
    new = sorted(set(actual) - set(expected))
    gone = sorted(set(expected) - set(actual))
    return [f"NEW  {actual[k]}\t{k}" for k in new] + [f"GONE {expected[k][0]}\t{k}" for k in gone]


def unreviewed(name: str) -> list[str]:
    """The keys of the list that have no reason yet."""
    return [k for k, (_, reason) in read(name).items() if not reason or reason == UNREVIEWED]
