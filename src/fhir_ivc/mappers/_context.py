"""The mapping context: deterministic ids, references, and the entries of one case's bundle."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fhir_ivc.fhir.elements import CASE_ELEMENT_URL, ext
from fhir_ivc.model import Case, CaseModel, ListItem, item_keys
from fhir_ivc.terminology.systems import CANONICAL, MCODE

__all__ = [
    "ELEMENT_ID_SYSTEM",
    "NAMESPACE",
    "Entry",
    "Facts",
    "MapContext",
    "core",
    "keyed",
    "mcode",
]

#: Namespace of every deterministic id (uuid5) the adapter derives.
NAMESPACE = uuid.UUID("5d6f2a7e-3c41-5f0e-9b8a-1c2d3e4f5a6b")
#: Identifier system of every resource except the Patient: value = "<case uuid>/<element key>".
ELEMENT_ID_SYSTEM = f"{CANONICAL}/sid/case-element"

#: (case-model object, its path in the case): the resource carries that object's facts, so it
#: also carries the object's inferred markers
Facts = tuple[CaseModel, str]


Item = TypeVar("Item", bound=ListItem)


def keyed(items: Sequence[Item], path: str) -> Iterator[tuple[str, str, Item]]:
    """``(path, key, item)`` of each item of a case list: ``("imaging[0]", "ct-1", study)``.

    ``path`` names the item in the case (``<path>[i]``); ``key`` is its element key, part of
    the identifiers of the resources written from it (:func:`fhir_ivc.model.item_keys`).
    """
    for i, (key, item) in enumerate(zip(item_keys(items), items, strict=True)):
        yield f"{path}[{i}]", key, item


def mcode(profile_id: str) -> str:
    return f"{MCODE}/{profile_id}"


def core(resource_type: str) -> str:
    """Canonical URL of a base R4 resource (for mapping rows of resources with no profile)."""
    return f"http://hl7.org/fhir/StructureDefinition/{resource_type}"


def _uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` without the UUID object (RFC 4122 version 5)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode("utf-8")).digest()[:16])  # noqa: S324
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@dataclass(slots=True)
class Entry:
    """One resource of the case bundle, with where it came from."""

    key: str  #: element key, unique within the case ("surgery.step.laparotomy")
    path: str  #: the case-model object it represents ("surgery.approach[0]")
    uuid: str
    resource: dict[str, Any]
    identifier: tuple[str, str]  #: (system, value) used for the conditional update

    @property
    def full_url(self) -> str:
        return f"urn:uuid:{self.uuid}"


@dataclass
class MapContext:
    """Collects the entries of one case; ids depend only on (source system, case id, key)."""

    case: Case
    entries: list[Entry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.case_uuid = uuid.uuid5(NAMESPACE, f"{self.case.source_system}|{self.case.case_id}")
        self._keys: set[str] = set()
        self._uuids: dict[str, str] = {}

    def uuid(self, key: str) -> str:
        """``str(uuid.uuid5(case_uuid, key))``, computed once per key (a hot path: every
        reference and entry asks)."""
        found = self._uuids.get(key)
        if found is None:
            found = self._uuids[key] = _uuid5(self.case_uuid.bytes, key)
        return found

    def ref(self, key: str) -> dict[str, str]:
        """A Reference to the entry with element ``key`` (resolved inside the bundle)."""
        return {"reference": f"urn:uuid:{self.uuid(key)}"}

    def has(self, key: str) -> bool:
        return key in self._keys

    @property
    def surgery_ref(self) -> dict[str, Any] | None:
        """Logical reference to the index surgery (anchor of relative times), or None."""
        if self.case.surgery is None:
            return None
        return {
            "type": "Procedure",
            "identifier": {"system": ELEMENT_ID_SYSTEM, "value": f"{self.case_uuid}/surgery"},
        }

    def add(
        self,
        key: str,
        path: str,
        resource_type: str,
        body: dict[str, Any],
        *,
        profile: str | None = None,
        facts: Iterable[Facts] = (),
        identifier: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Append a resource; ``facts`` say which inferred markers it must carry."""
        if key in self._keys:
            raise ValueError(f"element key {key!r} used twice")  # a bug in a mapper
        self._keys.add(key)
        resource: dict[str, Any] = {"resourceType": resource_type}
        if profile:
            resource["meta"] = {"profile": [profile]}
        marker = [ext("path", valueString=path)]
        for obj, obj_path in facts:
            # an explicit item key cannot be told apart from a derived one in the identifier:
            # record it so the reverse mapping restores it exactly
            if isinstance(obj, ListItem) and obj.key is not None and path.startswith(obj_path):
                marker.append(ext("key", valueString=obj.key))
                break
        for obj, obj_path in facts:
            marker += [ext("inferred", valueString=f"{obj_path}.{n}") for n in obj.inferred]
        extensions = [ext(CASE_ELEMENT_URL, extension=marker), *body.pop("extension", [])]
        resource["extension"] = extensions
        system, value = identifier or (ELEMENT_ID_SYSTEM, f"{self.case_uuid}/{key}")
        if identifier is None:  # the element identifier first, then any the body brings
            resource["identifier"] = [
                {"system": system, "value": value},
                *body.pop("identifier", []),
            ]
        resource.update(body)
        self.entries.append(Entry(key, path, self.uuid(key), resource, (system, value)))
        return resource
