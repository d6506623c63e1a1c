"""HTTP clients for a FHIR R4 server and the push engine.

:class:`AsyncFhirClient` is hand-written; :class:`FhirClient` is generated from it by
``scripts/unasync.py`` and has the same methods (``close`` instead of ``aclose``). Both share
the sans-I/O core in ``_core``. This package is the only one that imports ``httpx``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, overload

from fhir_ivc.client._async import AsyncFhirClient
from fhir_ivc.client._core import (
    DEFAULT_RETRY,
    FHIR_JSON,
    USER_AGENT,
    CapabilityInfo,
    RetryPolicy,
)
from fhir_ivc.client._sync import FhirClient
from fhir_ivc.client.auth import BasicAuth, BearerTokenAuth
from fhir_ivc.client.pull import PatientPull, PatientQuery
from fhir_ivc.client.push import OUTCOMES, CasePushResult, EntryResult, Outcome, PushItem

__all__ = [
    "DEFAULT_RETRY",
    "FHIR_JSON",
    "OUTCOMES",
    "USER_AGENT",
    "AsyncFhirClient",
    "BasicAuth",
    "BearerTokenAuth",
    "CapabilityInfo",
    "CasePushResult",
    "EntryResult",
    "FhirClient",
    "Outcome",
    "PatientPull",
    "PatientQuery",
    "PushItem",
    "RetryPolicy",
    "push_many",
]


@overload
def push_many(
    client: FhirClient,
    items: Iterable[PushItem],
    *,
    concurrency: int = ...,
    on_result: Callable[[CasePushResult], None] | None = ...,
) -> list[CasePushResult]: ...


@overload
def push_many(
    client: AsyncFhirClient,
    items: Iterable[PushItem],
    *,
    concurrency: int = ...,
    on_result: Callable[[CasePushResult], None] | None = ...,
) -> Coroutine[Any, Any, list[CasePushResult]]: ...


def push_many(
    client: FhirClient | AsyncFhirClient,
    items: Iterable[PushItem],
    *,
    concurrency: int = 4,
    on_result: Callable[[CasePushResult], None] | None = None,
) -> list[CasePushResult] | Coroutine[Any, Any, list[CasePushResult]]:
    """Push many ``(case_id, bundle, sources)`` items; results come back in input order.

    ``push_many(sync_client, items)`` returns the list; ``await push_many(async_client, items)``
    does the same on the async client (anyio task group). See ``FhirClient.push_many``.
    """
    return client.push_many(items, concurrency=concurrency, on_result=on_result)
