"""What the commands take from the rest of the package: one object, passed as ``typer.Context.obj``.

``fhir-ivc`` runs with the defaults. A test passes its own, so nothing is patched::

    runner.invoke(app, ["push", ...], obj=Services(async_fhir_client=partial(
        AsyncFhirClient, transport=httpx.MockTransport(fake_server))))

The bundle checks shared by ``map`` and ``push`` (and :mod:`fhir_ivc.spark`) are
:mod:`fhir_ivc.bundle.checks`, re-exported here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

import typer

from fhir_ivc.bundle import build_bundles
from fhir_ivc.bundle.checks import BundleCheck, bundle_problem, entry_source, validation_check
from fhir_ivc.cli._ids import Ids
from fhir_ivc.client import AsyncFhirClient, FhirClient
from fhir_ivc.io import BundleSet
from fhir_ivc.model import Case

__all__ = [
    "BuildBundles",
    "BundleCheck",
    "CaseBundleSet",
    "Services",
    "bundle_problem",
    "entry_source",
    "services",
    "validation_check",
]


class CaseBundleSet(BundleSet, Protocol):
    """What a bundle builder returns (``fhir_ivc.bundle.CaseBundles``): the bundles and the
    case element of each entry (fullUrl -> case path)."""

    @property
    def sources(self) -> Mapping[str, str]: ...


BuildBundles = Callable[[Case], CaseBundleSet]


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
        build = cast(Callable[..., CaseBundleSet], self.build_bundles)
        return functools.partial(build, ids=ids.value)


def services(ctx: typer.Context) -> Services:
    """The services of this run: ``ctx.obj`` when the caller gave one, else the defaults."""
    return ctx.obj if isinstance(ctx.obj, Services) else Services()
