# Hand-written source of truth. scripts/unasync.py generates _sync.py from this file;
# run `python scripts/unasync.py` after every change (CI runs it with --check).
"""The push and pull engines over :class:`~fhir_ivc.client.AsyncFhirClient`.

The client moves bytes; these functions decide what to send and what the answers mean, with
the pure helpers of :mod:`fhir_ivc.exchange.push` (outcome of each entry) and
:mod:`fhir_ivc.exchange.pull` (what to search, what to read, reading the case back).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

from fhir_ivc.client import AsyncFhirClient, CapabilityInfo
from fhir_ivc.client._core import ClientCore, JsonDict
from fhir_ivc.exceptions import FhirHttpError, NotFoundError
from fhir_ivc.exchange import manifest, push, split
from fhir_ivc.exchange._concurrency import amap_bounded
from fhir_ivc.exchange.manifest import Corrections
from fhir_ivc.exchange.pull import (
    MAX_REFERENCE_READS,
    PatientPull,
    PatientQuery,
    PullTarget,
    SearchSupport,
    Strategy,
    drain,
    everything_params,
    failed_pull,
    manifest_search_of,
    not_found_pull,
    patients_in,
    plan_targets,
    probe_patients,
    probe_verdict,
    read_pulled,
    resolve_strategy,
    search_plan,
)
from fhir_ivc.exchange.pull_changes import (
    change_plan,
    changed_patient_ids,
    changed_targets,
    server_stamp,
)
from fhir_ivc.exchange.push import CasePushResult, PushItem
from fhir_ivc.exchange.resources import ResourceSet, page_resources, unreadable_reason

__all__ = [
    "changed_patients",
    "corrected_bundle",
    "find_patients",
    "gather_patient",
    "probe_strategies",
    "pull_many",
    "pull_patient",
    "push_bundle",
    "push_many",
    "push_parts",
    "server_time",
]

logger = logging.getLogger("fhir_ivc.exchange")


# -- push ------------------------------------------------------------------------------------


async def push_bundle(
    client: AsyncFhirClient,
    bundle: Mapping[str, Any],
    *,
    case_id: str,
    sources: Mapping[str, str] | None = None,
    corrections: Corrections = "off",
    max_entries: int | None = None,
) -> CasePushResult:
    """Push one case's transaction Bundle; per-entry outcomes in :class:`CasePushResult`.

    ``sources`` maps ``entry.fullUrl`` to the case element that produced it
    (``"surgery.blood_loss_ml"``), so failures name the element. A transaction the server
    rejects (any ``FhirHttpError``) becomes a failed result; transport and auth errors are
    raised (``push_many`` turns those into failed results too).

    ``corrections`` (``delete`` or ``entered-in-error``): read the case's manifest on the
    server first (one search) and, in the same transaction, write the new manifest and remove
    what the case no longer has (:mod:`fhir_ivc.exchange.manifest`); ``off``: neither.

    ``max_entries``: a case with more entries is sent as several transactions of at most that
    many, in reference order (:mod:`fhir_ivc.exchange.split`; no longer all or nothing).
    """
    fixes: dict[int, str] = {}
    requests = 1
    if corrections != "off":
        bundle, sources, fixes, searched = await corrected_bundle(
            client, bundle, sources, corrections
        )
        requests += searched
    planned = push.plan_entries(bundle, sources, fixes)
    if max_entries is not None and len(planned) > max_entries:
        parts = split.SplitPush(case_id, bundle, sources, planned, max_entries, requests - 1)
        return await push_parts(client, parts)
    try:
        answer = await client.transaction(bundle)
    except FhirHttpError as exc:
        return replace(push.result_from_http_error(case_id, planned, exc), requests=requests)
    return replace(push.result_from_answer(case_id, planned, answer), requests=requests)


async def push_parts(client: AsyncFhirClient, parts: split.SplitPush) -> CasePushResult:
    """One case as transactions of at most ``max_entries``, each referring to the earlier ones
    by the ``Type/id`` the server answered (see :mod:`fhir_ivc.exchange.split`)."""
    if parts.unsplittable is not None:
        return parts.unsplittable
    for part, body in parts.transactions():
        try:
            answer = await client.transaction(body)
        except FhirHttpError as exc:
            return parts.refused(part, exc)
        parts.answered(part, answer)
    return parts.result()


async def corrected_bundle(
    client: AsyncFhirClient,
    bundle: Mapping[str, Any],
    sources: Mapping[str, str] | None,
    mode: Corrections,
) -> tuple[dict[str, Any], dict[str, str], dict[int, str], int]:
    """``bundle`` with its manifest and the corrections the server's manifest calls for.

    Returns the bundle, its sources, the correction entries by index (see ``plan_entries``)
    and the number of requests sent (the manifest search's pages, the reads).
    """
    search = manifest.manifest_search(bundle)
    if search is None:
        return dict(bundle), dict(sources or {}), {}, 0
    held: list[Mapping[str, Any]] = []
    requests = 0
    async for page in client.search("List", search):
        requests += 1
        held += [r for r in page_resources(page) if manifest.is_manifest(r)]
    stale = [s for server in held for s in manifest.stale_items(server, bundle)]
    current: dict[str, Mapping[str, Any]] = {}
    if mode == "entered-in-error":
        for item in stale:
            resource_type, _, resource_id = item.reference.partition("/")
            requests += 1
            with contextlib.suppress(NotFoundError):  # gone: the DELETE replacing it is a no-op
                current[item.reference] = await client.read(resource_type, resource_id)
    return (*manifest.with_manifest(bundle, sources, stale, mode, current), requests)


async def push_many(
    client: AsyncFhirClient,
    items: Iterable[PushItem],
    *,
    concurrency: int = 4,
    on_result: Callable[[CasePushResult], None] | None = None,
    corrections: Corrections = "off",
    max_entries: int | None = None,
) -> list[CasePushResult]:
    """Push many ``(case_id, bundle, sources)``; results in input order.

    At most ``concurrency`` transactions are in flight, all over the client's one connection
    pool. ``on_result`` sees each result as it completes. One failing case never stops the
    others: any exception becomes a failed :class:`CasePushResult`. ``corrections`` and
    ``max_entries``: see :func:`push_bundle`.
    """

    async def push_one(item: PushItem) -> CasePushResult:
        case_id, bundle, sources = item
        try:
            return await push_bundle(
                client,
                bundle,
                case_id=case_id,
                sources=sources,
                corrections=corrections,
                max_entries=max_entries,
            )
        except Exception as exc:  # isolation: this case fails, the batch goes on
            return push.result_from_error(case_id, bundle, sources, exc)

    return await amap_bounded(push_one, list(items), limit=concurrency, on_result=on_result)


# -- pull ------------------------------------------------------------------------------------


async def find_patients(
    client: AsyncFhirClient, query: PatientQuery, *, count: int | None = None
) -> list[JsonDict]:
    """The Patients ``query`` selects, each once, in the order the server returned them.

    ``Patient?identifier=system|value,…`` (batched) or ``Patient?identifier=system|``,
    every page followed; ``count`` is sent as ``_count``.
    """
    found: dict[str, JsonDict] = {}
    for params in query.searches(count):
        async for page in client.search("Patient", params):
            for patient in patients_in(page):
                found.setdefault(patient["id"], patient)
    return list(found.values())


async def changed_patients(
    client: AsyncFhirClient,
    since: str,
    *,
    support: SearchSupport | None = None,
    count: int | None = None,
) -> set[str]:
    """Server ids of the patients with a resource created or changed at or after ``since``.

    ``[type]?_lastUpdated=ge[since]&_elements=subject`` (or ``patient``) for the types of
    :data:`~fhir_ivc.exchange.pull_changes.CHANGE_SEARCHES`, every page: the answers are as large as
    the changes, not as the server.
    """
    found: set[str] = set()
    for resource_type, params in change_plan(since, support or SearchSupport(), count):
        async for page in client.search(resource_type, params):
            found |= changed_patient_ids(page)
    return found


async def server_time(client: AsyncFhirClient) -> str | None:
    """The server's clock now (``meta.lastUpdated`` of a ``Patient?_summary=count`` answer).

    ``None`` when the server does not say (or refuses the search); ``--since last`` then
    falls back to our clock.
    """
    try:
        async for page in client.search("Patient", {"_summary": "count"}):
            return server_stamp(page)
    except FhirHttpError:
        pass
    return None


async def gather_patient(
    client: AsyncFhirClient,
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
    patient_id = ClientCore.check_id(str(patient.get("id", "")))
    resources = ResourceSet(client.base_url)
    resources.add(patient)
    if strategy == "everything":
        path = f"Patient/{patient_id}/$everything"
        async for page in client.operation_pages(path, everything_params(count)):
            resources.add_page(page)
    else:
        for resource_type, params in search_plan(patient_id, support, count):
            async for page in client.search(resource_type, params):
                resources.add_page(page)
    for key, resource_type, resource_id in resources.reads_due(
        support.can_read, MAX_REFERENCE_READS
    ):
        try:
            resources.add(await client.read(resource_type, resource_id))
        except (NotFoundError, FhirHttpError, ValueError) as exc:
            resources.unreadable(key, unreadable_reason(exc))
    return resources


async def probe_strategies(
    client: AsyncFhirClient,
    patients: list[JsonDict],
    *,
    count: int | None = None,
    support: SearchSupport | None = None,
) -> Literal["everything", "search"]:
    """Gather ``patients`` with both strategies (alternating which goes first); the faster.

    What is gathered here is dropped: the patients are pulled again with the chosen strategy.
    A strategy that fails on a probe patient counts as infinitely slow (the run then shows the
    error of that patient, if it is not passing).
    """
    seconds = {"everything": 0.0, "search": 0.0}
    order: list[Literal["everything", "search"]] = ["everything", "search"]
    for patient in patients:
        for strategy in order:
            started = time.perf_counter()
            try:
                await gather_patient(
                    client, patient, strategy=strategy, count=count, support=support
                )
            except Exception as exc:  # the probe must not end the run
                logger.warning("pull: auto: %s failed on a probe patient: %r", strategy, exc)
                seconds[strategy] = float("inf")
            seconds[strategy] += time.perf_counter() - started
        order.reverse()
    return probe_verdict(seconds, len(patients))


async def pull_patient(
    client: AsyncFhirClient,
    target: PullTarget,
    *,
    strategy: Literal["everything", "search"] = "everything",
    count: int | None = None,
    support: SearchSupport | None = None,
) -> PatientPull:
    """Gather one target patient's resources and read them into a case (see ``read_case``)."""
    if target.patient is None:
        return not_found_pull(target)
    resources = await gather_patient(
        client, target.patient, strategy=strategy, count=count, support=support
    )
    if (search := manifest_search_of(target)) is not None:
        async for page in client.search("List", search):
            resources.add_page(page)
    return read_pulled(
        target,
        resources,
        strategy=strategy,
        requests=resources.pages + resources.reads,
    )


async def pull_many(
    client: AsyncFhirClient,
    query: PatientQuery,
    *,
    strategy: Strategy = "auto",
    count: int | None = None,
    concurrency: int = 4,
    on_result: Callable[[PatientPull], None] | None = None,
    keep: bool = True,
    skip: Callable[[PullTarget], bool] | None = None,
    since: str | None = None,
) -> list[PatientPull]:
    """Pull every patient ``query`` selects; results in query order (not found ones too).

    ``GET [base]/metadata`` once, the Patient searches, then at most ``concurrency`` patients at a
    time over the client's one connection pool. ``auto``: the type searches when the server does not
    offer ``$everything``; when it does and there are at least ``PROBE_MIN_PATIENTS`` patients, the
    first ``PROBE_PATIENTS`` are gathered both ways (:func:`probe_strategies`) and the faster way is
    used for all. ``on_result`` sees each result as it completes. With ``keep=False`` nothing is
    kept after ``on_result`` has seen it (the list returned is empty): memory then does not grow
    with the number of patients. One failing patient never stops the others: an error while
    gathering its data becomes a failed :class:`PatientPull`. Errors while finding the patients
    (server down, credentials refused) are raised.

    ``skip(target)`` true: the target is not pulled and has no result (a resumed run's finished
    patients). ``since`` (an instant, ``pull_changes.parse_instant``): only the patients with a
    resource changed at or after it are pulled (:func:`changed_patients`); identifiers nobody
    carries are still reported.
    """
    if not keep and on_result is None:
        raise ValueError("keep=False needs on_result: the results would be lost")
    statement = await client.capability_statement()
    resolved = resolve_strategy(strategy, CapabilityInfo.from_statement(statement))
    support = SearchSupport.from_statement(statement)
    targets = plan_targets(query, await find_patients(client, query, count=count))
    logger.info(
        "pull: %d patients found, %s strategy",
        sum(t.patient is not None for t in targets),
        resolved,
    )
    if since is not None:
        changed = await changed_patients(client, since, support=support, count=count)
        targets = changed_targets(targets, changed, since)
    if probe := probe_patients(strategy, resolved, targets, skip):
        resolved = await probe_strategies(client, probe, count=count, support=support)

    async def pull_one(target: PullTarget) -> PatientPull:
        try:
            return await pull_patient(
                client, target, strategy=resolved, count=count, support=support
            )
        except Exception as exc:  # isolation: this patient fails, the run goes on
            return failed_pull(target, exc)

    return await amap_bounded(
        pull_one, drain(targets, skip), limit=concurrency, on_result=on_result, keep=keep
    )
