"""The reading context of the reverse mapping (FHIR -> case): index, provenance, loss report."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fhir_ivc.fhir.elements import CASE_ELEMENT_URL, find_ext
from fhir_ivc.terminology._tables import CodeTable

K = TypeVar("K")

__all__ = [
    "ICDO3_MORPHOLOGY",
    "STRUCTURAL",
    "Loss",
    "ReadContext",
    "ReadShape",
    "profiles_of",
    "show_code",
]

_INDEX = re.compile(r"\[(\d+)\]")

#: Elements that are bookkeeping, not facts: never reported. ``identifier`` is a fact only on
#: the Patient (the case identifier and the patient's other identifiers).
STRUCTURAL: frozenset[str] = frozenset(
    {"resourceType", "id", "meta", "text", "implicitRules", "language", "identifier"}
)

#: Reasons for elements that other producers often send and the case record never holds.
_WHY_NOT: dict[str, str] = {
    "performer": "who performed it is not carried by the case record",
    "asserter": "who asserted it is not carried by the case record",
    "recorder": "who recorded it is not carried by the case record",
    "resultsInterpreter": "who interpreted it is not carried by the case record",
    "encounter": "encounters are not carried by the case record",
    "contained": "contained resources are not read",
    "issued": "the issue time is not carried by the case record",
    "recordedDate": "the recording date is not carried by the case record",
    "dosage": "doses are not carried by the case record",
    "request": "the order behind an administration is not carried by the case record",
    "interpretation": "interpretations are not carried by the case record",
    "stage": "staging is not carried by the case record",
}


def _marker(resource: Mapping[str, Any], name: str) -> str | None:
    """The string ``name`` (``path``, ``key``) of the resource's case-element marker."""
    marker = find_ext(resource, CASE_ELEMENT_URL)
    for sub in (marker or {}).get("extension", []):
        if sub.get("url") == name and isinstance(sub.get("valueString"), str):
            value: str = sub["valueString"]
            return value
    return None


@dataclass(frozen=True)
class ReadShape:
    """What the readers take from one kind of resource; whatever else it holds is a Loss.

    ``elements`` are element names, with ``parent.child`` for the children read from inside an
    element (``collection.bodySite``); a parent listed without children is read whole.
    ``extensions`` are the extension URLs read (the project's case-element marker always is).
    """

    elements: frozenset[str]
    extensions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, elements: Iterable[str], extensions: Iterable[str] = ()) -> ReadShape:
        return cls(frozenset(elements), frozenset(extensions))

    def children(self, name: str) -> frozenset[str] | None:
        found = {e.partition(".")[2] for e in self.elements if e.startswith(f"{name}.")}
        return frozenset(found) if found else None


@dataclass(frozen=True, slots=True)
class Loss:
    """Something that could not be carried into the case record, and why."""

    resource: str  #: "Observation/123" or the bundle fullUrl
    element: str  #: FHIR element path ("Observation.valueQuantity") or "" for the whole resource
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "element": self.element, "reason": self.reason}


#: An ICD-O-3 morphology/behavior code as the case model holds it (``8890/3``)
ICDO3_MORPHOLOGY = re.compile(r"^\d{4}/[0-39]$")


def show_code(cc: Any) -> str:
    """``system|code 'display'`` of the first coding (else the text), for loss reasons."""
    if not isinstance(cc, Mapping):
        return "<none>"
    for coding in cc.get("coding") or []:
        if isinstance(coding, Mapping):
            label = f"{coding.get('system', '')}|{coding.get('code', '')}"
            display = coding.get("display")
            return f"{label} {display!r}" if display else label
    return repr(cc["text"]) if cc.get("text") else "<no code>"


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

    def coded(
        self,
        resource: Mapping[str, Any],
        table: CodeTable[K],
        name: str,
        reason: str,
        *,
        element: str | None = None,
    ) -> K | None:
        """The key of ``table`` that the CodeableConcept ``resource[name]`` carries, the
        resource then used; else None and a Loss of ``element`` (``<Type>.<name>``)."""
        key = table.lookup(resource.get(name))
        if key is None:
            self.lose(resource, element or f"{resource.get('resourceType')}.{name}", reason)
        else:
            self.use(resource)
        return key

    @staticmethod
    def path(resource: Mapping[str, Any]) -> str | None:
        """The case path recorded by fhir_ivc (case-element extension), if any."""
        return _marker(resource, "path")

    @staticmethod
    def key(resource: Mapping[str, Any]) -> str | None:
        """The explicit item key recorded by fhir_ivc, if the item had one."""
        return _marker(resource, "key")

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

    def check_shape(self, resource: Mapping[str, Any], shape: ReadShape) -> None:
        """A Loss for every element and extension of ``resource`` that ``shape`` does not read."""
        rtype = str(resource.get("resourceType"))
        tops = {e.partition(".")[0] for e in shape.elements}
        seen: set[str] = set()
        for key, value in resource.items():
            name = key[1:] if key.startswith("_") else key
            if name in seen or (
                name in STRUCTURAL and not (rtype == "Patient" and name == "identifier")
            ):
                continue
            seen.add(name)
            if name == "extension":
                for extension in value if isinstance(value, list) else []:
                    url = extension.get("url") if isinstance(extension, Mapping) else None
                    if url != CASE_ELEMENT_URL and url not in shape.extensions:
                        self.lose(
                            resource,
                            f"{rtype}.extension[{url}]",
                            "extension not carried by the case record",
                        )
                continue
            if name not in tops:
                self.lose(
                    resource,
                    f"{rtype}.{name}",
                    _WHY_NOT.get(name, "element not carried by the case record"),
                )
                continue
            children = shape.children(name)
            if children is None:
                continue
            parts = value if isinstance(value, list) else [value]
            extra: set[str] = set()
            for part in parts:
                if isinstance(part, Mapping):
                    extra |= {k.lstrip("_") for k in part if k.lstrip("_") not in children}
            for child in sorted(extra - {"id"}):
                self.lose(
                    resource,
                    f"{rtype}.{name}.{child}",
                    _WHY_NOT.get(child, "element not carried by the case record"),
                )
