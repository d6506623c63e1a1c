"""Case → FHIR Bundles: a transaction bundle for loading a server, a collection for exchange.

* ``transaction``: every entry ``PUT Type?identifier=system|value`` (a conditional update: a
  re-run updates instead of duplicating), ``urn:uuid`` fullUrls, internal references by those
  fullUrls (the server rewrites them), no resource ids.
  With ``ids="logical"`` (:mod:`fhir_ivc.bulk.ids`): ``PUT Type/<uuid>``, resources carry that
  id and reference each other as ``Type/<uuid>``; identifiers unchanged.
* ``collection``: conformant to mCODE's patient bundle (type collection, one CancerPatient), the
  same resources with ids equal to their deterministic uuids.

Identifiers and uuids depend only on (source system, case id, element key): stable across
re-runs and across edits of other fields, never shared between cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fhir_ivc.bulk.ids import IdMode, logical_references, logical_resource
from fhir_ivc.exceptions import MappingError
from fhir_ivc.mappers import MAPPERS
from fhir_ivc.mappers._context import Entry, MapContext
from fhir_ivc.model import Case

__all__ = ["CaseBundles", "build_bundles", "map_case"]

#: what ``quote(text, safe=":/")`` leaves as it is (ASCII letters, digits, ``_.-~:/``), none of
#: them escaped by FHIR search either
_UNRESERVED = re.compile(r"[A-Za-z0-9_.\-~:/]*")
MCODE_PATIENT_BUNDLE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-patient-bundle"


@dataclass(frozen=True, slots=True)
class CaseBundles:
    case_id: str
    transaction: dict[str, Any]
    collection: dict[str, Any]
    #: entry fullUrl -> case-model path of the element it carries (for error messages)
    sources: dict[str, str]


def map_case(case: Case) -> list[Entry]:
    """Run every mapper over ``case``; the entries in bundle order (Patient first)."""
    ctx = MapContext(case)
    for mapper in MAPPERS:
        try:
            mapper(ctx)
        except (KeyError, ValueError) as exc:  # a mapper bug must still name the case
            raise MappingError(
                f"{mapper.__name__} failed: {exc}", case_id=case.case_id, path=""
            ) from exc
    return ctx.entries


def _escape_token_part(text: str) -> str:
    r"""FHIR search escaping (R4 "Escaping Search Parameters"): ``\``, ``,``, ``$`` and ``|``
    inside a token's system or value are preceded by ``\``; then percent-encoding."""
    if _UNRESERVED.fullmatch(text):  # nothing to escape (the usual case: a hot path)
        return text
    for char in ("\\", ",", "$", "|"):
        text = text.replace(char, "\\" + char)
    return quote(text, safe=":/")


def conditional_url(resource_type: str, system: str, value: str) -> str:
    """``Type?identifier=system|value``: the conditional-update key of one resource."""
    return f"{resource_type}?identifier={_escape_token_part(system)}|{_escape_token_part(value)}"


def build_bundles(case: Case, *, ids: IdMode = "conditional") -> CaseBundles:
    entries = map_case(case)
    transaction_entries = []
    collection_entries = []
    refs = None
    if ids == "logical":
        refs = logical_references((e.full_url, e.resource["resourceType"], e.uuid) for e in entries)
    for e in entries:
        rtype = e.resource["resourceType"]
        if refs is None:
            request = {"method": "PUT", "url": conditional_url(rtype, *e.identifier)}
            resource = e.resource
        else:
            request = {"method": "PUT", "url": f"{rtype}/{e.uuid}"}
            resource = logical_resource(e.resource, e.uuid, refs)
        transaction_entries.append(
            {"fullUrl": e.full_url, "resource": resource, "request": request}
        )
        with_id = {"resourceType": rtype, "id": e.uuid}
        with_id.update((k, v) for k, v in e.resource.items() if k != "resourceType")
        collection_entries.append({"fullUrl": e.full_url, "resource": with_id})
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": transaction_entries}
    collection = {
        "resourceType": "Bundle",
        "id": MapContext(case).uuid("bundle"),
        "meta": {"profile": [MCODE_PATIENT_BUNDLE]},
        "identifier": {"system": entries[0].identifier[0], "value": case.case_id},
        "type": "collection",
        "entry": collection_entries,
    }
    return CaseBundles(
        case_id=case.case_id,
        transaction=transaction,
        collection=collection,
        sources={e.full_url: e.path for e in entries},
    )
