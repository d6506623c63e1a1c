"""What the commands take from the rest of the package: one object, passed as ``typer.Context.obj``.

``fhir-ivc`` runs with the defaults. A test passes its own, so nothing is patched::

    runner.invoke(app, ["push", ...], obj=Services(async_fhir_client=partial(
        AsyncFhirClient, transport=httpx.MockTransport(fake_server))))

The bundle checks shared by ``map`` and ``push`` live here too: a check returns the problems of
one bundle, and :func:`bundle_problem` names the case element behind the first one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import typer

from fhir_ivc.bundle import build_bundles
from fhir_ivc.cli._ids import Ids
from fhir_ivc.client import AsyncFhirClient, FhirClient
from fhir_ivc.exceptions import ResourceInvalidError
from fhir_ivc.io import BundleSet
from fhir_ivc.model import Case
from fhir_ivc.validation import validate_bundle

__all__ = [
    "BuildBundles",
    "BundleCheck",
    "Services",
    "bundle_problem",
    "entry_source",
    "services",
    "validation_check",
]

BuildBundles = Callable[[Case], BundleSet]
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


@dataclass(frozen=True, slots=True)
class Services:
    """The builders the commands call; every field has the production default."""

    build_bundles: BuildBundles = build_bundles
    check_bundle: BundleCheck = validation_check
    fhir_client: Callable[..., FhirClient] = FhirClient
    async_fhir_client: Callable[..., AsyncFhirClient] = AsyncFhirClient

    def builder(self, ids: Ids = Ids.CONDITIONAL) -> BuildBundles:
        """The bundle builder for ``--ids`` (``ids="logical"``: PUT Type/<uuid>)."""
        if ids is Ids.CONDITIONAL:
            return self.build_bundles
        build = cast(Callable[..., BundleSet], self.build_bundles)
        return functools.partial(build, ids=ids.value)


def services(ctx: typer.Context) -> Services:
    """The services of this run: ``ctx.obj`` when the caller gave one, else the defaults."""
    return ctx.obj if isinstance(ctx.obj, Services) else Services()


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
