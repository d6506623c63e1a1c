# Hand-written source of truth. scripts/unasync.py generates _sync.py from this file;
# run `python scripts/unasync.py` after every change (CI runs it with --check).
"""FHIR client shell: moves bytes for :mod:`fhir_ivc.client._core` and sleeps between retries.

All decisions (URLs, headers, status → exception, retry or not, how long to wait, paging
rules) are made in the sans-I/O core. What to push and pull, and what the answers mean, is the
business of :mod:`fhir_ivc.exchange`, which drives this client; this package imports no mapper.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any, Self

import httpx

from fhir_ivc._types import ExcInfo
from fhir_ivc.client._answers import CapabilityInfo
from fhir_ivc.client._core import (
    JsonDict,
    QueryParams,
    RequestSpec,
)
from fhir_ivc.client._shell import ClientShell
from fhir_ivc.client._sleep import AsyncSleep, default_asleep

__all__ = ["AsyncFhirClient"]


class AsyncFhirClient(ClientShell[httpx.AsyncClient, httpx.AsyncBaseTransport, AsyncSleep]):
    """A FHIR R4 server at ``base_url``, spoken to through one long-lived ``httpx.AsyncClient``.

    ``auth`` is an ``httpx.Auth`` (see :mod:`fhir_ivc.client.auth`); ``retry`` decides how
    often repeatable requests are retried; ``verify`` stays ``True`` unless you pass an
    ``ssl.SSLContext`` (custom CA) or, knowingly, ``False``. ``limits`` bound the size, time
    and pages of every answer (:class:`~fhir_ivc.client._core.ResponseLimits`: a hostile
    server gets a clear error, not our memory or our time). ``transport`` and ``sleep`` are
    for tests: an ``httpx.MockTransport`` and a sleep that records instead of waiting.
    Use it as a context manager, or call ``aclose()``.
    """

    def _open(
        self,
        auth: httpx.Auth | None,
        timeout: float,
        verify: bool | ssl.SSLContext,
        transport: httpx.AsyncBaseTransport | None,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=auth, timeout=timeout, verify=verify, transport=transport, follow_redirects=False
        )

    def _default_sleep(self) -> AsyncSleep:
        return default_asleep

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: *ExcInfo) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- transport loop ------------------------------------------------------------------------

    async def _send(self, spec: RequestSpec) -> httpx.Response:
        state = self._core.start(spec)
        while True:
            state.begin_attempt()
            request = self._http.build_request(
                spec.method,
                spec.url,
                params=spec.params,
                headers=spec.headers,
                content=spec.content,
            )
            body = self._core.body_reader(spec)
            try:
                response = await self._http.send(request, stream=True)
                try:
                    body.check_headers(response)
                    async for chunk in response.aiter_bytes():
                        body.feed(chunk)
                finally:
                    await response.aclose()
                response = body.response(response)
            except httpx.HTTPError as exc:
                delay = state.after_exception(exc)
            else:
                retry_in = state.after_response(response)
                if retry_in is None:
                    return response
                delay = retry_in
            await self._sleep(delay)

    async def _json(self, spec: RequestSpec) -> JsonDict:
        response = await self._send(spec)
        return self._core.json_body(response, spec)

    # -- FHIR interactions ---------------------------------------------------------------------

    async def capabilities(self) -> CapabilityInfo:
        """``GET [base]/metadata``; ``ConfigError`` unless the server speaks FHIR 4.0.x."""
        return CapabilityInfo.from_statement(await self.capability_statement())

    async def capability_statement(self) -> JsonDict:
        """``GET [base]/metadata``: the CapabilityStatement as received (not checked)."""
        return await self._json(self._core.request("GET", self._core.url("metadata")))

    async def read(self, resource_type: str, resource_id: str) -> JsonDict:
        """``GET [base]/[type]/[id]``; ``NotFoundError`` on 404/410."""
        path = f"{self._core.check_type(resource_type)}/{self._core.check_id(resource_id)}"
        return await self._json(self._core.request("GET", self._core.url(path)))

    async def search(
        self, resource_type: str, params: QueryParams | None = None
    ) -> AsyncIterator[JsonDict]:
        """``GET [base]/[type]?params``, then every ``next`` page: yields each searchset Bundle.

        Next links may be absolute or relative to the base URL. A link to another origin
        raises ``RequestError``; a link to a page already fetched ends the iteration.
        """
        url = self._core.url(self._core.check_type(resource_type))
        spec = self._core.request("GET", url, params=params)
        async for page in self._pages(spec, f"search {resource_type}"):
            yield page

    async def operation_pages(
        self, path: str, params: QueryParams | None = None
    ) -> AsyncIterator[JsonDict]:
        """``GET [base]/Patient/123/$everything?params`` and every ``next`` page of its answer.

        For operations that answer with a searchset Bundle; paging as in :meth:`search`.
        """
        url = self._core.operation_path(path)
        spec = self._core.request("GET", url, params=params)
        async for page in self._pages(spec, f"operation {url.rsplit('/', 1)[-1]}"):
            yield page

    async def _pages(self, first: RequestSpec, label: str) -> AsyncIterator[JsonDict]:
        """The searchset Bundle ``first`` asks for and every ``next`` page after it."""
        spec: RequestSpec | None = first
        seen: set[str] = set()
        while spec is not None:
            page = self._core.expect_bundle(await self._json(spec), "searchset", spec)
            yield page
            spec = self._next_page(spec, page, seen, label)

    async def transaction(self, bundle: Mapping[str, Any]) -> JsonDict:
        """``POST [base]`` a transaction Bundle; returns the transaction-response Bundle.

        Retried on 408/429/5xx and transport errors only when every entry is a PUT, GET or
        DELETE (see ``_core.is_repeatable_transaction``).
        """
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("transaction() needs a Bundle with type 'transaction'")
        spec = self._core.request("POST", self._core.base_url, body=bundle)
        return self._core.expect_bundle(await self._json(spec), "transaction-response", spec)

    async def operation(
        self,
        path: str,
        params: QueryParams | None = None,
        *,
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        """``GET [base]/Patient/123/$everything?params`` (or POST with a Parameters ``body``)."""
        spec = self._core.request(method, self._core.operation_path(path), params=params, body=body)
        return await self._json(spec)
