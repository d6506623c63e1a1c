"""The checks of a built bundle that every way of mapping shares (``fhir-ivc map``, ``push``,
:mod:`fhir_ivc.spark`): a check returns the problems of one bundle, and :func:`bundle_problem`
names the case element behind the first one, so a reject says where in the case it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from fhir_ivc.exceptions import ResourceInvalidError
from fhir_ivc.validation import validate_bundle

__all__ = ["BundleCheck", "bundle_problem", "entry_source", "validation_check"]

#: A bundle check: the problems found, one line each, empty when the bundle is valid.
BundleCheck = Callable[[Mapping[str, Any]], list[str]]

_ENTRY: Final = re.compile(r"^Bundle\.entry\[(\d+)\]")


def _issue_text(issue: object) -> str:
    if isinstance(issue, Mapping):
        return str(issue.get("diagnostics") or issue.get("details") or issue)
    return str(issue)


def validation_check(bundle: Mapping[str, Any]) -> list[str]:
    """The errors :func:`fhir_ivc.validation.validate_bundle` finds, one line each."""
    try:
        issues = validate_bundle(bundle)
    except ResourceInvalidError as exc:
        return [str(exc)] + [_issue_text(issue) for issue in exc.issues]
    return [_issue_text(issue) for issue in issues]


def entry_source(bundle: Mapping[str, Any], sources: Mapping[str, str], issue: str) -> str:
    """The case element behind the entry that ``issue`` names (``Bundle.entry[3]…``), else ""."""
    match = _ENTRY.match(issue)
    entries = bundle.get("entry")
    if match is None or not isinstance(entries, list) or int(match[1]) >= len(entries):
        return ""
    entry = entries[int(match[1])]
    full_url = entry.get("fullUrl") if isinstance(entry, Mapping) else None
    return sources.get(full_url, "") if isinstance(full_url, str) else ""


def bundle_problem(
    bundle: Mapping[str, Any], sources: Mapping[str, str], check: BundleCheck, label: str
) -> tuple[str, str] | None:
    """``(case element, reason)`` when ``check`` finds problems: the first one and how many more."""
    issues = check(bundle)
    if not issues:
        return None
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return entry_source(bundle, sources, issues[0]), f"{label} bundle is invalid: {issues[0]}{more}"
