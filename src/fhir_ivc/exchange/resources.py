"""One patient's resources as they are gathered: each kept once, references followed.

:class:`ResourceSet` holds what ``$everything``, the type searches and the reads of referenced
resources returned, keyed ``Type/id``; it knows which references are still missing and keeps a
:class:`~fhir_ivc.mappers._read.Loss` for what could not be read (no id, another server, …).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fhir_ivc.client._core import JsonDict
from fhir_ivc.exceptions import FhirHttpError
from fhir_ivc.fhir.ids import ID_PATTERN
from fhir_ivc.mappers._read import Loss

__all__ = ["ResourceSet", "page_resources", "unreadable_reason"]

_TYPE_ID = re.compile(rf"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_PATTERN})(?:/_history/[^/]+)?$")


# --------------------------------------------------------------------------------------------


def _references(value: Any) -> Iterator[str]:
    """Every ``Reference.reference`` string inside a resource (extensions included)."""
    if isinstance(value, Mapping):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield ref
        for key, child in value.items():
            if key != "reference" and isinstance(child, Mapping | list):
                yield from _references(child)
    elif isinstance(value, list):
        for child in value:
            yield from _references(child)


def page_resources(page: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The resources of a searchset page's entries (entries without one are passed over)."""
    for entry in page.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping):
            yield resource


class ResourceSet:
    """One patient's resources, each kept once per ``Type/id``, and what is still to be read.

    ``base_url`` tells local absolute references (``[base]/Observation/1``) from references to
    other servers, which are never followed (our credentials would go with the request).
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._resources: dict[str, JsonDict] = {}
        self._attempted: set[str] = set()
        self.losses: list[Loss] = []
        self._foreign: set[str] = set()
        #: statistics: pages received, reads done, entries that repeated a resource already held
        self.pages = 0
        self.reads = 0
        self.duplicates = 0
        self.warnings = 0

    def __len__(self) -> int:
        return len(self._resources)

    def __contains__(self, key: object) -> bool:
        return key in self._resources

    def add(self, resource: Mapping[str, Any]) -> bool:
        """Keep ``resource`` unless one with its ``Type/id`` is held already; ``True`` if new."""
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not isinstance(rtype, str) or not isinstance(rid, str):
            self.losses.append(
                Loss(str(rtype), "", "a resource without an id was received and is not read")
            )
            return False
        key = f"{rtype}/{rid}"
        if key in self._resources:
            self.duplicates += 1
            return False
        self._resources[key] = dict(resource)
        return True

    def add_page(self, page: Mapping[str, Any]) -> int:
        """Keep the resources of one searchset page; returns how many were new.

        Entries with ``search.mode = outcome`` (an OperationOutcome the server adds, e.g. a
        warning about the search) are counted, not kept.
        """
        self.pages += 1
        new = 0
        for entry in page.get("entry") or []:
            if not isinstance(entry, Mapping):
                continue
            resource = entry.get("resource")
            mode = (
                (entry.get("search") or {}).get("mode")
                if isinstance(entry.get("search"), Mapping)
                else None
            )
            if not isinstance(resource, Mapping):
                continue
            if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                self.warnings += 1
                continue
            new += self.add(resource)
        return new

    def _local(self, ref: str) -> str | None:
        """``Type/id`` of a reference to this server, else ``None`` (contained, urn, other host)."""
        if ref.startswith(("#", "urn:")):
            return None
        if "://" in ref:
            if not ref.startswith(self.base_url + "/"):
                origin = "/".join(ref.split("/")[:3])
                if origin not in self._foreign:
                    self._foreign.add(origin)
                    self.losses.append(
                        Loss(
                            origin,
                            "",
                            "references to another server are not followed "
                            "(credentials would be sent there)",
                        )
                    )
                return None
            ref = ref[len(self.base_url) + 1 :]
        match = _TYPE_ID.match(ref)
        return f"{match['type']}/{match['id']}" if match else None

    def missing(self) -> list[str]:
        """``Type/id`` of referenced resources that are neither held nor already tried."""
        wanted: dict[str, None] = {}
        for resource in self._resources.values():
            for ref in _references(resource):
                key = self._local(ref)
                if key is not None and key not in self._resources and key not in self._attempted:
                    wanted.setdefault(key, None)
        return list(wanted)

    def reads_due(
        self, can_read: Callable[[str], bool], limit: int
    ) -> Iterator[tuple[str, str, str]]:
        """``(key, type, id)`` of each reference to read, until none is missing (what a read
        adds may refer to more). Each is handed out once and counted in :attr:`reads`; over
        ``limit`` reads, or of a type the server does not read (``can_read``), it is a loss."""
        while missing := self.missing():
            for key in missing:
                resource_type, _, resource_id = key.partition("/")
                if self.reads >= limit:
                    self.unreadable(key, f"not read: over {limit} reads")
                    continue
                if not can_read(resource_type):
                    self.unreadable(key, f"the server does not offer reading {resource_type}")
                    continue
                self.attempt(key)
                self.reads += 1
                yield key, resource_type, resource_id

    def attempt(self, key: str) -> None:
        """Mark ``key`` as tried: it is never asked for again, whatever the answer."""
        self._attempted.add(key)

    def unreadable(self, key: str, reason: str) -> None:
        self._attempted.add(key)
        self.losses.append(Loss(key, "", f"referenced, but {reason}"))

    def items(self) -> list[tuple[str, JsonDict]]:
        """``[("Type/id", resource), …]`` in the order received (the Patient first)."""
        return list(self._resources.items())

    def resources(self) -> list[JsonDict]:
        return list(self._resources.values())


def unreadable_reason(exc: BaseException) -> str:
    """Why a referenced resource could not be read, for the loss report (no PHI)."""
    if isinstance(exc, FhirHttpError):
        return f"the server answered HTTP {exc.status_code} to reading it"
    if isinstance(exc, ValueError):
        return "its id is not a valid FHIR id"
    return f"reading it failed: {type(exc).__name__}"
