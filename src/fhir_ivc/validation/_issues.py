"""The issue format of :mod:`fhir_ivc.validation`: OperationOutcome.issue as a plain dict.

A dict (not a class) so that issues are JSON as they are, and so that ``fhir-ivc map`` reads them
like any other OperationOutcome-shaped issue (it shows ``diagnostics``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, NotRequired, TypedDict, get_args

__all__ = [
    "RANK",
    "SEVERITIES",
    "Issue",
    "Severity",
    "at_least",
    "make_issue",
    "not_in_value_set",
    "to_operation_outcome",
]

Severity = Literal["error", "warning", "information"]

#: most severe first; ``at_least(issues, "warning")`` keeps errors and warnings
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
#: severity -> rank, most severe 0
RANK: Final = {s: i for i, s in enumerate(SEVERITIES)}


class Issue(TypedDict):
    """One problem, shaped like ``OperationOutcome.issue``, plus the profile that raised it.

    ``expression`` holds one FHIRPath-like location (``Bundle.entry[3].resource.component[0]
    .valueQuantity.code``); ``diagnostics`` starts with that location, then the message;
    ``code`` is an http://hl7.org/fhir/issue-type code (``required``, ``structure``, ``value``,
    ``code-invalid``, ``invariant``, ``not-supported``, ``informational``, ...).
    """

    severity: Severity
    code: str
    expression: list[str]
    diagnostics: str
    #: canonical URL of the StructureDefinition whose rule this is (absent for FHIR structure)
    profile: NotRequired[str]


def make_issue(
    severity: Severity, code: str, expression: str, message: str, profile: str | None = None
) -> Issue:
    """An :class:`Issue` at ``expression`` (``diagnostics`` = ``"<expression>: <message>"``)."""
    issue = Issue(
        severity=severity,
        code=code,
        expression=[expression],
        diagnostics=f"{expression}: {message}",
    )
    if profile:
        issue["profile"] = profile
    return issue


def not_in_value_set(strength: str, url: str) -> tuple[Severity, str]:
    """Severity and message of a code outside a required (error) or extensible (warning)
    binding."""
    if strength == "required":
        return "error", f"the code is not in value set {url} (required)"
    return (
        "warning",
        f"the code is not in value set {url} (extensible: use a code from it when one applies)",
    )


def at_least(issues: Iterable[Issue], severity: Severity) -> list[Issue]:
    """The issues whose severity is ``severity`` or more severe."""
    limit = RANK[severity]
    return [i for i in issues if RANK.get(i["severity"], 0) <= limit]


def to_operation_outcome(issues: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An R4 OperationOutcome holding ``issues``.

    The profile of an issue is named at the end of its diagnostics, ``(from <url>)``, the way the
    HL7 validator words it. No issues give the single ``information`` issue the HL7 validator
    returns then, because OperationOutcome.issue is 1..*.
    """
    out: list[dict[str, Any]] = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.get("severity", "error"),
            "code": issue.get("code", "processing"),
        }
        diagnostics = str(issue.get("diagnostics", ""))
        profile = issue.get("profile")
        if profile:
            diagnostics += f" (from {profile})"
        if diagnostics:
            entry["diagnostics"] = diagnostics
        expression = issue.get("expression")
        if expression:
            entry["expression"] = list(expression)
        out.append(entry)
    if not out:
        out.append(
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "No issues detected during validation",
            }
        )
    return {"resourceType": "OperationOutcome", "issue": out}
