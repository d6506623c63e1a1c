"""The case manifest: one ``List`` per case naming every resource the case's last push wrote.

A case is the unit of truth. When a corrected record no longer has an item (a metastasis
withdrawn), the resource pushed for it earlier must leave the server, in the same transaction
that writes the rest of the case. To know what the server holds *for this case* without
guessing from searches, every push writes a manifest:

* a ``List`` (``status`` current, ``mode`` working, ``subject`` the case's Patient) whose
  identifier is derived like every other one (uuid5 of the case uuid and the key
  ``"manifest"``, system :data:`~fhir_ivc.mappers._context.ELEMENT_ID_SYSTEM`), so it is found
  with one ``GET List?identifier=…`` and updated by a conditional PUT like the rest;
* one ``entry.item`` per resource of the bundle: the reference (resolved by the server) *and*
  the resource's identifier, so the server's manifest can be compared with a new bundle, whose
  resources have no server id yet.

Why a List rather than a tag on every resource: a tag needs one search per resource type to
find what the case holds (and a server may not index ``_tag`` on every type); the List is one
read, it is an ordinary R4 resource every server stores, and it is in the Patient compartment
(``List.subject``), so ``$everything`` returns it and pull can tell the case's resources from
others written by someone else.

:func:`corrections` compares the server's manifest with the new bundle: what the server's
manifest lists and the bundle no longer has is *stale*, and gets a ``DELETE`` (or, with
``entered-in-error``, a version-checked ``PUT`` of the resource marked entered-in-error).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from fhir_ivc.bundle.assemble import conditional_url
from fhir_ivc.mappers._context import ELEMENT_ID_SYSTEM, NAMESPACE
from fhir_ivc.terminology.systems import CONDITION_VER_STATUS

__all__ = [
    "CORRECTION_MODES",
    "MANIFEST_KEY",
    "MANIFEST_SOURCE",
    "Corrections",
    "Stale",
    "case_resources",
    "corrections",
    "entered_in_error",
    "is_manifest",
    "manifest_entry",
    "manifest_identifier",
    "manifest_search",
    "search_params",
    "stale_items",
    "with_manifest",
]

Corrections = Literal["delete", "entered-in-error", "off"]
CORRECTION_MODES: Final[tuple[Corrections, ...]] = get_args(Corrections)

#: the element key of the manifest (no mapper uses it: keys name case elements)
MANIFEST_KEY: Final = "manifest"
#: the ``source`` of the manifest entry in reports
MANIFEST_SOURCE: Final = "manifest"
MANIFEST_TITLE: Final = "fhir-ivc case manifest"

#: resource types whose ``status`` has the code ``entered-in-error`` (R4)
_STATUS_TYPES: Final = frozenset(
    {
        "AllergyIntolerance",
        "CarePlan",
        "DiagnosticReport",
        "Encounter",
        "List",
        "MedicationAdministration",
        "MedicationRequest",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "ServiceRequest",
        "Specimen",
    }
)


def _token(text: str) -> str:
    r"""Undo FHIR search escaping (``\|``, ``\,``, ``\$``, ``\\``) of one token part."""
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _split_token(token: str) -> tuple[str, str] | None:
    """``system|value`` (escaped) → ``(system, value)``; ``None`` without an unescaped ``|``."""
    escaped = False
    for index, char in enumerate(token):
        if char == "|" and not escaped:
            return _token(token[:index]), _token(token[index + 1 :])
        escaped = char == "\\" and not escaped
    return None


def _entry_identifier(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """The identifier an entry is keyed by: its conditional URL's, else the resource's first."""
    url = str((entry.get("request") or {}).get("url", ""))
    if "?" in url:
        values = parse_qs(urlsplit(url).query).get("identifier") or []
        if len(values) == 1 and (pair := _split_token(values[0])):
            return pair
    resource = entry.get("resource")
    if isinstance(resource, Mapping):
        for identifier in resource.get("identifier") or []:
            if isinstance(identifier, Mapping):
                system, value = identifier.get("system"), identifier.get("value")
                if isinstance(system, str) and isinstance(value, str):
                    return system, value
    return None


def _resource_type(entry: Mapping[str, Any]) -> str | None:
    resource = entry.get("resource")
    if isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str):
        return str(resource["resourceType"])
    return None


def _patient_identifier(bundle: Mapping[str, Any]) -> tuple[str, str] | None:
    for entry in bundle.get("entry") or []:
        if isinstance(entry, Mapping) and _resource_type(entry) == "Patient":
            return _entry_identifier(entry)
    return None


def manifest_identifier(source_system: str, case_id: str) -> tuple[str, str]:
    """``(system, value)`` of a case's manifest: as every element identifier, key "manifest"."""
    case_uuid = uuid.uuid5(NAMESPACE, f"{source_system}|{case_id}")
    return ELEMENT_ID_SYSTEM, f"{case_uuid}/{MANIFEST_KEY}"


