"""What the streaming pushes share: ``fhir-ivc push`` (:mod:`fhir_ivc.cli._push`) and
:func:`fhir_ivc.spark.push_cases` both map cases one at a time, hand each one as an
:class:`Item` to a few pushers, and push it alone with :func:`push_item`; before the first
case, :func:`check_push_server` says whether the server can take the pushes at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_ivc.bulk.ids import CLIENT_IDS_REFUSED, IdMode
from fhir_ivc.client import AsyncFhirClient, CapabilityInfo
from fhir_ivc.exceptions import ConfigError, RequestError
from fhir_ivc.exchange._async import push_many
from fhir_ivc.exchange.manifest import Corrections
from fhir_ivc.exchange.push import CasePushResult
from fhir_ivc.model import Case

__all__ = ["Item", "check_push_server", "push_item", "unusable_server"]


@dataclass(frozen=True, slots=True)
class Item:
    """One case ready to push: its transaction Bundle and the case element of each entry."""

    index: int
    case_id: str
    source: str
    bundle: Mapping[str, Any]
    sources: Mapping[str, str]
    #: the case the bundle was mapped from (``None`` for a prebuilt bundle): a dead letter keeps it
    case: Case | None = None
    #: attempts of earlier runs (a replayed dead letter)
    attempts: int = 0


async def push_item(
    client: AsyncFhirClient,
    item: Item,
    *,
    corrections: Corrections,
    max_entries: int | None = None,
) -> CasePushResult:
    """Push one case; every error becomes a failed result (``push_many``'s isolation)."""
    (result,) = await push_many(
        client,
        [(item.case_id, item.bundle, item.sources)],
        concurrency=1,
        corrections=corrections,
        max_entries=max_entries,
    )
    return result


@contextlib.contextmanager
def unusable_server(where: str) -> Iterator[None]:
    """Around ``GET /metadata``: a server that cannot be asked is a :class:`ConfigError`."""
    try:
        yield
    except (RequestError, ConfigError) as exc:
        raise ConfigError(f"cannot use the FHIR server at {where}: {exc}") from exc


def check_push_server(info: CapabilityInfo, where: str, *, ids: IdMode, pusher: str) -> None:
    """:class:`ConfigError` unless the server at ``where`` declares the transaction interaction
    and, for logical ids, does not refuse ``updateCreate`` (``pusher`` names who pushes)."""
    if not info.supports_transaction:
        raise ConfigError(
            f"the FHIR server at {where} does not declare the 'transaction' interaction "
            f"(CapabilityStatement.rest.interaction); {pusher} sends one transaction per case"
        )
    if ids == "logical" and info.no_update_create:
        refused = ", ".join(sorted(info.no_update_create))
        raise ConfigError(f"{CLIENT_IDS_REFUSED} (CapabilityStatement: {refused})")
