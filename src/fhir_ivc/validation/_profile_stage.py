"""The profile stage: a walk of each resource along the element trees of its profiles.

Cardinalities, slices, fixed and pattern values, bindings, target profiles, the resource-level
invariants of each claimed profile (and of the differentials it derives from), extensions
against their definitions and the codes of the project's code systems (these two as hooks of
the structure walk, which meets every extension and coding anyway).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson

from fhir_ivc.validation._invariants import Invariant
from fhir_ivc.validation._issues import Issue, Severity, make_issue, not_in_value_set
from fhir_ivc.validation._profile import (
    Item,
    Node,
    Profile,
    build_matcher,
    conforms,
    type_suffix,
)
from fhir_ivc.validation._structure import Structure
from fhir_ivc.validation._terminology import Member, Terminology

__all__ = ["Run", "claims"]


class Profiles(Protocol):
    """What the stage needs of the validator (``_validator.Validator``)."""

    terminology: Terminology
    clean: set[tuple[int, bytes]]

    def chain(self, url: str) -> tuple[Profile, ...]: ...
    def datatype_root(self, url: str) -> Node | None: ...
    def target_type(self, url: str) -> str | None: ...
    def invariants_of(
        self, profile: Profile
    ) -> list[tuple[str, Invariant | None, Severity, str]]: ...


_INDEX: Final = re.compile(r"\[\d+\]")
_MAX_CLEAN: Final = 1 << 15
#: datatypes whose binding is checked, by JSON suffix
_CODED: Final = frozenset({"CodeableConcept", "Coding", "Quantity", "Code", "String", "Uri"})


def claims(resource: Mapping[str, Any]) -> list[str]:
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    return [p for p in claimed if isinstance(p, str)] if isinstance(claimed, list) else []


@dataclass
class Run:
    """One validation call: the issues found and what is reported once per call."""

    validator: Profiles
    structure: Structure | None = None
    issues: list[Issue] = field(default_factory=list)
    profile: str = ""
    #: profiles a containing element requires of a resource, by the resource's path
    required_profiles: dict[str, list[str]] = field(default_factory=dict)
    #: value sets not available offline: url -> (first place, how many bindings)
    missing: dict[str, list[Any]] = field(default_factory=dict)
    #: slices that cannot be evaluated: (profile, element) -> (first place, slice, why)
    unevaluable: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)

    #: how many things this run recorded (issues, notes): the memo of the structure walk
    #: keeps only subtrees that recorded nothing here
    events: int = 0

    def add(self, severity: Severity, code: str, where: str, message: str) -> None:
        self.events += 1
        self.issues.append(make_issue(severity, code, where, message, self.profile or None))

    def recorded(self) -> int:
        return self.events

    def finish(self) -> list[Issue]:
        """The issues, duplicates removed, with the once-per-call notes at the end."""
        for url, (where, count) in self.missing.items():
            self.profile = ""
            what = "1 required binding" if count == 1 else f"{count} required bindings"
            self.add(
                "information",
                "not-supported",
                where,
                f"{what} to value set {url} not checked: the value set is not available offline",
            )
        for (profile, _), (where, name, why) in self.unevaluable.items():
            self.profile = profile
            self.add("information", "not-supported", where, f"slice '{name}' not evaluated: {why}")
        seen: set[tuple[str, str, tuple[str, ...], str]] = set()
        out = []
        for issue in self.issues:
            key = (
                issue["severity"],
                issue["code"],
                tuple(issue["expression"]),
                issue["diagnostics"],
            )
            if key not in seen:
                seen.add(key)
                out.append(issue)
        return out

    # -- one resource ----------------------------------------------------------------------------

    def resource(self, resource: Mapping[str, Any], profiles: Iterable[str], root: str) -> None:
        """Profiles, extensions and codings of one resource (not of the resources inside it)."""
        root = root or str(resource.get("resourceType", "Resource"))
        done: set[str] = set()
        invariants: set[str] = set()
        for i, claimed in enumerate(profiles):
            where = f"{root}.meta.profile[{i}]"
            self.profile = ""
            chain = self.validator.chain(claimed)
            if not chain:
                self.add(
                    "warning",
                    "not-supported",
                    where,
                    f"profile {claimed} is not known here, so it was not checked",
                )
                continue
            first = chain[0]
            if first.kind != "resource" or first.type != resource.get("resourceType"):
                self.profile = first.url
                self.add(
                    "error",
                    "structure",
                    where,
                    f"the profile is for {first.type or 'an unknown type'} ({first.kind}), "
                    f"not for a {resource.get('resourceType')} resource",
                )
                continue
            _, _, version = claimed.partition("|")
            if version and first.version and version != first.version:
                self.profile = first.url
                self.add(
                    "warning",
                    "not-supported",
                    where,
                    f"version {version} is not available; checked against {first.version}",
                )
            for profile in chain:
                if profile.url in done:
                    continue
                done.add(profile.url)
                self.profile = profile.url
                self.children(profile.root, resource, root)
                self.invariants(profile, resource, root, invariants)
        self.profile = ""

    def invariants(
        self, profile: Profile, resource: Mapping[str, Any], root: str, seen: set[str]
    ) -> None:
        for key, implemented, severity, message in self.validator.invariants_of(profile):
            if key in seen:
                continue
            seen.add(key)
            if implemented is None:
                self.add("information", "not-supported", root, message)
            elif not implemented.holds(resource):
                self.add(severity, "invariant", root, message)

    # -- the element tree ---------------------------------------------------------------------

    def children(self, node: Node, value: Mapping[str, Any], path: str) -> None:
        for child in node.children.values():
            name = child.name
            if (
                not child.choice
                and value.get(name) is None
                and value.get("_" + name) is None
                and child.min <= 0
                and not child.slices
            ):
                continue  # absent, and nothing requires it: element() would find nothing
            self.element(child, _items(value, name, path), f"{path}.{name}")

    def element(self, node: Node, items: list[Item], where: str) -> None:
        self.cardinality(node, items, where, "")
        for item in items:
            self.item(node, item)
        if node.slices:
            self.slices(node, items, where)

    def cardinality(self, node: Node, items: Sequence[Item], where: str, label: str) -> None:
        """min at the element (it is absent), max at the first item too many."""
        count = len(items)
        if count < node.min:
            self.add(
                "error",
                "required",
                where,
                f"{label}minimum required = {node.min}, but only found {count}",
            )
        if node.max is not None and count > node.max:
            self.add(
                "error",
                "structure",
                items[node.max].path,
                f"{label}maximum allowed = {node.max}, but found {count}",
            )

    def slices(self, node: Node, items: list[Item], where: str) -> None:
        slicing = node.slicing
        if slicing is None:
            for name in node.slices:
                self._unevaluable(where, name, "the element has no slicing")
            return
        buckets: dict[str, list[Item]] = {name: [] for name in node.slices}
        unmatched: list[Item] = []
        skipped: set[str] = set()
        for slice_node in node.slices.values():
            if slice_node.matcher is None:
                slice_node.matcher = build_matcher(
                    slice_node, slicing, self.validator.terminology, self.validator.datatype_root
                )
            if slice_node.matcher[0] is None:
                skipped.add(slice_node.slice_name or "")
                self._unevaluable(where, slice_node.slice_name or "", slice_node.matcher[1])
        for item in items:
            found: Member = False
            for name, slice_node in node.slices.items():
                matcher = slice_node.matcher[0] if slice_node.matcher else None
                if matcher is None:
                    continue
                got = matcher(item)
                if got:
                    buckets[name].append(item)
                    found = True
                    break
                if got is None:
                    found = None
            if found is False:
                unmatched.append(item)
        for name, slice_node in node.slices.items():
            if name in skipped:
                continue
            self.cardinality(slice_node, buckets[name], where, f"slice '{name}': ")
            for item in buckets[name]:
                self.item(slice_node, item)
        if slicing.rules == "closed" and not skipped:
            for item in unmatched:
                self.add("error", "structure", item.path, "matches no slice of a closed slicing")

    def _unevaluable(self, where: str, name: str, why: str) -> None:
        """Note once per call and element (indexes ignored) that a slice was not evaluated."""
        self.events += 1
        key = (self.profile, f"{_INDEX.sub('', where)}:{name}")
        self.unevaluable.setdefault(key, (where, name, why))

    def item(self, node: Node, item: Item) -> None:
        """:meth:`_item` through the memo: a JSON object found clean for ``node`` before is not
        checked again (never one with a reference inside: targets resolve in the bundle)."""
        value = item.value
        if type(value) is dict and "resourceType" not in value:
            try:
                text: bytes | None = orjson.dumps(value)
            except TypeError:  # an integer beyond 64 bits: the structure stage reports it
                text = None
            if text is not None and b'"reference"' not in text:
                key = (id(node), text)
                memo = self.validator.clean
                if key in memo:
                    return
                events = self.events
                self._item(node, item)
                if self.events == events:
                    if len(memo) >= _MAX_CLEAN:
                        memo.clear()
                    memo.add((id(node), memoryview(text).tobytes()))  # see Structure._remembered
                return
        self._item(node, item)

    def _item(self, node: Node, item: Item) -> None:
        value = item.value
        if node.choice and node.types:
            suffix = item.key[len(node.name) - 3 :]
            suffixes = node.suffixes
            if suffixes is None:
                suffixes = node.suffixes = frozenset(type_suffix(t) for t in node.types)
            if suffix not in suffixes:
                allowed = ", ".join(node.types)
                self.add("error", "structure", item.path, f"type not allowed here (only {allowed})")
                return
        if value is None:  # a primitive with only an extension sibling
            return
        if node.fixed_kind and not conforms(node, value):
            self.add(
                "error",
                "value",
                item.path,
                f"does not match the {node.fixed_kind} value of the profile: {_show(node.fixed)}",
            )
        if node.binding is not None:
            self.binding(node, item)
        if node.target_profiles and isinstance(value, dict):
            self.target(node, value, item.path)
        if isinstance(value, dict):
            if "resourceType" in value:  # a resource in an element (Bundle.entry.resource)
                if node.profiles:
                    self.required_profiles.setdefault(item.path, []).extend(node.profiles)
                return
            if node.profiles and not {"Extension", "Reference"} & set(node.types):
                for url in node.profiles:  # a datatype profile (e.g. an Identifier profile)
                    for profile in self.validator.chain(url):
                        saved, self.profile = self.profile, profile.url
                        self.children(profile.root, value, item.path)
                        self.profile = saved
            if node.children:
                self.children(node, value, item.path)

    def target(self, node: Node, reference: Mapping[str, Any], where: str) -> None:
        """The reference points to a resource of a type the targetProfiles allow."""
        text = reference.get("reference")
        if not isinstance(text, str) or self.structure is None:
            return
        found = self.structure.target_type(text)
        if found is None:
            return
        allowed = {self.validator.target_type(p) for p in node.target_profiles}
        if None in allowed or "Resource" in allowed or found in allowed:
            return
        self.add(
            "error",
            "structure",
            f"{where}.reference",
            f"the reference points to a {found}, but the profile allows only "
            f"{', '.join(sorted(str(a) for a in allowed))}",
        )

    def binding(self, node: Node, item: Item) -> None:
        assert node.binding is not None  # noqa: S101 - checked by the caller
        strength, url = node.binding.strength, node.binding.value_set
        if strength not in ("required", "extensible"):
            return
        kind = _kind(node, item)
        if kind not in _CODED:
            return
        value = item.value
        where = item.path
        pairs: list[tuple[object, str]]  # a system may be any JSON value (mypyc checks types)
        if kind == "CodeableConcept" and isinstance(value, dict):
            codings = value.get("coding")
            pairs = [
                (c.get("system"), c["code"])
                for c in (codings if type(codings) is list else ())
                if isinstance(c, dict) and isinstance(c.get("code"), str)
            ]
        elif kind in ("Coding", "Quantity") and isinstance(value, dict):
            if kind == "Quantity":
                where += ".code"
            code = value.get("code")
            pairs = [(value.get("system"), code)] if isinstance(code, str) else []
        elif isinstance(value, str):
            pairs = [(None, value)]
        else:
            return
        terminology = self.validator.terminology
        if not terminology.has_value_set(url):
            if strength == "required":
                self.events += 1
                self.missing.setdefault(url, [where, 0])[1] += 1
            return
        if not pairs:
            if strength == "required":
                self.add(
                    "error", "required", where, f"no code; one from value set {url} is required"
                )
            return
        result: Member = False
        reason = ""
        for system, code in pairs:
            got, why = terminology.member(url, system if isinstance(system, str) else None, code)
            if got:
                return
            if got is None:
                result, reason = None, why
        if result is None:
            if strength == "required":
                self.add(
                    "warning",
                    "not-supported",
                    where,
                    f"cannot check binding offline: {reason} (value set {url}, required)",
                )
            return
        severity, message = not_in_value_set(strength, url)
        self.add(severity, "code-invalid", where, message)

    # -- extensions and codings anywhere (hooks of the structure walk) ------------------------

    def extension(self, ext: Mapping[str, Any], path: str) -> None:
        """An extension met anywhere: against its definition, when it is known here."""
        url = ext.get("url")
        if isinstance(url, str) and "/" in url:
            saved = self.profile
            for profile in self.validator.chain(url):
                if profile.type == "Extension":
                    self.profile = profile.url
                    self.children(profile.root, ext, path)
            self.profile = saved

    def coding(self, coding: Mapping[str, Any], path: str) -> None:
        """A coding met anywhere: codes and displays of the project's code systems."""
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return
        table = self.validator.terminology.codes(system)
        if table is None:
            return
        saved, self.profile = self.profile, ""
        if code not in table:
            self.add("error", "code-invalid", path, f"unknown code in code system {system}")
        else:
            display = coding.get("display")
            expected = table[code]
            if isinstance(display, str) and expected and _words(display) != _words(expected):
                self.add(
                    "warning",
                    "code-invalid",
                    f"{path}.display",
                    f"not the display code system {system} gives this code ({expected!r})",
                )
        self.profile = saved


