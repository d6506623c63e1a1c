"""Fixtures for the client tests: respx routers driven through ``httpx.MockTransport``.

No patching of httpx (respx docs, "Mock without patching HTTPX"): the router is handed to the
client as its transport. Every test that uses ``router`` also asserts that all its routes were
called. ``client`` is parametrized over both shells; tests talk to it through :class:`Harness`
so one test body covers ``FhirClient`` and ``AsyncFhirClient``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from fhir_ivc.client import AsyncFhirClient, FhirClient, RetryPolicy
from fhir_ivc.exchange import _async, _sync

BASE = "http://fhir.test/fhir"
NOW = 1_700_000_000.0  # the fixed clock of RETRY (2023-11-14T22:13:20Z)

#: Deterministic policy: jitter pinned to 1.0, so backoff delays are exactly 0.5, 1.0, 2.0 …
RETRY = RetryPolicy(max_attempts=4, backoff_base=0.5, jitter=lambda: 1.0, clock=lambda: NOW)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def router() -> Iterator[respx.Router]:
    router = respx.Router(base_url=BASE, assert_all_called=True, assert_all_mocked=True)
    yield router
    router.assert_all_called()


class Harness:
    """Drives either client through the same awaitable API; ``delays`` records every sleep."""

    def __init__(self, kind: str, router: respx.Router, **kwargs: Any) -> None:
        self.kind = kind
        self.router = router
        self.delays: list[float] = []
        kwargs.setdefault("retry", RETRY)
        self.client: FhirClient | AsyncFhirClient
        if kind == "sync":
            self.client = FhirClient(
                BASE,
                transport=httpx.MockTransport(router.handler),
                sleep=self.delays.append,
                **kwargs,
            )
        else:

            async def sleep(seconds: float) -> None:
                self.delays.append(seconds)

            self.client = AsyncFhirClient(
                BASE,
                transport=httpx.MockTransport(router.async_handler),
                sleep=sleep,
                **kwargs,
            )

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A client method: ``await harness.call("read", "Patient", "1")``."""
        result = getattr(self.client, name)(*args, **kwargs)
        if self.kind == "async":
            result = await result
        return result

    async def engine(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A push/pull engine function over this client: ``engine("push_many", items)``."""
        module = _async if self.kind == "async" else _sync
        result = getattr(module, name)(self.client, *args, **kwargs)
        if self.kind == "async":
            result = await result
        return result

    async def pages(self, resource_type: str, params: Any = None, into: list[Any] | None = None):
        """All search pages; with ``into`` they are collected there as they arrive."""
        pages = [] if into is None else into
        if isinstance(self.client, AsyncFhirClient):
            async for page in self.client.search(resource_type, params):
                pages.append(page)
        else:
            for page in self.client.search(resource_type, params):
                pages.append(page)
        return pages

    async def close(self) -> None:
        if isinstance(self.client, AsyncFhirClient):
            await self.client.aclose()
        else:
            self.client.close()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(kind: str, router: respx.Router):
    """``make_client(**kwargs)`` → a :class:`Harness` of the parametrized kind."""
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        harness = Harness(kind, router, **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        if isinstance(harness.client, FhirClient):
            harness.client.close()


@pytest.fixture
def client(make_client) -> Harness:
    harness: Harness = make_client()
    return harness