def _manifest_uuid(source_system: str, case_id: str) -> str:
    case_uuid = uuid.uuid5(NAMESPACE, f"{source_system}|{case_id}")
    return str(uuid.uuid5(case_uuid, MANIFEST_KEY))


def _key(resource_type: str, identifier: tuple[str, str]) -> tuple[str, str, str]:
    return resource_type, identifier[0], identifier[1]


def manifest_search(bundle: Mapping[str, Any]) -> dict[str, str] | None:
    """The ``List`` search that finds the server's manifest of this case; ``None`` if unknown."""
    patient = _patient_identifier(bundle)
    return None if patient is None else search_params(*patient)


def search_params(source_system: str, case_id: str) -> dict[str, str]:
    """``List?identifier=…`` of the manifest of case ``case_id`` of ``source_system``."""
    system, value = manifest_identifier(source_system, case_id)
    return {"identifier": f"{_escape(system)}|{_escape(value)}"}


def _escape(text: str) -> str:
    for char in ("\\", ",", "$", "|"):
        text = text.replace(char, "\\" + char)
    return text


def manifest_entry(bundle: Mapping[str, Any]) -> dict[str, Any] | None:
    """The transaction entry writing this bundle's manifest; ``None`` without a Patient.

    Entries already in the bundle keep their order; the manifest names each by its fullUrl
    (the server resolves it) and its identifier (to compare with a later bundle).
    """
    patient = _patient_identifier(bundle)
    if patient is None:
        return None
    system, value = manifest_identifier(*patient)
    manifest_uuid = _manifest_uuid(*patient)
    logical = False
    items: list[dict[str, Any]] = []
    subject: dict[str, Any] | None = None
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        rtype, identifier = _resource_type(entry), _entry_identifier(entry)
        if rtype is None or identifier is None or is_manifest(entry["resource"]):
            continue
        url = str((entry.get("request") or {}).get("url", ""))
        logical = logical or "?" not in url
        reference = url if "?" not in url else entry.get("fullUrl")
        ref: dict[str, Any] = {"type": rtype, "identifier": _identifier(*identifier)}
        if isinstance(reference, str) and reference:
            ref = {"reference": reference, **ref}
        if rtype == "Patient" and subject is None and "reference" in ref:
            subject = {"reference": ref["reference"]}
        items.append({"item": ref})
    resource: dict[str, Any] = {
        "resourceType": "List",
        "identifier": [_identifier(system, value)],
        "status": "current",
        "mode": "working",
        "title": MANIFEST_TITLE,
    }
    if logical:
        resource["id"] = manifest_uuid
    if subject is not None:
        resource["subject"] = subject
    resource["entry"] = items
    if logical:
        request = {"method": "PUT", "url": f"List/{manifest_uuid}"}
    else:
        request = {"method": "PUT", "url": conditional_url("List", system, value)}
    return {"fullUrl": f"urn:uuid:{manifest_uuid}", "resource": resource, "request": request}


def _identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def is_manifest(resource: Mapping[str, Any]) -> bool:
    """A ``List`` written by :func:`manifest_entry` (its identifier ends with ``/manifest``)."""
    if resource.get("resourceType") != "List":
        return False
    return any(
        isinstance(i, Mapping)
        and i.get("system") == ELEMENT_ID_SYSTEM
        and str(i.get("value", "")).endswith(f"/{MANIFEST_KEY}")
        for i in resource.get("identifier") or []
    )


@dataclass(frozen=True, slots=True)
class Stale:
    """A resource the server's manifest lists and the new bundle no longer has."""

    reference: str  #: ``Type/id`` on the server
    resource_type: str
    identifier: tuple[str, str]

    @property
    def source(self) -> str:
        """The case element it came from: the element key after the case uuid."""
        value = self.identifier[1]
        key = value.split("/", 1)[1] if "/" in value else value
        return f"{key} (removed)"


