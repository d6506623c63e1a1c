"""Bounded concurrent map, the one primitive that differs between the two engines.

``scripts/unasync.py`` rewrites ``amap_bounded`` to ``map_bounded`` when it generates the sync
engines from the async ones, so ``push_many`` and ``pull_many`` are written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
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
    items: Sequence[T],
    *,
    limit: int,
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """``[await fn(i) for i in items]`` with at most ``limit`` calls in flight.

    An anyio task group with a capacity limiter: every item gets a task, ``limit`` of them
    run at a time. ``on_result`` is called as each result arrives (completion order); the
    returned list is in input order. ``fn`` is expected not to raise (an exception would
    cancel the group, as anyio task groups do).
    """
    _check(limit)
    results: list[R | None] = [None] * len(items)
    limiter = anyio.CapacityLimiter(limit)

    async def run(index: int, item: T) -> None:
        async with limiter:
            result = await fn(item)
        results[index] = result
        if on_result is not None:
            on_result(result)

    async with anyio.create_task_group() as group:
        for index, item in enumerate(items):
            group.start_soon(run, index, item)
    return cast(list[R], results)


def map_bounded(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    limit: int,
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """``[fn(i) for i in items]`` with at most ``limit`` calls in flight.

    ``limit == 1`` runs inline, strictly in order. Otherwise a thread pool: pushes are I/O
    bound (the GIL is released while waiting for the server) and ``httpx.Client`` "can be shared
    between threads" (its docstring), so all threads reuse one connection pool. ``on_result``
    is called in the calling thread, in completion order; the list is in input order.
    """
    _check(limit)
    if limit == 1 or len(items) <= 1:
        results = []
        for item in items:
            result = fn(item)
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results
    slots: list[R | None] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="fhir-ivc-push") as pool:
        futures = {pool.submit(fn, item): index for index, item in enumerate(items)}
        for future in as_completed(futures):
            result = future.result()
            slots[futures[future]] = result
            if on_result is not None:
                on_result(result)
    return cast(list[R], slots)
