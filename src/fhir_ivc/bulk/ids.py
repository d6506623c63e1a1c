"""Deterministic logical ids: the resource id is the uuid5 its identifier is derived from.

Two ways to make a re-run safe, chosen with ``--ids``:

``conditional`` (the default, the golden contract)
    ``PUT Type?identifier=system|value``; the server picks the id, references are ``urn:uuid``
    fullUrls that the server rewrites.
``logical``
    ``PUT Type/<uuid>`` where ``<uuid>`` is the same uuid5 of (source system, case id, element
    key) the identifier value is built from; references are ``Type/<uuid>``. Needed by Bulk Data
    (``$import`` upserts by id, and NDJSON has no fullUrls), faster on servers that have to look
    up conditional URLs, refused by servers that forbid client-assigned ids.

Identifiers are the same in both modes: only ``Resource.id``, ``request.url`` and the literal
references differ, so both load the same content (``tests/integration/test_logical_ids.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, get_args

__all__ = [
    "CLIENT_IDS_REFUSED",
    "ID_MODES",
    "IdMode",
    "logical_references",
    "logical_resource",
    "refuses_client_ids",
    "rewrite_references",
]

IdMode = Literal["conditional", "logical"]
ID_MODES: Final[tuple[IdMode, ...]] = get_args(IdMode)


#: What the project says when a server refuses ``PUT Type/<new id>``.
CLIENT_IDS_REFUSED: Final = (
    "the server does not accept client-assigned ids (PUT Type/id of a new resource); "
    "push with --ids conditional (the default) instead"
)

# HAPI FHIR: "HAPI-0959: No resource exists on this server resource with ID[x], and
# client-assigned IDs are not enabled." / HAPI-0960 (numeric ids under ALPHANUMERIC); other
# servers: "client-defined ids are not allowed", "update as create is not supported".
_REFUSED = re.compile(
    r"client[- ](?:assigned|defined|provided|specified|supplied)[- ]ids?"
    r"|update[- ]as[- ]create|upsert.{0,20}not (?:allowed|supported|enabled)"
    r"|HAPI-0959|HAPI-0960",
    re.IGNORECASE,
)


def refuses_client_ids(message: str | None) -> bool:
    """Whether a server's error message says it forbids client-assigned ids."""
    return bool(message) and _REFUSED.search(message or "") is not None


def logical_references(entries: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """``{fullUrl: "Type/id"}`` for ``(fullUrl, resource type, id)`` triples."""
    return {full_url: f"{rtype}/{rid}" for full_url, rtype, rid in entries}


def rewrite_references(value: Any, refs: Mapping[str, str]) -> Any:
    """A copy of ``value`` with every ``reference`` found in ``refs`` replaced (others kept).

    Serves both literal-reference rewrites: ``urn:uuid`` → ``Type/<uuid>`` for logical ids and
    ``urn:uuid`` → the ``Type/id`` the server answered for the later parts of a split
    transaction (:mod:`fhir_ivc.exchange.split`)."""
    if isinstance(value, Mapping):
        out = {k: rewrite_references(v, refs) for k, v in value.items()}
        target = value.get("reference")
        if isinstance(target, str) and target in refs:
            out["reference"] = refs[target]
        return out
    if isinstance(value, list):
        return [rewrite_references(v, refs) for v in value]
    return value


def logical_resource(
    resource: Mapping[str, Any], rid: str, refs: Mapping[str, str]
) -> dict[str, Any]:
    """``resource`` with ``id`` = ``rid`` (second key, after resourceType) and references by id."""
    out: dict[str, Any] = {"resourceType": resource["resourceType"], "id": rid}
    for key, value in resource.items():
        if key not in ("resourceType", "id"):
            out[key] = rewrite_references(value, refs)
    return out
