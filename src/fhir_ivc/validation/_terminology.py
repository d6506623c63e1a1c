"""Value-set membership from the ValueSets and CodeSystems the registry holds, offline.

Membership is three-valued: ``True`` (a member), ``False`` (certainly not a member), ``None``
(cannot tell here, with the reason). What can be decided:

* ``compose.include`` with a ``concept`` list (enumerated codes);
* ``compose.include`` of a whole code system whose CodeSystem is in the registry with
  ``content = complete`` (the project's code systems);
* ``compose.include.valueSet`` (recursively) and ``compose.exclude`` of the same kinds.

What cannot: includes by ``filter`` (SNOMED CT ``is-a`` and the like need a terminology server),
whole external code systems (SNOMED CT, LOINC, ICD-O-3, ...), value sets that are not in the
registry. Those give ``None`` and the caller decides the severity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from fhir_ivc.validation._package import Registry, canonical

__all__ = ["Member", "Terminology"]

#: True: a member; False: not a member; None: cannot tell offline
Member = bool | None
#: nesting bound for ValueSets including ValueSets (a cycle is a broken package)
_MAX_DEPTH: Final = 8


class Terminology:
    """Membership questions answered from one :class:`Registry`, with memoisation."""

    def __init__(
        self,
        registry: Registry,
        core_expansion: Callable[[str], tuple[frozenset[tuple[str, str]], str] | None]
        | None = None,
    ) -> None:
        self._registry = registry
        #: (system, code) pairs of an R4 core value set, or why not (None: not a core one)
        self._core_expansion = core_expansion
        self._members: dict[tuple[str, str | None, str], tuple[Member, str]] = {}
        self._codes: dict[str, dict[str, str] | None] = {}

    def has_value_set(self, url: str) -> bool:
        if self._registry.value_set(url) is not None:
            return True
        return self._core_expansion is not None and self._core_expansion(canonical(url)) is not None

    def codes(self, system: str) -> dict[str, str] | None:
        """code -> display of a complete CodeSystem in the registry, else None."""
        if system not in self._codes:
            cs = self._registry.code_system(system)
            table: dict[str, str] | None = None
            if cs is not None and cs.get("content") == "complete":
                table = {}
                _collect(cs.get("concept") or (), table)
            self._codes[system] = table
        return self._codes[system]

    def member(self, value_set: str, system: str | None, code: str) -> tuple[Member, str]:
        """Is ``system|code`` in ``value_set``? With the reason when the answer is None.

        ``system`` None is a bare ``code`` element: any include with that code matches.
        """
        key = (canonical(value_set), system, code)
        found = self._members.get(key)
        if found is None:
            found = self._value_set(key[0], system, code, 0)
            self._members[key] = found
        return found

    def _value_set(self, url: str, system: str | None, code: str, depth: int) -> tuple[Member, str]:
        vs = self._registry.value_set(url)
        if vs is None:
            core = self._core_expansion(url) if self._core_expansion is not None else None
            if core is None:
                return None, f"value set {url} is not available offline"
            pairs, why = core
            if why:
                return None, why
            if system is None:
                return any(c == code for _, c in pairs), ""
            return (system, code) in pairs, ""
        if depth > _MAX_DEPTH:
            return None, f"value set {url} nests too deeply"
        compose = vs.get("compose") or {}
        unsure_exclude = ""
        for part in compose.get("exclude") or ():
            excluded, why = self._include(part, system, code, depth)
            if excluded:
                return False, ""
            if excluded is None:
                unsure_exclude = why
        result: Member = False
        reason = ""
        for part in compose.get("include") or ():
            included, why = self._include(part, system, code, depth)
            if included:
                result, reason = True, ""
                break
            if included is None and result is False:
                result, reason = None, why
        if result is True and unsure_exclude:
            return None, unsure_exclude
        return result, reason

    def _include(
        self, part: Mapping[str, Any], system: str | None, code: str, depth: int
    ) -> tuple[Member, str]:
        """Does one include/exclude entry of a compose select ``system|code``?"""
        result: Member = True
        reason = ""
        part_system = part.get("system")
        if isinstance(part_system, str):
            if system is not None and system != part_system:
                return False, ""
            if "concept" in part:
                if not any(c.get("code") == code for c in part["concept"]):
                    return False, ""
            elif part.get("filter"):
                result, reason = _filters(part_system, part["filter"], code)
            else:
                table = self.codes(part_system)
                if table is None:
                    result = None
                    reason = f"the codes of {_name(part_system)} are not available offline"
                elif code not in table:
                    return False, ""
        for ref in part.get("valueSet") or ():
            inner, why = self._value_set(canonical(ref), system, code, depth + 1)
            if inner is False:
                return False, ""
            if inner is None:
                result, reason = None, reason or why
        return result, reason


_NAMES: Final = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://terminology.hl7.org/CodeSystem/icd-o-3": "ICD-O-3",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
}


def _name(system: str) -> str:
    return _NAMES.get(system, system)


def _filters(system: str, filters: Iterable[Mapping[str, Any]], code: str) -> tuple[Member, str]:
    """Filters decide only at their root: ``concept is-a X`` holds for X itself,
    ``descendent-of X`` does not; anything else needs the code system's hierarchy."""
    result: Member = True
    for f in filters:
        op, value = f.get("op"), f.get("value")
        if f.get("property") == "concept" and value == code and op in ("is-a", "descendent-of"):
            if op == "descendent-of":
                return False, ""
            continue
        result = None
    if result is None:
        shown = ", ".join(f"{f.get('property')} {f.get('op')} {f.get('value')}" for f in filters)
        return None, f"its {_name(system)} filter ({shown}) cannot be expanded offline"
    return True, ""


def _collect(concepts: Iterable[Mapping[str, Any]], table: dict[str, str]) -> None:
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            table[code] = str(concept.get("display", ""))
        _collect(concept.get("concept") or (), table)
