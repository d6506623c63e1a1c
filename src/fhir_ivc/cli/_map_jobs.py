"""``fhir-ivc map -j N``: map and check cases in N worker processes, output order unchanged.

What a case costs (build the bundles, validate them) is a pure function of the case, so it
runs in workers; everything that depends on the order of the records (duplicate ids, counts,
REJECT lines, writing) stays in the parent, which takes the outcomes back in input order. The
output is therefore byte-identical to ``-j 1``.

Memory stays bounded: records go to the workers in chunks of :data:`CHUNK`, and at most
``WINDOW_PER_JOB * jobs`` chunks are in flight (``Pool.imap`` would read the whole input
ahead); the parent waits for the oldest chunk before reading more.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from typing import Final

from fhir_ivc.cli._services import BuildBundles, BundleCheck, bundle_problem
from fhir_ivc.exceptions import MappingError
from fhir_ivc.io import BundleKind, BundleSet, CaseRecordResult, bundle_of
from fhir_ivc.model import Case

__all__ = ["CHUNK", "Outcome", "Work", "outcome", "parallel_outcomes"]

#: records per task sent to a worker (a case maps in a few ms: amortises the pickling)
CHUNK: Final = 8
#: chunks in flight per worker: enough to keep every worker busy, bounded for memory
WINDOW_PER_JOB: Final = 4

Problem = tuple[str | None, str, str]


@dataclass(frozen=True)
class Outcome:
    """What one case gave: its bundles, or the problems that reject it."""

    bundles: BundleSet | None = None
    errors: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Work:
    """The per-case work of ``map``: build, then check every kind asked for."""

    build: BuildBundles
    check: BundleCheck | None
    kinds: Sequence[BundleKind]

    def __call__(self, case: Case) -> Outcome:
        return outcome(self, case)


def outcome(work: Work, case: Case) -> Outcome:
    try:
        bundles = work.build(case)
    except MappingError as exc:
        return Outcome(errors=[(exc.case_id or case.case_id, exc.path, str(exc))])
    if work.check is not None:
        sources = dict(bundles.sources)
        problems = [
            problem
            for kind in work.kinds
            if (problem := bundle_problem(bundle_of(bundles, kind), sources, work.check, kind))
        ]
        if problems:
            return Outcome(errors=[(case.case_id, *problem) for problem in problems])
    return Outcome(bundles=bundles)


# --- the workers ---------------------------------------------------------------------------

_WORK: Work | None = None


def _init(work: Work) -> None:
    global _WORK
    _WORK = work


def _run_chunk(cases: list[Case | None]) -> list[Outcome | None]:
    assert _WORK is not None  # noqa: S101 - set by the pool's initializer
    return [None if case is None else outcome(_WORK, case) for case in cases]


def parallel_outcomes(
    results: Iterable[CaseRecordResult], work: Work, jobs: int
) -> Iterator[tuple[CaseRecordResult, Outcome | None]]:
    """Each record with its outcome (None for a record without a case), in input order.

    Workers are forked where the platform can (the builder and check need not be picklable),
    else spawned.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(jobs, initializer=_init, initargs=(work,)) as pool:
        window: deque[tuple[list[CaseRecordResult], AsyncResult[list[Outcome | None]]]] = deque()
        records = iter(results)
        while chunk := list(itertools.islice(records, CHUNK)):
            cases = [r.case for r in chunk]
            window.append((chunk, pool.apply_async(_run_chunk, (cases,))))
            if len(window) >= WINDOW_PER_JOB * jobs:
                yield from _drain(window.popleft())
        while window:
            yield from _drain(window.popleft())


def _drain(
    item: tuple[list[CaseRecordResult], AsyncResult[list[Outcome | None]]],
) -> Iterator[tuple[CaseRecordResult, Outcome | None]]:
    chunk, pending = item
    yield from zip(chunk, pending.get(), strict=True)
