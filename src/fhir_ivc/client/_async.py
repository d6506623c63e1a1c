# Hand-written source of truth. scripts/unasync.py generates _sync.py from this file;
# run `python scripts/unasync.py` after every change (CI runs it with --check).
"""FHIR client shell: moves bytes for :mod:`fhir_ivc.client._core` and sleeps between retries.

All decisions (URLs, headers, status → exception, retry or not, how long to wait, paging
rules, push outcomes, what to pull) are made in the sans-I/O core, :mod:`fhir_ivc.client.push`
and :mod:`fhir_ivc.client.pull`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from fhir_ivc.client import push
from fhir_ivc.client._concurrency import AsyncSleep, amap_bounded, default_asleep
from fhir_ivc.client._core import (
    DEFAULT_RETRY,
    CapabilityInfo,
    ClientCore,
    JsonDict,
    QueryParams,
    RequestSpec,
    RetryPolicy,
    parse_transaction_response,
)
from fhir_ivc.client.pull import (
    MAX_REFERENCE_READS,
    PatientPull,
    PatientQuery,
    PullTarget,
    ResourceSet,
    SearchSupport,
    Strategy,
    everything_params,
    failed_pull,
    not_found_pull,
    plan_targets,
    read_pulled,
    resolve_strategy,
    search_plan,
    unreadable_reason,
)
from fhir_ivc.client.push import CasePushResult, PushItem
from fhir_ivc.exceptions import FhirHttpError, NotFoundError

__all__ = ["AsyncFhirClient"]

logger = logging.getLogger("fhir_ivc.client")


class AsyncFhirClient:
    """A FHIR R4 server at ``base_url``, spoken to through one long-lived ``httpx.AsyncClient``.

    ``auth`` is an ``httpx.Auth`` (see :mod:`fhir_ivc.client.auth`); ``retry`` decides how
    often repeatable requests are retried; ``verify`` stays ``True`` unless you pass an
    ``ssl.SSLContext`` (custom CA) or, knowingly, ``False``. ``transport`` and ``sleep`` are
    for tests: an ``httpx.MockTransport`` and a sleep that records instead of waiting.
    Use it as a context manager, or call ``aclose()``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: AsyncSleep | None = None,
    ) -> None:
        self._core = ClientCore(base_url, retry=retry, headers=headers)
        self._core.warn_if_insecure(has_auth=auth is not None, verify=verify)
        self._sleep = sleep or default_asleep
        self._http = httpx.AsyncClient(
            auth=auth,
            timeout=timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,  # a redirect could carry credentials elsewhere
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
            try:
                response = await self._http.send(request)
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
        spec: RequestSpec | None = self._core.request("GET", url, params=params)
        seen: set[str] = set()
        while spec is not None:
            page = self._core.expect_bundle(await self._json(spec), "searchset", spec)
            yield page
            spec = self._next_page(spec, page, seen, f"search {resource_type}")

    async def operation_pages(
        self, path: str, params: QueryParams | None = None
    ) -> AsyncIterator[JsonDict]:
        """``GET [base]/Patient/123/$everything?params`` and every ``next`` page of its answer.

        For operations that answer with a searchset Bundle; paging as in :meth:`search`.
        """
        url = self._core.operation_path(path)
        spec: RequestSpec | None = self._core.request("GET", url, params=params)
        seen: set[str] = set()
        label = f"operation {url.rsplit('/', 1)[-1]}"
        while spec is not None:
            page = self._core.expect_bundle(await self._json(spec), "searchset", spec)
            yield page
            spec = self._next_page(spec, page, seen, label)

    def _next_page(
        self, spec: RequestSpec, page: JsonDict, seen: set[str], label: str
    ) -> RequestSpec | None:
        """The request for the page after ``page``; ``None`` at the end or on a repeated link."""
        seen.add(spec.full_url)
        next_url = self._core.next_link(page)
        if next_url is None:
            return None
        if next_url in seen:
            logger.warning("%s: next link points to a page already fetched; stopping", label)
            return None
        return self._core.request("GET", next_url)

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

    # -- push engine ---------------------------------------------------------------------------

    async def push_bundle(
        self,
        bundle: Mapping[str, Any],
        *,
        case_id: str,
        sources: Mapping[str, str] | None = None,
    ) -> CasePushResult:
        """Push one case's transaction Bundle; per-entry outcomes in :class:`CasePushResult`.

        ``sources`` maps ``entry.fullUrl`` to the case element that produced it
        (``"surgery.blood_loss_ml"``), so failures name the element. A transaction the server
        rejects (any ``FhirHttpError``) becomes a failed result; transport and auth errors are
        raised (``push_many`` turns those into failed results too).
        """
        planned = push.plan_entries(bundle, sources)
        try:
            answer = await self.transaction(bundle)
        except FhirHttpError as exc:
            return push.result_from_http_error(case_id, planned, exc)
        entries = parse_transaction_response(answer, expected_entries=len(planned))
        return push.result_from_response(case_id, planned, entries)

    async def push_many(
        self,
        items: Iterable[PushItem],
        *,
        concurrency: int = 4,
        on_result: Callable[[CasePushResult], None] | None = None,
    ) -> list[CasePushResult]:
        """Push many ``(case_id, bundle, sources)``; results in input order.

        At most ``concurrency`` transactions are in flight, all over this client's one
        connection pool. ``on_result`` sees each result as it completes. One failing case
        never stops the others: any exception becomes a failed :class:`CasePushResult`.
        """

        async def push_one(item: PushItem) -> CasePushResult:
            case_id, bundle, sources = item
            try:
                return await self.push_bundle(bundle, case_id=case_id, sources=sources)
            except Exception as exc:  # isolation: this case fails, the batch goes on
                return push.result_from_error(case_id, bundle, sources, exc)

        return await amap_bounded(push_one, list(items), limit=concurrency, on_result=on_result)

    # -- pull engine ---------------------------------------------------------------------------

    async def find_patients(
        self, query: PatientQuery, *, count: int | None = None
    ) -> list[JsonDict]:
        """The Patients ``query`` selects, each once, in the order the server returned them.

        ``Patient?identifier=system|value,…`` (batched) or ``Patient?identifier=system|``,
        every page followed; ``count`` is sent as ``_count``.
        """
        found: dict[str, JsonDict] = {}
        for params in query.searches(count):
            async for page in self.search("Patient", params):
                for entry in page.get("entry") or []:
                    resource = entry.get("resource") if isinstance(entry, Mapping) else None
                    if (
                        isinstance(resource, dict)
                        and resource.get("resourceType") == "Patient"
                        and isinstance(resource.get("id"), str)
                    ):
                        found.setdefault(resource["id"], resource)
        return list(found.values())

    async def gather_patient(
        self,
        patient: Mapping[str, Any],
        *,
        strategy: Literal["everything", "search"] = "everything",
        count: int | None = None,
        support: SearchSupport | None = None,
    ) -> ResourceSet:
        """All resources of one patient: ``$everything`` or the type searches, then the reads.

        Every reference to a resource of this server that is not in the result is read, also
        transitively, each at most once; what cannot be read is a loss of the ResourceSet.
        """
        support = support or SearchSupport()
        patient_id = self._core.check_id(str(patient.get("id", "")))
        resources = ResourceSet(self.base_url)
        resources.add(patient)
        if strategy == "everything":
            path = f"Patient/{patient_id}/$everything"
            async for page in self.operation_pages(path, everything_params(count)):
                resources.add_page(page)
        else:
            for resource_type, params in search_plan(patient_id, support, count):
                async for page in self.search(resource_type, params):
                    resources.add_page(page)
        while missing := resources.missing():
            for key in missing:
                resource_type, _, resource_id = key.partition("/")
                if resources.reads >= MAX_REFERENCE_READS:
                    resources.unreadable(key, f"not read: over {MAX_REFERENCE_READS} reads")
                    continue
                if not support.can_read(resource_type):
                    resources.unreadable(key, f"the server does not offer reading {resource_type}")
                    continue
                resources.attempt(key)
                resources.reads += 1
                try:
                    resources.add(await self.read(resource_type, resource_id))
                except (NotFoundError, FhirHttpError, ValueError) as exc:
                    resources.unreadable(key, unreadable_reason(exc))
        return resources

    async def pull_patient(
        self,
        target: PullTarget,
        *,
        strategy: Literal["everything", "search"] = "everything",
        count: int | None = None,
        support: SearchSupport | None = None,
    ) -> PatientPull:
        """Gather one target patient's resources and read them into a case (see ``read_case``)."""
        if target.patient is None:
            return not_found_pull(target)
        resources = await self.gather_patient(
            target.patient, strategy=strategy, count=count, support=support
        )
        return read_pulled(
            target,
            resources,
            strategy=strategy,
            requests=resources.pages + resources.reads,
        )

    async def pull_many(
        self,
        query: PatientQuery,
        *,
        strategy: Strategy = "auto",
        count: int | None = None,
        concurrency: int = 4,
        on_result: Callable[[PatientPull], None] | None = None,
    ) -> list[PatientPull]:
        """Pull every patient ``query`` selects; results in query order (not found ones too).

        ``GET [base]/metadata`` once (``auto``: ``$everything`` if the server offers it, else
        the type searches), the Patient searches, then at most ``concurrency`` patients at a
        time over this client's one connection pool. ``on_result`` sees each result as it
        completes. One failing patient never stops the others: an error while gathering its
        data becomes a failed :class:`PatientPull`. Errors while finding the patients (server
        down, credentials refused) are raised.
        """
        statement = await self.capability_statement()
        resolved = resolve_strategy(strategy, CapabilityInfo.from_statement(statement))
        support = SearchSupport.from_statement(statement)
        targets = plan_targets(query, await self.find_patients(query, count=count))
        logger.info(
            "pull: %d patients found, %s strategy",
            sum(t.patient is not None for t in targets),
            resolved,
        )

        async def pull_one(target: PullTarget) -> PatientPull:
            try:
                return await self.pull_patient(
                    target, strategy=resolved, count=count, support=support
                )
            except Exception as exc:  # isolation: this patient fails, the run goes on
                return failed_pull(target, exc)

        return await amap_bounded(pull_one, targets, limit=concurrency, on_result=on_result)
