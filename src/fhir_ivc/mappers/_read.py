"""The reading context of the reverse mapping (FHIR -> case): index, provenance, loss report."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_ivc.fhir.elements import CASE_ELEMENT_URL, find_ext

__all__ = ["Loss", "ReadContext", "profiles_of"]

_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Loss:
    """Something that could not be carried into the case record, and why."""

    resource: str  #: "Observation/123" or the bundle fullUrl
    element: str  #: FHIR element path ("Observation.valueQuantity") or "" for the whole resource
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "element": self.element, "reason": self.reason}


def profiles_of(resource: Mapping[str, Any]) -> list[str]:
    found: list[str] = (resource.get("meta") or {}).get("profile", [])
    return [p.split("|")[0] for p in found]


def _norm(ref: str) -> str:
    """``urn:uuid:x`` stays; ``http://server/fhir/Type/id(/_history/n)`` -> ``Type/id``."""
    if ref.startswith("urn:"):
        return ref
    ref = ref.split("/_history/")[0]
    parts = ref.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


@dataclass
class ReadContext:
    """All resources of one patient, indexed by every name a reference may use."""

    items: list[tuple[str, dict[str, Any]]]  #: (fullUrl or "Type/id", resource)
    losses: list[Loss] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_ref: dict[str, dict[str, Any]] = {}
        self._name: dict[int, str] = {}
        self._inferred: dict[str, set[str]] = {}
        self._position: dict[int, int] = {}
        self.used: set[int] = set()
        for position, (name, resource) in enumerate(self.items):
            rtype, rid = resource.get("resourceType", ""), resource.get("id")
            self._name[id(resource)] = name or f"{rtype}/{rid}"
            self._by_ref[_norm(name)] = resource
            if rid:
                self._by_ref[f"{rtype}/{rid}"] = resource
            self._position[id(resource)] = position
            marker = find_ext(resource, CASE_ELEMENT_URL)
            for sub in (marker or {}).get("extension", []):
                if sub.get("url") == "inferred" and isinstance(sub.get("valueString"), str):
                    obj, _, fname = sub["valueString"].rpartition(".")
                    self._inferred.setdefault(obj, set()).add(fname)

    def name(self, resource: Mapping[str, Any]) -> str:
        return self._name.get(id(resource), str(resource.get("resourceType")))

    def resolve(self, reference: Mapping[str, Any] | None) -> dict[str, Any] | None:
        ref = (reference or {}).get("reference")
        return self._by_ref.get(_norm(ref)) if isinstance(ref, str) else None

    def refers_to(self, reference: Mapping[str, Any] | None, target: Mapping[str, Any]) -> bool:
        return self.resolve(reference) is target

    def use(self, resource: Mapping[str, Any]) -> None:
        self.used.add(id(resource))

    def lose(self, resource: Mapping[str, Any], element: str, reason: str) -> None:
        self.losses.append(Loss(self.name(resource), element, reason))

    @staticmethod
    def path(resource: Mapping[str, Any]) -> str | None:
        """The case path recorded by fhir_ivc (case-element extension), if any."""
        marker = find_ext(resource, CASE_ELEMENT_URL)
        for sub in (marker or {}).get("extension", []):
            if sub.get("url") == "path" and isinstance(sub.get("valueString"), str):
                value: str = sub["valueString"]
                return value
        return None

    @staticmethod
    def key(resource: Mapping[str, Any]) -> str | None:
        """The explicit item key recorded by fhir_ivc, if the item had one."""
        marker = find_ext(resource, CASE_ELEMENT_URL)
        for sub in (marker or {}).get("extension", []):
            if sub.get("url") == "key" and isinstance(sub.get("valueString"), str):
                value: str = sub["valueString"]
                return value
        return None

    def item(
        self, resource: Mapping[str, Any], fields: dict[str, Any], names: Iterable[str]
    ) -> dict[str, Any]:
        """Finish a list item read from ``resource``: its explicit key and inferred markers."""
        key = self.key(resource)
        if key is not None:
            fields["key"] = key
        path = self.path(resource)
        if path is not None and ".agents[" in path:
            path = path.split(".agents[")[0]
        fields["inferred"] = self.inferred(path)
        return fields

    def inferred(self, obj_path: str | None, allowed: Iterable[str] = ()) -> list[str]:
        """Inferred field names recorded for the object at ``obj_path``.

        Every resource that carries an object's facts carries all its markers, so a marker is
        found wherever the value went. ``allowed`` (optional) orders and filters the names;
        the case model puts them in declaration order anyway.
        """
        if obj_path is None:
            return []
        names = self._inferred.get(obj_path, set())
        order = list(allowed)
        return [n for n in order if n in names] if order else sorted(names)

    def ordered(self, resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Resources in case order: by the indexes in their recorded path, else as received."""

        return sorted(resources, key=self.sort_key)

    def sort_key(self, resource: Mapping[str, Any]) -> tuple[tuple[int, ...], int]:
        """Case order: the indexes in the recorded path, then the order received."""
        p = self.path(resource)
        idx = tuple(int(i) for i in _INDEX.findall(p)) if p else ()
        return (idx or (1 << 30,), self._position.get(id(resource), 0))

    def unused(self) -> list[dict[str, Any]]:
        return [r for _, r in self.items if id(r) not in self.used]
