"""Which patients changed since an instant: the ``--since`` of ``fhir-ivc pull``.

A case record is read from *all* of a patient's resources, so a changed patient is pulled whole;
what this module finds is which patients changed, with searches whose answers are as large as
the changes, not as the server: ``[type]?_lastUpdated=ge[since]&_elements=subject`` for the
Patient, every type the pull reads (:data:`~fhir_ivc.exchange.pull.SEARCHES`) and the push's
case manifest (``List``).

Why not ``Patient/[id]/$everything?_since=``: it answers for one patient, so finding the changed
ones would cost one ``$everything`` per patient on the server, the slow request of a pull
(docs/pull.md "Benchmark"); and a case needs every resource, not only the changed ones.

Not seen: a change to a resource that names no patient (a shared ``Medication``, a
``Practitioner``), and a deletion that leaves the manifest alone (a push of fhir_ivc always
rewrites the manifest when it deletes).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fhir_ivc.client._core import QueryValue
from fhir_ivc.exchange.pull import SEARCHES, PullTarget, SearchSupport
from fhir_ivc.fhir.ids import PATIENT_REF

__all__ = [
    "CHANGE_SEARCHES",
    "change_plan",
    "changed_patient_ids",
    "changed_targets",
    "parse_instant",
    "server_stamp",
]

logger = logging.getLogger("fhir_ivc.exchange")

#: ``(type, element)``: the searches that find the patients with changes since an instant: the
#: Patient itself, every type of :data:`SEARCHES` (by its patient element) and ``List`` (the
#: push's case manifest, rewritten by every push that changes or corrects a case, deletions
#: included).
CHANGE_SEARCHES: Final[tuple[tuple[str, str], ...]] = (
    ("Patient", "id"),
    *((s.resource_type, s.patient_param) for s in SEARCHES),
    ("List", "subject"),
)


def parse_instant(text: str) -> str:
    """An instant with a time zone (``2026-12-01T10:00:00Z``, ``…+01:00``) as UTC, ``…Z``.

    ``ValueError`` for anything else: a date alone or a time without a zone would be read in
    the server's time zone, and a pull could silently miss changes.
    """
    try:
        value = datetime.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an instant (e.g. 2026-12-01T10:00:00Z): {exc}") from None
    if value.tzinfo is None or "T" not in text:
        raise ValueError("an instant needs a date, a time and a time zone (Z or +hh:mm)")
    utc = value.astimezone(datetime.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def change_plan(
    since: str, support: SearchSupport, count: int | None = None
) -> list[tuple[str, dict[str, QueryValue | list[QueryValue]]]]:
    """``[(type, params)]``: ``[type]?_lastUpdated=ge[since]&_elements=[element]`` per type.

    Only the element that names the patient is asked for (``_elements``), so the answers stay
    small; a type the server does not search is left out.
    """
    plan: list[tuple[str, dict[str, QueryValue | list[QueryValue]]]] = []
    for resource_type, element in CHANGE_SEARCHES:
        if support.known and "search-type" not in support.interactions.get(
            resource_type, frozenset()
        ):
            continue
        params: dict[str, QueryValue | list[QueryValue]] = {"_lastUpdated": f"ge{since}"}
        if element != "id":
            params["_elements"] = element
        if count:
            params["_count"] = count
        plan.append((resource_type, params))
    return plan


def changed_patient_ids(page: Mapping[str, Any]) -> set[str]:
    """The server ids of the patients the resources of one change-search page belong to."""
    found: set[str] = set()
    for entry in page.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            continue
        if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
            found.add(resource["id"])
            continue
        for name in ("subject", "patient"):
            ref = resource.get(name)
            text = ref.get("reference") if isinstance(ref, Mapping) else None
            if isinstance(text, str) and (match := PATIENT_REF.search(text)):
                found.add(match[1])
    return found


def server_stamp(page: Mapping[str, Any]) -> str | None:
    """``meta.lastUpdated`` of a search answer: the server's clock when it answered."""
    meta = page.get("meta")
    stamp = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
    return stamp if isinstance(stamp, str) else None


def changed_targets(
    targets: Sequence[PullTarget], changed: set[str], since: str
) -> list[PullTarget]:
    """The targets whose patient has a change since ``since`` (and those not found, reported)."""
    kept = [t for t in targets if t.patient is None or t.patient["id"] in changed]
    logger.info("pull: %d of them changed since %s", len(kept), since)
    return kept
