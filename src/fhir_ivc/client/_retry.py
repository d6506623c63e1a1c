"""The retry policy: which requests may be sent again, how often, and how long to wait.

Pure and shared by both client shells (through :mod:`fhir_ivc.client._core`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Final

from fhir_ivc.exceptions import ConfigError

__all__ = [
    "DEFAULT_RETRY",
    "RetryPolicy",
    "is_repeatable",
    "is_repeatable_transaction",
    "is_retryable_status",
]

_RNG = random.Random()  # noqa: S311 - jitter only spreads retries out; no secrecy needed

# --------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait before sending a repeatable request again.

    ``max_attempts`` counts the first try: 4 means one request plus up to three retries.
    The wait before retry *n* (1-based) is "full jitter" exponential backoff,
    ``uniform(0, min(backoff_cap, backoff_base * 2 ** (n - 1)))``, except for 429 and 503
    answers carrying ``Retry-After`` (delta-seconds or HTTP-date), which is honoured as given,
    capped at ``retry_after_cap``. ``jitter`` and ``clock`` are injectable for tests.
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 120.0
    jitter: Callable[[], float] = field(default=_RNG.random, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if min(self.backoff_base, self.backoff_cap, self.retry_after_cap) < 0:
            raise ConfigError("RetryPolicy delays must not be negative")

    def backoff(self, retry: int) -> float:
        """Full-jitter delay before retry number ``retry`` (1 = first retry)."""
        exponent = min(max(retry - 1, 0), 62)
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0**exponent)
        return ceiling * self.jitter()

    def parse_retry_after(self, value: str | None) -> float | None:
        """Seconds to wait from a ``Retry-After`` value, capped; ``None`` if absent or invalid."""
        if value is None:
            return None
        value = value.strip()
        seconds: float
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # RFC 9110 HTTP-dates are always GMT
                return None
            seconds = when.timestamp() - self.clock()
        return min(max(seconds, 0.0), self.retry_after_cap)

    def delay(
        self, retry: int, *, status: int | None = None, retry_after: str | None = None
    ) -> float:
        """Delay before retry ``retry``; ``Retry-After`` wins for 429/503."""
        if status in (429, 503):
            honoured = self.parse_retry_after(retry_after)
            if honoured is not None:
                return honoured
        return self.backoff(retry)


DEFAULT_RETRY: Final = RetryPolicy()

_REPEATABLE_ENTRY_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE"})


def is_repeatable_transaction(bundle: Any) -> bool:
    """Whether POSTing this transaction twice leaves the server as POSTing it once would.

    A transaction is atomic: either every entry was applied or none was. A transaction of
    conditional PUTs is safe to repeat: if the first POST committed but its answer was lost,
    the second run matches the very resources the first one wrote and updates them to the same
    content (HAPI reports that as a no-op). PUT by id, GET and DELETE are idempotent too. A POST
    entry (a create) is not: repeating it would create a duplicate resource, so one such entry
    makes the whole transaction non-repeatable.
    """
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        return False
    if bundle.get("type") != "transaction":
        return False
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return False
    for entry in entries:
        request = entry.get("request") if isinstance(entry, Mapping) else None
        if not isinstance(request, Mapping):
            return False
        if str(request.get("method", "")).upper() not in _REPEATABLE_ENTRY_METHODS:
            return False
    return True


def is_repeatable(method: str, body: Any = None) -> bool:
    """Retry rule: GET/HEAD always, PUT, and POST of a repeatable transaction; nothing else.

    A plain POST (create, or an operation) is never retried after the request may have reached
    the server: the server may have acted on it even though we saw an error.
    """
    method = method.upper()
    if method in ("GET", "HEAD", "PUT"):
        return True
    return method == "POST" and is_repeatable_transaction(body)
