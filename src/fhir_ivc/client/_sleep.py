"""Sleeping between retries, the one primitive that differs between the two client shells.

``scripts/unasync.py`` rewrites ``AsyncSleep``/``default_asleep`` to ``Sleep``/``default_sleep``
when it generates the sync client from the async one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["AsyncSleep", "Sleep", "default_asleep", "default_sleep"]

#: ``sleep=`` of the clients: injectable so tests record delays instead of waiting.
AsyncSleep = Callable[[float], Awaitable[None]]
Sleep = Callable[[float], None]
default_asleep: AsyncSleep = anyio.sleep
default_sleep: Sleep = time.sleep
