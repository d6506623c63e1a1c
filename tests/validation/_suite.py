"""The broken-resource suite (tests/validation/broken/): loading cases and matching issues.

Kept as data so that another validator (the HL7 Java engine) can run the same cases;
broken/README.md states the rules, :func:`caught` implements them for exact expressions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BROKEN = HERE / "broken"
VALID = HERE / "valid"


@dataclass(frozen=True)
class Case:
    name: str
    resource: dict[str, Any]
    base: dict[str, Any]
    profile: str
    description: str
    issues: list[dict[str, str]]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def cases() -> list[Case]:
    out = []
    for expected_path in sorted(BROKEN.glob("*.expected.json")):
        name = expected_path.name.removesuffix(".expected.json")
        expected = load(expected_path)
        out.append(
            Case(
                name=name,
                resource=load(BROKEN / f"{name}.json"),
                base=load(HERE / expected["base"]),
                profile=expected["profile"],
                description=expected["description"],
                issues=expected["issues"],
            )
        )
    return out


def where(issue: Mapping[str, Any]) -> str:
    expression = issue.get("expression") or [""]
    return str(expression[0])


def caught(
    expected: Sequence[Mapping[str, str]], reported: Sequence[Mapping[str, Any]]
) -> list[str]:
    """What is wrong with ``reported`` against the expectation (empty: the case is caught)."""
    problems = []
    for want in expected:
        hits = [
            i
            for i in reported
            if i["severity"] == want["severity"] and where(i) == want["expression"]
        ]
        if not hits:
            problems.append(f"missing {want['severity']} at {want['expression']}")
        elif "code" in want and not any(i.get("code") == want["code"] for i in hits):
            problems.append(f"{want['expression']}: no issue with code {want['code']}")
    allowed = {w["expression"] for w in expected if w["severity"] == "error"}
    for issue in reported:
        if issue["severity"] == "error" and where(issue) not in allowed:
            problems.append(f"unexpected error: {issue.get('diagnostics')}")
    return problems
