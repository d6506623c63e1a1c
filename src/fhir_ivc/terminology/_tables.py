"""Machinery for the code tables: codes, local code systems, two-way tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fhir_ivc.exceptions import UnmappedCodeError
from fhir_ivc.terminology.systems import local_system

__all__ = ["Code", "CodeTable", "LocalCodeSystem"]

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Code:
    """One coding. ``verified`` is False for codes carried without a confirming source."""

    system: str
    code: str
    display: str
    verified: bool = True

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class LocalCodeSystem:
    """A code system defined by this project (published as a CodeSystem under profiles/)."""

    name: str
    title: str
    description: str
    #: code -> (display, definition)
    concepts: Mapping[str, tuple[str, str]]

    @property
    def url(self) -> str:
        return local_system(self.name)

    def __getitem__(self, code: str) -> Code:
        display, _ = self.concepts[code]
        return Code(self.url, code, display)


@dataclass(frozen=True)
class CodeTable(Generic[K]):
    """Two-way table between a case-model value and the codings that stand for it.

    ``concept(key)`` builds the CodeableConcept (first coding = preferred standard code);
    ``lookup(concept)`` reads any coding of a CodeableConcept back to the key, so data from other
    producers that carry only the standard code is read too.
    """

    name: str
    entries: Mapping[K, tuple[Code, ...]]
    source: str = ""
    _reverse: dict[tuple[str, str], K] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reverse: dict[tuple[str, str], K] = {}
        for key, codes in self.entries.items():
            for c in codes:
                other = reverse.setdefault((c.system, c.code), key)
                if other != key:
                    raise ValueError(f"{self.name}: {c.system}|{c.code} maps to {other} and {key}")
        object.__setattr__(self, "_reverse", reverse)

    @classmethod
    def local(
        cls,
        name: str,
        system: LocalCodeSystem,
        standard: Mapping[str, Code | tuple[Code, ...]] | None = None,
    ) -> CodeTable[str]:
        """The table of every code of a local ``system``, in its order: the key's ``standard``
        codings first (where it has any), its local coding last."""
        standard = standard or {}
        unknown = sorted(set(standard) - set(system.concepts))
        if unknown:
            raise ValueError(f"{name}: {unknown} are not codes of {system.name}")
        entries: dict[str, tuple[Code, ...]] = {}
        for key in system.concepts:
            codes = standard.get(key, ())
            entries[key] = (*((codes,) if isinstance(codes, Code) else codes), system[key])
        return CodeTable(name, entries)

    def codings(self, key: K) -> list[dict[str, str]]:
        return [c.coding() for c in self.entries[key]]

    def concept(self, key: K, text: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"coding": self.codings(key)}
        if text:
            out["text"] = text
        return out

    def lookup(self, concept: Mapping[str, Any] | None) -> K | None:
        """The key for the first coding of ``concept`` found in this table, else None."""
        for coding in (concept or {}).get("coding", []):
            key = self._reverse.get((coding.get("system", ""), coding.get("code", "")))
            if key is not None:
                return key
        return None

    def require(self, concept: Mapping[str, Any] | None, path: str = "") -> K:
        """Like :meth:`lookup` but an unknown code raises :class:`UnmappedCodeError`."""
        key = self.lookup(concept)
        if key is None:
            codings = (concept or {}).get("coding") or [{}]
            first = codings[0]
            raise UnmappedCodeError(
                first.get("system", "<none>"), first.get("code", "<none>"), path=path or self.name
            )
        return key
