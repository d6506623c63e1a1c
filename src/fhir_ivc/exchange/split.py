"""Reference-aware splitting of one case's transaction (``push --max-entries N``).

Servers cap the entries of a transaction (Azure 500, AWS HealthLake 25, many HAPI deployments
less). A case larger than the cap is sent as several transactions, in dependency order:

1. the entries' ``urn:uuid`` references form a graph; its strongly connected components (a
   cycle must stay in one transaction, its references resolve only there) are taken in
   topological order — what is referenced before what refers to it — and packed greedily into
   parts of at most N entries;
2. correction entries (``DELETE`` / entered-in-error ``PUT``) go after every resource that might
   still refer to a removed one was rewritten, and the manifest goes last: if a part fails, the
   server's manifest still lists what is left to remove, and the next run removes it;
3. when a part is committed, each of its entries' ``fullUrl`` is known on the server as
   ``Type/id`` (the entry's ``response.location``); later parts refer to it by that reference,
   the very value the server would have written had the case been one transaction. So the stored
   content is the same split or not, and a re-run (split or not) finds everything ``unchanged``.

The smallest possible N of a case is its largest reference cycle: a primary Condition, the
surgery and the pathology Observations and report refer to each other, 7-9 entries in the seed
and synthetic cases. A case that cannot be split under N fails with that number.

A case is then no longer all or nothing: when part k fails, parts 1…k-1 stay written and the
later ones are not sent (their entries are ``failed``, "not sent"). Re-running completes it;
``--state`` confirms a case only when every part succeeded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fhir_ivc.bulk.ids import rewrite_references
from fhir_ivc.client._answers import EntryResponse, parse_transaction_response
from fhir_ivc.exceptions import ConfigError, FhirHttpError
from fhir_ivc.exchange.manifest import MANIFEST_SOURCE
from fhir_ivc.exchange.push import (
    CasePushResult,
    EntryResult,
    PlannedEntry,
    entry_result,
    result_from_error,
    result_from_http_error,
    result_from_response,
)

__all__ = [
    "SplitError",
    "SplitPush",
    "location_reference",
    "merge_results",
    "plan_parts",
    "rewrite_part",
]


class SplitError(ValueError):
    """The case cannot be split under the cap (a reference cycle larger than N entries)."""


def _references(value: Any, out: set[str]) -> None:
    if isinstance(value, Mapping):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:"):
            out.add(ref)
        for key, child in value.items():
            if key != "reference" and isinstance(child, Mapping | list):
                _references(child, out)
    elif isinstance(value, list):
        for child in value:
            _references(child, out)


def _components(graph: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tarjan's SCCs, each listed after the components it depends on (iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    found: list[list[int]] = []
    for root in range(len(graph)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(graph[node]):
                work.append((node, child + 1))
                nxt = graph[node][child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def plan_parts(
    bundle: Mapping[str, Any], max_entries: int, last: Sequence[int] = ()
) -> list[list[int]]:
    """The entry indexes of each part, in sending order (every part ≤ ``max_entries``).

    ``last``: indexes sent after all the others (the corrections and the manifest).
    """
    if max_entries < 1:
        raise ValueError(f"max_entries must be >= 1, got {max_entries}")
    entries = list(bundle.get("entry") or [])
    if len(entries) <= max_entries:
        return [list(range(len(entries)))]
    by_url = {
        e["fullUrl"]: i
        for i, e in enumerate(entries)
        if isinstance(e, Mapping) and isinstance(e.get("fullUrl"), str)
    }
    tail = set(last)
    graph: list[list[int]] = []
    for i, entry in enumerate(entries):
        refs: set[str] = set()
        if i not in tail and isinstance(entry, Mapping):
            _references(entry.get("resource"), refs)
        graph.append(sorted(by_url[r] for r in refs if r in by_url and by_url[r] != i))
    order = [c for c in _components(graph) if not tail.intersection(c)]
    order += [[i] for i in last]
    parts: list[list[int]] = []
    current: list[int] = []
    for component in order:
        if len(component) > max_entries:
            raise SplitError(
                f"{len(component)} entries refer to each other in a cycle and must be in one "
                f"transaction: --max-entries {max_entries} is too small for this case "
                f"(at least {len(component)})"
            )
        if len(current) + len(component) > max_entries:
            parts.append(current)
            current = []
        current.extend(component)
    if current:
        parts.append(current)
    return parts


def rewrite_part(
    bundle: Mapping[str, Any], part: Sequence[int], known: Mapping[str, str]
) -> dict[str, Any]:
    """The transaction of one part: its entries, references to earlier parts as ``Type/id``."""
    entries = []
    for i in part:
        entry = dict(bundle["entry"][i])
        if "resource" in entry and known:
            entry["resource"] = rewrite_references(entry["resource"], known)
        entries.append(entry)
    return {**bundle, "entry": entries}


def location_reference(location: str | None) -> str | None:
    """``Condition/123/_history/1`` (or absolute) → ``Condition/123``; ``None`` if not one."""
    if not location:
        return None
    path = location.split("/_history", 1)[0].rstrip("/")
    segments = path.split("/")
    if len(segments) < 2 or not segments[-2][:1].isupper():
        return None
    return f"{segments[-2]}/{segments[-1]}"


def merge_results(
    case_id: str,
    planned: Sequence[PlannedEntry],
    parts: Sequence[Sequence[int]],
    responses: Mapping[int, EntryResponse],
    failure: CasePushResult | None = None,
) -> CasePushResult:
    """One case's result from its parts: the sent parts' answers, the failed part, the rest.

    ``failure`` is the result of the first part the server refused (its entries in that part's
    order); the parts after it were not sent.
    """
    if failure is None:
        return result_from_response(case_id, planned, [responses[i] for i in range(len(planned))])
    failed_at = next(k for k, part in enumerate(parts) if part and part[0] not in responses)
    by_index: dict[int, EntryResult] = {}
    for k, part in enumerate(parts):
        for pos, i in enumerate(part):
            plan = planned[i]
            if k < failed_at:
                by_index[i] = entry_result(plan, responses[i])
            elif k == failed_at:
                by_index[i] = failure.entries[pos]
            else:
                by_index[i] = EntryResult(
                    plan.full_url,
                    plan.resource_type,
                    plan.source,
                    "failed",
                    None,
                    message="not sent: an earlier part of this case failed",
                )
    written = f"parts 1-{failed_at} were written" if failed_at else "nothing was written"
    error = f"{failure.error} (part {failed_at + 1} of {len(parts)}, --max-entries; {written})"
    return CasePushResult(
        case_id=case_id,
        ok=False,
        entries=[by_index[i] for i in range(len(planned))],
        error=error,
        status_code=failure.status_code,
        exception=failure.exception,
    )


class SplitPush:
    """One case sent as parts of at most ``max_entries``: which transaction to send next, what
    each answer means, the case's result; the shells only send (``_async.push_parts``).

    ``requests``: those sent for the case before its parts (the manifest search's pages).
    ``unsplittable`` is the failed result of a case that cannot be split under the cap (then
    nothing is to be sent).
    """

    def __init__(
        self,
        case_id: str,
        bundle: Mapping[str, Any],
        sources: Mapping[str, str] | None,
        planned: Sequence[PlannedEntry],
        max_entries: int,
        requests: int,
    ) -> None:
        self.case_id = case_id
        self.bundle = bundle
        self.planned = planned
        self.requests = requests
        self.unsplittable: CasePushResult | None = None
        self.parts: list[list[int]] = []
        self._known: dict[str, str] = {}
        self._responses: dict[int, EntryResponse] = {}
        corrections = [p.index for p in planned if p.correction]
        manifests = [p.index for p in planned if p.source == MANIFEST_SOURCE]
        try:
            self.parts = plan_parts(bundle, max_entries, last=corrections + manifests)
        except SplitError as exc:
            failed = result_from_error(case_id, bundle, sources, ConfigError(str(exc)))
            self.unsplittable = replace(failed, requests=requests)

    def transactions(self) -> Iterator[tuple[list[int], dict[str, Any]]]:
        """``(part, transaction)`` in order, each built once the parts before it are answered
        (it refers to their entries by the ``Type/id`` the server gave them)."""
        for part in self.parts:
            self.requests += 1
            yield part, rewrite_part(self.bundle, part, self._known)

    def answered(self, part: Sequence[int], answer: Mapping[str, Any]) -> None:
        answers = parse_transaction_response(answer, expected_entries=len(part))
        for i, response in zip(part, answers, strict=True):
            self._responses[i] = response
            reference = location_reference(response.location)
            full_url = self.planned[i].full_url
            if full_url and reference:
                self._known[full_url] = reference

    def refused(self, part: Sequence[int], exc: FhirHttpError) -> CasePushResult:
        """The case's result when the server refused ``part`` (the later parts are not sent)."""
        sub = [replace(self.planned[i], index=pos) for pos, i in enumerate(part)]
        failure = result_from_http_error(self.case_id, sub, exc)
        merged = merge_results(self.case_id, self.planned, self.parts, self._responses, failure)
        return replace(merged, requests=self.requests)

    def result(self) -> CasePushResult:
        """The case's result once every part was answered."""
        merged = merge_results(self.case_id, self.planned, self.parts, self._responses)
        return replace(merged, requests=self.requests)
