"""``fhir-ivc map -j N``: records finished in N worker processes, output order unchanged.

What a record costs is a pure function of the record, so all of it runs in the workers: decode
it (an NDJSON line travels as the line's bytes), check it against the case model, build the
bundles, validate them and serialise them with the writer's
:class:`~fhir_ivc.io.BundleEncoder`. A worker sends back a :class:`Finished`: the case id, the
problems, and the bytes to write; no case and no bundle crosses between processes. What depends
on the order of the records (duplicate ids, counts, REJECT lines, writing) stays in the parent,
which takes the records back in input order (:meth:`fhir_ivc.cli._map_run.MapRun.
consume_finished`). ``-j 1`` runs the same functions in one process
(:func:`fhir_ivc.io.finish_record`, :func:`outcome`, the writer's encoder), so the output is
byte-identical.

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
from fhir_ivc.io import (
    BundleEncoder,
    BundleKind,
    BundleSet,
    CaseRecordResult,
    PendingRecord,
    bundle_of,
    finish_record,
)
from fhir_ivc.model import Case

__all__ = [
    "CHUNK",
    "Finished",
    "Outcome",
    "Work",
    "finish",
    "outcome",
    "parallel_finished",
]

#: records per task sent to a worker: each task costs the parent CPU (the pool's threads,
#: pickling); for 1,000 cases in 2 workers the parent used 0.74 s with 8, 0.46 s with 16 and
#: 0.39 s with 64, against ~15 s in the workers
CHUNK: Final = 16
#: chunks in flight per worker: enough to keep every worker busy, bounded for memory
WINDOW_PER_JOB: Final = 2

Problem = tuple[str | None, str, str]
Record = PendingRecord | CaseRecordResult


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


@dataclass(frozen=True, slots=True)
class Finished:
    """One record as a worker sends it back: all the parent needs, in plain values.

    ``case_id`` is None when the record is not a case (``errors`` are then the record's);
    ``documents`` are the case's bundles as the writer's encoder serialised them, None when the
    case is rejected (``errors``: a mapping error, the bundles' problems).
    """

    source: str
    case_id: str | None
    errors: tuple[Problem, ...] = ()
    documents: tuple[bytes, ...] | None = None


def finish(work: Work, encode: BundleEncoder, record: Record) -> Finished:
    """Everything one record costs: read it into a case, build, check, serialise."""
    result = finish_record(record)
    source = str(result.source)
    case = result.case
    if case is None:
        return Finished(source, None, tuple((e.case_id, e.path, e.reason) for e in result.errors))
    done = outcome(work, case)
    if done.bundles is None:
        return Finished(source, case.case_id, tuple(done.errors))
    return Finished(source, case.case_id, documents=encode(done.bundles))


# --- the workers ---------------------------------------------------------------------------

_WORK: tuple[Work, BundleEncoder] | None = None


def _init(work: Work, encode: BundleEncoder) -> None:
    global _WORK
    _WORK = (work, encode)


def _run_chunk(records: list[Record]) -> list[Finished]:
    assert _WORK is not None  # noqa: S101 - set by the pool's initializer
    work, encode = _WORK
    return [finish(work, encode, record) for record in records]


def parallel_finished(
    records: Iterable[Record], work: Work, encode: BundleEncoder, jobs: int
) -> Iterator[Finished]:
    """Each record finished (:func:`finish`) in one of ``jobs`` processes, in input order.

    Workers are forked where the platform can (the builder and check need not be picklable),
    else spawned.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(jobs, initializer=_init, initargs=(work, encode)) as pool:
        window: deque[AsyncResult[list[Finished]]] = deque()
        pending = iter(records)
        while chunk := list(itertools.islice(pending, CHUNK)):
            window.append(pool.apply_async(_run_chunk, (chunk,)))
            if len(window) >= WINDOW_PER_JOB * jobs:
                yield from window.popleft().get()
        while window:
            yield from window.popleft().get()
