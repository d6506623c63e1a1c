"""Bounded concurrent map, the one primitive that differs between the two engines.

``scripts/unasync.py`` rewrites ``amap_bounded`` to ``map_bounded`` when it generates the sync
engines from the async ones, so ``push_many`` and ``pull_many`` are written once.

Both take the items lazily and keep at most a small window of calls (``limit`` running, and for
threads as many queued) at a time, so that a caller passing ``keep=False`` holds no result after
``on_result`` has seen it: memory stays flat whatever the number of items.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar, cast

import anyio

__all__ = ["amap_bounded", "map_bounded"]

T = TypeVar("T")
R = TypeVar("R")


def _check(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"concurrency must be >= 1, got {limit}")


async def amap_bounded(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int,
    on_result: Callable[[R], None] | None = None,
    keep: bool = True,
) -> list[R]:
    """``[await fn(i) for i in items]`` with at most ``limit`` calls in flight.

    An anyio task group; a task is started only when one of the ``limit`` slots is free, so
    ``items`` is read as the work goes. ``on_result`` is called as each result arrives
    (completion order); the returned list is in input order, or empty with ``keep=False``
    (each result is then dropped after ``on_result``). ``fn`` is expected not to raise (an
    exception would cancel the group, as anyio task groups do).
    """
    _check(limit)
    results: list[R | None] = []
    slots = anyio.Semaphore(limit)

    async def run(index: int, item: T) -> None:
        try:
            result = await fn(item)
        finally:
            slots.release()
        if keep:
            results[index] = result
        if on_result is not None:
            on_result(result)

    async with anyio.create_task_group() as group:
        for index, item in enumerate(items):
            await slots.acquire()
            if keep:
                results.append(None)
            group.start_soon(run, index, item)
    return cast(list[R], results)


def map_bounded(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    limit: int,
    on_result: Callable[[R], None] | None = None,
    keep: bool = True,
) -> list[R]:
    """``[fn(i) for i in items]`` with at most ``limit`` calls in flight.

    ``limit == 1`` runs inline, strictly in order. Otherwise a thread pool: pushes are I/O
    bound (the GIL is released while waiting for the server) and ``httpx.Client`` "can be shared
    between threads" (its docstring), so all threads reuse one connection pool. At most
    ``2 * limit`` items are submitted at a time (``limit`` running, ``limit`` queued so that no
    worker waits while ``on_result`` runs). ``on_result`` is called in the calling thread, in
    completion order; the list is in input order, or empty with ``keep=False``.
    """
    _check(limit)
    results: list[R | None] = []
    if limit == 1:
        for item in items:
            result = fn(item)
            if on_result is not None:
                on_result(result)
            if keep:
                results.append(result)
        return cast(list[R], results)
    pending: dict[Future[R], int] = {}

    def collect(block_until: int) -> None:
        """Hand on finished results until fewer than ``block_until`` calls are pending."""
        while len(pending) >= block_until and pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                result = future.result()
                if keep:
                    results[index] = result
                if on_result is not None:
                    on_result(result)

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="fhir-ivc-exchange") as pool:
        for index, item in enumerate(items):
            collect(2 * limit)
            if keep:
                results.append(None)
            pending[pool.submit(fn, item)] = index
        collect(1)
    return cast(list[R], results)
