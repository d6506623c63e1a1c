"""The structure stage: one walk of a resource's JSON against the compiled R4 core tables.

For every JSON key of every object: the element exists (unknown elements are errors), a list
where the element repeats and a single value where it does not (no empty arrays, no ``null``),
the JSON type of primitives with no coercion (``"300"`` is not a decimal) and their R4 regex,
``_element`` siblings of primitives, ``ele-1`` (no empty objects, no primitive without value or
extension), cardinalities (min, max), required and extensible bindings to R4 core value sets,
the codes of R4 code systems and of the project's code systems, reference target types, and the
core invariants of :mod:`fhir_ivc.validation._base_invariants`. What cannot be checked offline
(value sets that need SNOMED CT or LOINC, codes of external code systems, invariants with no
implementation) is noted once per call, as information.

Two hooks let the profile stage see what the walk meets anyway (so a resource is walked once):
every Extension (``on_extension``) and every Coding with a system (``on_coding``).

**Memo.** Datatype values repeat across the resources of a bundle and across cases (codings,
codeable concepts, the project's case-element extensions, metas). Checking one is a pure
function of the element it is in and of its JSON, except for references (they resolve in the
bundle), so a value found clean (no issue in any stage, hooks included) is remembered by
(element, serialised JSON) with the notes it gave, and replayed when met again. Values with a
``reference`` inside are never remembered; values with an issue are always checked again. The
memo is bounded (cleared when full).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from fhir_ivc.validation._base_invariants import BEST_PRACTICE
from fhir_ivc.validation._core import (
    MODE_BOOLEAN,
    MODE_CODE,
    MODE_STRING,
    PRIMITIVE,
    RESOURCE,
    Child,
    Core,
    Table,
)
from fhir_ivc.validation._issues import Issue, Severity, make_issue, not_in_value_set

__all__ = ["EXTERNAL_SYSTEMS", "Structure"]

#: code systems whose codes need a terminology server (noted once per call, as information)
EXTERNAL_SYSTEMS: Final = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://terminology.hl7.org/CodeSystem/icd-o-3": "ICD-O-3",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://www.cms.gov/Medicare/Coding/ICD10": "ICD-10-PCS",
    "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl": "NCI Thesaurus",
    "http://unitsofmeasure.org": "UCUM",
}
_CODED: Final = frozenset({"CodeableConcept", "Coding"})
_MAX_MEMO: Final = 1 << 15
Memo = dict[tuple[int, bytes], tuple[tuple[object, str, str], ...]]
Hook = Callable[[Mapping[str, Any], str], None]
CodeTable = Callable[[str], "Mapping[str, str] | None"]


class Structure:
    """One call's walk: issues found, notes of what was not checked, the bundle's fullUrls."""

    def __init__(
        self,
        core: Core,
        *,
        project_codes: CodeTable,
        on_extension: Hook | None = None,
        on_coding: Hook | None = None,
        recorded: Callable[[], int] | None = None,
        memo: Memo | None = None,
    ) -> None:
        self.core = core
        self.issues: list[Issue] = []
        #: once-per-call notes: key -> (where first seen, message)
        self.notes: dict[object, tuple[str, str]] = {}
        #: fullUrl -> resourceType of the bundle being validated (references resolve there)
        self.full_urls: dict[str, str] = {}
        self.in_bundle = False
        self._project_codes = project_codes
        self._on_extension = on_extension
        self._on_coding = on_coding
        self._element = core.table("Element")
        self._resource: Mapping[str, Any] = {}
        self._recorded = recorded if recorded is not None else lambda: 0
        self._memo = memo
        #: set by the validator for a bundle: the entries' resources through the entry memo
        self.entry_walk: Callable[[dict[str, Any], Table, str], None] | None = None
        self._depth = 0

    def error(self, where: str, message: str, code: str = "structure") -> None:
        self.issues.append(make_issue("error", code, where, message))

    def add(self, severity: Severity, code: str, where: str, message: str) -> None:
        self.issues.append(make_issue(severity, code, where, message))

    def note(self, key: object, where: str, message: str) -> None:
        if key not in self.notes:
            self.notes[key] = (where, message)

    def note_issues(self) -> list[Issue]:
        return [
            make_issue("information", "not-supported", where, message)
            for where, message in self.notes.values()
        ]

    # -- resources -----------------------------------------------------------------------------

    def resource(self, resource: Any, path: str) -> bool:
        """Walk one resource (``path``: its location); False when it is not a resource at all."""
        if type(resource) is not dict:
            self.error(path, "a resource must be a JSON object")
            return False
        resource_type = resource.get("resourceType")
        table = self.core.table(resource_type) if isinstance(resource_type, str) else None
        if (
            table is None
            or not table.is_resource
            or not self.core.is_resource_type(str(resource_type))
        ):
            where = f"{path}.resourceType" if "." in path else path
            self.error(where, "missing or unknown resourceType")
            return False
        saved, self._resource = self._resource, resource
        self._depth += 1
        if self._depth == 2 and self.entry_walk is not None:  # an entry of the bundle
            self.entry_walk(resource, table, path)
        else:
            self.walk(resource, table, path)
        self._depth -= 1
        self._resource = saved
        return True

    # -- the walk ------------------------------------------------------------------------------

    def walk(self, value: dict[str, Any], table: Table, path: str) -> None:
        keys = table.keys
        choices: set[str] | None = None
        for key, item in value.items():
            child = keys.get(key)
            if child is None:
                if key[:1] == "_":
                    self._primitive_element(value, key, item, table, path)
                elif key != "resourceType" or not table.is_resource:
                    self.error(f"{path}.{key}", "unknown element (not defined in FHIR R4 here)")
                continue
            if child.choice:  # at most one type of a choice element
                if choices is None:
                    choices = {child.name}
                elif child.name in choices:
                    self.error(f"{path}.{key}", f"only one type of {child.name} may be present")
                else:
                    choices.add(child.name)
            mode = child.mode
            if not child.many:
                # the common primitives decided here: what _item would find (nothing) without
                # the call and the location string
                if mode == MODE_STRING:
                    if type(item) is str and item in child.seen:
                        continue
                elif mode == MODE_CODE:
                    if type(item) is str and item in child.seen and item in child.codes:
                        continue
                elif mode == MODE_BOOLEAN and type(item) is bool:
                    continue
                if item is None:
                    if f"_{key}" not in value:
                        self.error(f"{path}.{key}", "null is not a valid value")
                elif type(item) is list:
                    self.error(
                        f"{path}.{key}",
                        "this element does not repeat: its value must not be an array",
                    )
                else:
                    self._item(child, item, f"{path}.{key}", value)
                continue
            where = f"{path}.{key}"
            if item is None:
                if f"_{key}" not in value:
                    self.error(where, "null is not a valid value")
                continue
            if type(item) is not list:
                self.error(where, "this element repeats: its value must be a JSON array")
                self._item(child, item, where, value)
                continue
            if not item:
                self.error(where, "an array must not be empty (leave the element out)")
                continue
            if child.max is not None and len(item) > child.max:
                self.error(
                    f"{where}[{child.max}]",
                    f"maximum allowed = {child.max}, but found {len(item)}",
                )
            extension = value.get(f"_{key}") if child.kind == PRIMITIVE else None
            seen = child.seen if mode == MODE_STRING else None
            for i, one in enumerate(item):
                if seen is not None and type(one) is str and one in seen:
                    continue
                if one is None:
                    if not (
                        type(extension) is list and i < len(extension) and extension[i] is not None
                    ):
                        self.error(f"{where}[{i}]", "null is not a valid value")
                    continue
                self._item(child, one, f"{where}[{i}]", value)
        for name, json_keys, minimum in table.required:
            if value.keys().isdisjoint(json_keys):
                self.add(
                    "error",
                    "required",
                    f"{path}.{name}",
                    f"minimum required = {minimum}, but only found 0",
                )
        if table.invariants or table.unimplemented:
            self._constraints(value, table, path)

    def _item(self, child: Child, item: Any, where: str, parent: Mapping[str, Any]) -> None:
        kind = child.kind
        if kind == PRIMITIVE:
            assert child.primitive is not None  # noqa: S101 - set for every primitive
            problem = child.primitive.problem(item)
            if problem is not None:
                self.error(where, problem, "value")
            elif child.binding is not None and type(item) is str:
                self._code(child, item, where)
            return
        if type(item) is not dict:
            self.error(where, f"a {child.type} must be a JSON object")
            return
        if kind == RESOURCE:
            self.resource(item, where)
            return
        if child.remembered and self._memo is not None:
            self._remembered(child, item, where)
            return
        self._complex(child, item, where)

    def _remembered(self, child: Child, item: dict[str, Any], where: str) -> None:
        """:meth:`_complex` through the memo (see the module docstring)."""
        assert self._memo is not None  # noqa: S101 - checked by the caller
        try:
            text = orjson.dumps(item)
        except TypeError:  # an integer beyond 64 bits: reported by the walk, never remembered
            self._complex(child, item, where)
            return
        if b'"reference"' in text:  # never remembered (below): no lookup
            self._complex(child, item, where)
            return
        key = (id(child), text)
        replay = self._memo.get(key)
        if replay is not None:
            for note_key, rest, message in replay:
                if note_key not in self.notes:
                    self.notes[note_key] = (where + rest, message)
            return
        issues, events, notes = len(self.issues), self._recorded(), self.notes
        self.notes = {}
        self._complex(child, item, where)
        mine, self.notes = self.notes, notes
        for note_key, note in mine.items():
            notes.setdefault(note_key, note)
        if len(self.issues) == issues and self._recorded() == events:
            if len(self._memo) >= _MAX_MEMO:
                self._memo.clear()
            size = len(where)
            # a copy of the text: orjson's own bytes keep a 4 KiB buffer whatever their length
            # (32,768 remembered values held 128 MiB before)
            compact = (id(child), memoryview(text).tobytes())
            self._memo[compact] = tuple((k, w[size:], m) for k, (w, m) in mine.items())

    def _complex(self, child: Child, item: dict[str, Any], where: str) -> None:
        # ele-1: hasValue() or (children().count() > id.count())
        if not item or (len(item) == 1 and "id" in item):
            self.error(
                where,
                "constraint ele-1 failed: All FHIR elements must have a @value or children",
                "invariant",
            )
            return
        table = child.table
        if table is not None:
            self.walk(item, table, where)
        type_code = child.type
        if child.binding is not None and type_code in _CODED:
            self._concept(child, item, where)
        if type_code == "Coding":
            self._coding(item, where)
        elif type_code == "Reference":
            self._reference(child, item, where)
        elif type_code == "Extension" and self._on_extension is not None:
            self._on_extension(item, where)

    def _primitive_element(
        self, value: Mapping[str, Any], key: str, item: Any, table: Table, path: str
    ) -> None:
        """``_name``: the id/extensions of primitive ``name`` (a list for repeating ones)."""
        name = key[1:]
        child = table.keys.get(name)
        where = f"{path}.{name}"
        if child is None or child.kind != PRIMITIVE:
            self.error(f"{path}.{key}", "unknown element (not defined in FHIR R4 here)")
            return
        has_value = value.get(name) is not None
        items = item if child.many and type(item) is list else [item]
        if child.many != (type(item) is list):
            self.error(where, "the _element of a primitive must be shaped like its value")
            return
        values = value.get(name)
        for i, one in enumerate(items):
            at = f"{where}[{i}]" if child.many else where
            if one is None:
                continue
            if type(one) is not dict:
                self.error(at, "the _element of a primitive must be a JSON object")
                continue
            present = (
                type(values) is list and i < len(values) and values[i] is not None
                if child.many
                else has_value
            )
            if not present and not one.get("extension"):
                self.error(
                    at,
                    "constraint ele-1 failed: All FHIR elements must have a @value or children",
                    "invariant",
                )
            if self._element is not None:
                self.walk(one, self._element, at)

    def _constraints(self, value: Mapping[str, Any], table: Table, path: str) -> None:
        for key in table.unimplemented:
            if (table.name, key) not in self.notes:
                self.notes[(table.name, key)] = (
                    path,
                    f"invariant {key} of {table.name} not evaluated (no implementation here)",
                )
        resource = self._resource
        for key, severity, human, holds, guard in table.invariants:
            if guard is not None and guard not in value:
                continue
            if not holds(value, resource):
                self.add(
                    "information"
                    if key in BEST_PRACTICE
                    else "warning"
                    if severity == "warning"
                    else "error",
                    "invariant",
                    path,
                    f"constraint {key} failed: {human}",
                )

    # -- codes ---------------------------------------------------------------------------------

    def _code(self, child: Child, code: str, where: str) -> None:
        assert child.binding is not None  # noqa: S101 - checked by the caller
        strength, expansion = child.binding
        if expansion.unexpandable:
            self._unexpandable(strength, expansion.url, expansion.unexpandable, where)
        elif code not in expansion.codes:
            self._not_in(strength, expansion.url, where)

    def _concept(self, child: Child, item: Mapping[str, Any], where: str) -> None:
        assert child.binding is not None  # noqa: S101 - checked by the caller
        strength, expansion = child.binding
        if expansion.unexpandable:
            self._unexpandable(strength, expansion.url, expansion.unexpandable, where)
            return
        codings = item.get("coding") if child.type == "CodeableConcept" else [item]
        # a system or code of the wrong JSON type is reported by the walk; it matches nothing
        pairs = [
            (c.get("system"), c.get("code"))
            for c in (codings if type(codings) is list else ())
            if type(c) is dict and "code" in c
        ]
        pairs = [(s, c) for s, c in pairs if type(c) is str and (s is None or type(s) is str)]
        if not pairs:
            if strength == "required":
                self.add(
                    "error",
                    "required",
                    where,
                    f"no code; one from value set {expansion.url} is required",
                )
            return
        if not any(pair in expansion.pairs for pair in pairs):
            self._not_in(strength, expansion.url, where)

    def _not_in(self, strength: str, url: str, where: str) -> None:
        severity, message = not_in_value_set(strength, url)
        self.add(severity, "code-invalid", where, message)

    def _unexpandable(self, strength: str, url: str, why: str, where: str) -> None:
        self.note(
            f"vs:{url}",
            where,
            f"{strength} binding to value set {url} not checked: {why}",
        )

    def _coding(self, coding: Mapping[str, Any], where: str) -> None:
        system, code = coding.get("system"), coding.get("code")
        if type(system) is not str or type(code) is not str:
            return
        known = self.core.code_systems.get(system)
        if known is not None:
            if code not in known:
                self.add("error", "code-invalid", where, f"unknown code in code system {system}")
        elif system in EXTERNAL_SYSTEMS:
            self.note(
                f"cs:{system}",
                where,
                f"codes of {EXTERNAL_SYSTEMS[system]} ({system}) are not checked: that needs a "
                "terminology server",
            )
        elif self._project_codes(system) is None:
            self.note(
                f"cs:{system}",
                where,
                f"codes of {system} are not checked: the code system is not available offline",
            )
        if self._on_coding is not None:
            self._on_coding(coding, where)

    # -- references ----------------------------------------------------------------------------

    def _reference(self, child: Child, item: Mapping[str, Any], where: str) -> None:
        reference = item.get("reference")
        if type(reference) is not str:
            return
        target = self.target_type(reference)
        if target is None:
            if self.in_bundle and reference.startswith("urn:"):
                self.add(
                    "error",
                    "not-found",
                    f"{where}.reference",
                    "urn:uuid reference to no entry of the bundle",
                )
            return
        allowed = child.targets
        if allowed is not None and target not in allowed:
            self.add(
                "error",
                "structure",
                f"{where}.reference",
                f"the reference points to a {target}, but only {', '.join(sorted(allowed))} "
                "may be referenced here",
            )

    def target_type(self, reference: str) -> str | None:
        """The resource type a reference points to, when it can be told (None: it cannot)."""
        if reference.startswith("urn:"):
            return self.full_urls.get(reference)
        if reference.startswith("#"):
            return None
        found = self.full_urls.get(reference)
        if found is not None:
            return found
        parts = reference.split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        if len(parts) >= 2 and self.core.is_resource_type(parts[-2]):
            return parts[-2]
        return None