def _words(text: str) -> str:
    return " ".join(text.split()).casefold()


def _kind(node: Node, item: Item) -> str:
    """The datatype of an item, by its JSON key (choices), its one type, or its shape."""
    if node.name.endswith("[x]"):
        return item.key[len(node.name) - 3 :]
    if len(node.types) == 1:
        return type_suffix(node.types[0])
    value = item.value
    if isinstance(value, str):
        return "Code"
    if isinstance(value, dict):
        if "coding" in value or ("text" in value and "code" not in value):
            return "CodeableConcept"
        if "value" in value or "unit" in value:
            return "Quantity"
        return "Coding"
    return ""


#: ``Item(key, value, path)`` without the Python-level ``__new__`` of a NamedTuple (a frame
#: per item of every element the profile stage walks)
_new_item: Final = functools.partial(tuple.__new__, Item)


def _items(value: Mapping[str, Any], name: str, path: str) -> list[Item]:
    """The items of element ``name`` in ``value`` (``x[x]``: every ``xType`` present)."""
    new = _new_item
    if name.endswith("[x]"):
        prefix = name[:-3]
        size = len(prefix)
        out = []
        for key in value:
            bare = key[1:] if key.startswith("_") else key
            if len(bare) > size and bare.startswith(prefix) and bare[size].isupper():
                if key.startswith("_") and bare in value:
                    continue  # counted with its value
                out.append(new((bare, value.get(bare), f"{path}.{bare}")))
        return out
    got = value.get(name)
    if got is None:
        extension = value.get("_" + name)
        if extension is None:
            return []
        if isinstance(extension, list):
            return [new((name, None, f"{path}.{name}[{i}]")) for i in range(len(extension))]
        return [new((name, None, f"{path}.{name}"))]
    if isinstance(got, list):
        return [new((name, v, f"{path}.{name}[{i}]")) for i, v in enumerate(got)]
    return [new((name, got, f"{path}.{name}"))]


def _show(fixed: Any) -> str:
    """A short form of a fixed/pattern value (profile data, never instance data)."""
    if isinstance(fixed, dict):
        codings = fixed.get("coding") if "coding" in fixed else [fixed]
        shown = [
            f"{c.get('system', '')}#{c.get('code', '')}"
            for c in codings or ()
            if isinstance(c, dict) and "code" in c
        ]
        if shown:
            return ", ".join(shown)
    return repr(fixed) if not isinstance(fixed, str) else fixed