def stale_items(server_manifest: Mapping[str, Any], bundle: Mapping[str, Any]) -> list[Stale]:
    """What ``server_manifest`` lists that ``bundle`` does not (by type and identifier)."""
    wanted = set()
    for entry in bundle.get("entry") or []:
        if isinstance(entry, Mapping):
            rtype, identifier = _resource_type(entry), _entry_identifier(entry)
            if rtype is not None and identifier is not None:
                wanted.add(_key(rtype, identifier))
    stale: list[Stale] = []
    for item in server_manifest.get("entry") or []:
        ref = item.get("item") if isinstance(item, Mapping) else None
        if not isinstance(ref, Mapping) or item.get("deleted"):
            continue
        reference, identifier = ref.get("reference"), ref.get("identifier")
        if not isinstance(reference, str) or not isinstance(identifier, Mapping):
            continue
        rtype = str(ref.get("type") or reference.split("/", 1)[0])
        pair = (str(identifier.get("system", "")), str(identifier.get("value", "")))
        if _key(rtype, pair) not in wanted and reference.count("/") == 1:
            stale.append(Stale(reference, rtype, pair))
    return stale


def entered_in_error(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    """``resource`` marked entered-in-error; ``None`` for a type that has no such status."""
    marked = {k: v for k, v in resource.items() if k not in ("meta", "text")}
    rtype = resource.get("resourceType")
    if rtype == "Condition":
        marked.pop("clinicalStatus", None)  # con-5: none when entered-in-error
        marked["verificationStatus"] = {
            "coding": [{"system": CONDITION_VER_STATUS, "code": "entered-in-error"}]
        }
    elif rtype in _STATUS_TYPES:
        marked["status"] = "entered-in-error"
    elif rtype == "BodyStructure":
        marked["active"] = False
    else:
        return None
    return marked


def corrections(
    stale: Sequence[Stale],
    mode: Corrections,
    current: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[dict[str, Any], str]]:
    """``(transaction entry, source)`` for each stale resource.

    ``delete``: ``DELETE Type/id``. ``entered-in-error``: ``PUT Type/id`` of the resource
    (``current["Type/id"]``, as read from the server) marked entered-in-error, with
    ``ifMatch`` on the version read, so a resource changed meanwhile fails the case (412)
    instead of being overwritten; a type without an entered-in-error status is deleted.
    """
    entries: list[tuple[dict[str, Any], str]] = []
    for item in stale:
        resource = (current or {}).get(item.reference) if mode == "entered-in-error" else None
        marked = entered_in_error(resource) if resource is not None else None
        if resource is None or marked is None:
            entries.append(({"request": {"method": "DELETE", "url": item.reference}}, item.source))
            continue
        request: dict[str, Any] = {"method": "PUT", "url": item.reference}
        version = (resource.get("meta") or {}).get("versionId")
        if isinstance(version, str):
            request["ifMatch"] = f'W/"{version}"'
        entries.append(({"resource": marked, "request": request}, item.source))
    return entries


def case_resources(
    resources: Iterable[tuple[str, dict[str, Any]]], *, manifest_only: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """One patient's resources for reading back into a case: never the manifest itself.

    With ``manifest_only`` and a manifest among them, only the resources it lists (by
    ``Type/id``) and the Patient are kept: what others wrote into the patient's compartment,
    or what was marked entered-in-error, is left out.
    """
    items = list(resources)
    manifests = [resource for _, resource in items if is_manifest(resource)]
    kept = [(key, resource) for key, resource in items if not is_manifest(resource)]
    if not manifest_only or not manifests:
        return kept
    listed = {
        str((item.get("item") or {}).get("reference", ""))
        for manifest in manifests
        for item in manifest.get("entry") or []
        if isinstance(item, Mapping)
    }
    return [
        (key, resource)
        for key, resource in kept
        if key in listed or resource.get("resourceType") == "Patient"
    ]


def with_manifest(
    bundle: Mapping[str, Any],
    sources: Mapping[str, str] | None,
    stale: Sequence[Stale] = (),
    mode: Corrections = "delete",
    current: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[int, str]]:
    """``bundle`` with its manifest entry and the corrections of ``stale`` appended.

    Returns the new bundle, its sources (the manifest's is :data:`MANIFEST_SOURCE`) and the
    correction entries by index with their source (for ``plan_entries``). A bundle without a
    Patient is returned as it is.
    """
    entry = manifest_entry(bundle)
    new_sources = dict(sources or {})
    if entry is None:
        return dict(bundle), new_sources, {}
    entries = [
        e
        for e in bundle.get("entry") or []
        if not (isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping))
        or not is_manifest(e["resource"])
    ]
    entries.append(entry)
    new_sources[entry["fullUrl"]] = MANIFEST_SOURCE
    fixes: dict[int, str] = {}
    for fix, source in corrections(stale, mode, current):
        fixes[len(entries)] = source
        entries.append(fix)
    return {**bundle, "entry": entries}, new_sources, fixes
