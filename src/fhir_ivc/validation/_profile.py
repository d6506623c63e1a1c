"""StructureDefinitions compiled to element trees, once per profile.

A profile's elements (its snapshot when it has one, else its differential) become a tree of
:class:`Node`: one node per element, children by JSON name (``value[x]`` for choices), slices by
name under the sliced element. A differential slice without its own ``slicing`` takes the
slicing of the same element in the base profile (or the FHIR default for extensions: by
``url``).

Each slice gets a matcher built from the slicing discriminators: which instance items belong to
it (``True``/``False``), or ``None`` when the discriminator cannot be evaluated offline (a
binding to a value set that is not available, ``exists`` or ``resolve()`` discriminators).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from fhir_ivc.validation._package import canonical
from fhir_ivc.validation._terminology import Member, Terminology

__all__ = [
    "Binding",
    "Item",
    "Node",
    "Profile",
    "Slicing",
    "compile_pattern",
    "compile_profile",
    "follow",
    "matches_pattern",
    "type_suffix",
]


class Item(NamedTuple):
    """One value of an element in an instance: its JSON key, value and concrete path."""

    key: str
    value: Any
    path: str


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str
    value_set: str


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[tuple[str, str], ...]
    rules: str


#: a slice matcher: does the item belong to the slice (None: cannot tell offline)
Matcher = Callable[[Item], Member]
_NO_MATCHER: Final[tuple[Matcher | None, str]] = (None, "")


@dataclass(eq=False, slots=True)
class Node:
    """One ElementDefinition; unset min/max (differentials) mean no constraint here."""

    name: str
    slice_name: str | None = None
    min: int = 0
    max: int | None = None
    types: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    #: targetProfile canonicals of a Reference element
    target_profiles: tuple[str, ...] = ()
    fixed_kind: str = ""  # "fixed" or "pattern" when the element has one
    fixed: Any = None
    binding: Binding | None = None
    slicing: Slicing | None = None
    constraints: tuple[Mapping[str, Any], ...] = ()
    children: dict[str, Node] = field(default_factory=dict)
    slices: dict[str, Node] = field(default_factory=dict)
    #: built on first use by the validator: (matcher or None, why it cannot be evaluated)
    matcher: tuple[Matcher | None, str] | None = None
    #: :func:`conforms` compiled for this node's fixed or pattern value (on first use)
    test: Callable[[Any], bool] | None = None
    #: a choice element ``x[x]`` (set from the name)
    choice: bool = False
    #: the JSON suffixes of :attr:`types` (on first use)
    suffixes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        self.choice = self.name.endswith("[x]")

    @property
    def label(self) -> str:
        """``component:tumorLongestDimension`` for a slice, the name otherwise."""
        return f"{self.name}:{self.slice_name}" if self.slice_name else self.name


@dataclass(eq=False, slots=True)
class Profile:
    """A compiled StructureDefinition."""

    url: str
    version: str
    type: str
    kind: str
    root: Node
    snapshot: bool
    base: str | None


def compile_profile(sd: Mapping[str, Any], base: Profile | None) -> Profile:
    """The element tree of ``sd`` (snapshot, else differential merged with ``base`` slicing)."""
    snapshot = bool((sd.get("snapshot") or {}).get("element"))
    elements = (sd.get("snapshot") if snapshot else sd.get("differential")) or {}
    root = _tree(str(sd.get("type", "")), elements.get("element") or ())
    if not snapshot:
        _inherit_slicing(root, base.root if base is not None else None)
    base_url = sd.get("baseDefinition")
    return Profile(
        url=canonical(str(sd.get("url", ""))),
        version=str(sd.get("version", "")),
        type=str(sd.get("type", "")),
        kind=str(sd.get("kind", "")),
        root=root,
        snapshot=snapshot,
        base=canonical(base_url) if isinstance(base_url, str) else None,
    )


def _tree(type_name: str, elements: Iterable[Mapping[str, Any]]) -> Node:
    root = Node(type_name)
    for element in elements:
        element_id = str(element.get("id") or element.get("path") or "")
        segments = element_id.split(".")
        node = root
        for segment in segments[1:]:
            name, _, slice_name = segment.partition(":")
            node = node.children.setdefault(name, Node(name))
            if slice_name:
                node = node.slices.setdefault(slice_name, Node(name, slice_name))
        _fill(node, element)
    return root


def _fill(node: Node, element: Mapping[str, Any]) -> None:
    if isinstance(element.get("min"), int):
        node.min = element["min"]
    maximum = element.get("max")
    if isinstance(maximum, str) and maximum != "*":
        node.max = int(maximum)
    types = element.get("type") or ()
    node.types = tuple(str(t.get("code")) for t in types)
    node.profiles = tuple(p for t in types for p in t.get("profile") or ())
    node.target_profiles = tuple(canonical(p) for t in types for p in t.get("targetProfile") or ())
    for key, value in element.items():
        if key.startswith("fixed") or key.startswith("pattern"):
            node.fixed_kind = "fixed" if key.startswith("fixed") else "pattern"
            node.fixed = value
    binding = element.get("binding") or {}
    if binding.get("strength") and isinstance(binding.get("valueSet"), str):
        node.binding = Binding(binding["strength"], canonical(binding["valueSet"]))
    slicing = element.get("slicing")
    if isinstance(slicing, dict):
        node.slicing = Slicing(
            tuple(
                (str(d.get("type")), str(d.get("path"))) for d in slicing.get("discriminator") or ()
            ),
            str(slicing.get("rules", "open")),
        )
    node.constraints = tuple(element.get("constraint") or ())


_URL_SLICING: Final = Slicing((("value", "url"),), "open")


def _inherit_slicing(node: Node, base: Node | None) -> None:
    """Give differential slices the slicing their element has in the base profile."""
    if node.slices and node.slicing is None:
        if base is not None and base.slicing is not None:
            node.slicing = base.slicing
        elif node.name in ("extension", "modifierExtension"):
            node.slicing = _URL_SLICING
    for name, child in node.children.items():
        _inherit_slicing(child, base.children.get(name) if base is not None else None)
    for name, slice_node in node.slices.items():
        base_slice = base.slices.get(name) if base is not None else None
        _inherit_slicing(slice_node, base_slice or (base if base is not None else None))


# --- values -------------------------------------------------------------------------------------


def type_suffix(type_code: str) -> str:
    """The JSON suffix of a type in a choice element: ``dateTime`` -> ``DateTime``."""
    return type_code[:1].upper() + type_code[1:]


def follow(value: Any, path: Sequence[str]) -> list[Any]:
    """The values at a dotted path below ``value`` (lists flattened, absent parts dropped)."""
    current = value if isinstance(value, list) else [value]
    for part in path:
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                got = item[part]
                nxt.extend(got if isinstance(got, list) else [got])
        current = nxt
    return current


def matches_pattern(pattern: Any, value: Any) -> bool:
    """FHIR ``pattern[x]`` semantics: every part of the pattern is present with that value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches_pattern(part, value[key]) for key, part in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(matches_pattern(part, item) for item in value) for part in pattern
        )
    return bool(pattern == value)


def compile_pattern(pattern: Any) -> Callable[[Any], bool]:
    """:func:`matches_pattern` with ``pattern`` fixed: a closure per part of the pattern, made
    once (no generator or recursion on the pattern per value; same verdicts, same order)."""
    if isinstance(pattern, dict):
        parts = tuple((key, compile_pattern(part)) for key, part in pattern.items())

        def by_dict(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for key, part in parts:  # noqa: SIM110 - no generator per value: a hot path
                if key not in value or not part(value[key]):
                    return False
            return True

        return by_dict
    if isinstance(pattern, list):
        items = tuple(compile_pattern(part) for part in pattern)

        def by_list(value: Any) -> bool:
            if not isinstance(value, list):
                return False
            for part in items:
                for item in value:
                    if part(item):
                        break
                else:
                    return False
            return True

        return by_list

    def by_equality(value: Any) -> bool:
        return bool(pattern == value)

    return by_equality


def conforms(node: Node, value: Any) -> bool:
    """Does ``value`` satisfy the fixed (exact) or pattern (partial) value of ``node``?"""
    test = node.test
    if test is None:
        fixed = node.fixed
        if node.fixed_kind == "fixed":

            def exact(value: Any) -> bool:
                return bool(fixed == value)

            test = exact
        else:
            test = compile_pattern(fixed)
        node.test = test
    return test(value)


# --- slice matchers -----------------------------------------------------------------------------


def build_matcher(
    slice_node: Node,
    slicing: Slicing,
    terminology: Terminology,
    datatype_root: Callable[[str], Node | None],
) -> tuple[Matcher | None, str]:
    """The matcher of one slice, or (None, why) when its discriminators cannot be evaluated."""
    parts: list[Matcher] = []
    for kind, path in slicing.discriminators:
        built, why = _discriminator(slice_node, kind, path, terminology, datatype_root)
        if built is None:
            return None, why
        parts.append(built)

    if len(parts) == 1:  # the usual slicing: its one discriminator's verdict is the slice's
        return parts[0], ""

    def matcher(item: Item) -> Member:
        result: Member = True
        for part in parts:
            got = part(item)
            if got is False:
                return False
            if got is None:
                result = None
        return result

    return matcher, ""


def _discriminator(
    slice_node: Node,
    kind: str,
    path: str,
    terminology: Terminology,
    datatype_root: Callable[[str], Node | None],
) -> tuple[Matcher | None, str]:
    if "(" in path:
        return None, f"its discriminator path {path!r} is not supported offline"
    steps = () if path == "$this" else tuple(path.split("."))
    target = _descend(slice_node, steps)
    if target is None:
        for profile in slice_node.profiles:  # the datatype profile the slice is constrained to
            root = datatype_root(profile)
            target = _descend(root, steps) if root is not None else None
            if target is not None:
                break
    if kind in ("value", "pattern"):
        return _value_matcher(slice_node, target, steps, path, terminology)
    if kind == "type":
        types = target.types if target is not None else ()
        if not types:
            return None, f"no type is given for its type discriminator {path!r}"
        return _type_matcher(steps, types), ""
    if kind == "profile":
        profiles = {canonical(p) for p in target.profiles} if target is not None else set()
        if not profiles:
            return None, f"no profile is given for its profile discriminator {path!r}"
        return _profile_matcher(steps, profiles), ""
    return None, f"{kind!r} discriminators are not supported offline"


def _descend(node: Node | None, steps: Sequence[str]) -> Node | None:
    for step in steps:
        if node is None:
            return None
        node = node.children.get(step)
    return node


def _value_matcher(
    slice_node: Node,
    target: Node | None,
    steps: tuple[str, ...],
    path: str,
    terminology: Terminology,
) -> tuple[Matcher | None, str]:
    if target is not None and target.fixed_kind:
        fixed = Node(target.name, fixed_kind=target.fixed_kind, fixed=target.fixed)

        def by_value(item: Item) -> Member:
            for v in follow(item.value, steps):  # noqa: SIM110 - a hot path, as above
                if conforms(fixed, v):
                    return True
            return False

        return by_value, ""
    if steps == ("url",) and slice_node.profiles:  # extension slices: the url is the profile
        urls = frozenset(canonical(p) for p in slice_node.profiles)

        def by_url(item: Item) -> Member:
            return any(isinstance(v, str) and v in urls for v in follow(item.value, steps))

        return by_url, ""
    binding = target.binding if target is not None else None
    if binding is not None and binding.strength == "required":
        if not terminology.has_value_set(binding.value_set):
            return (
                None,
                f"value set {binding.value_set} (its discriminator) is not available offline",
            )
        value_set = binding.value_set

        def by_binding(item: Item) -> Member:
            result: Member = False
            for value in follow(item.value, steps):
                for system, code in _codes(value):
                    got, _ = terminology.member(value_set, system, code)
                    if got:
                        return True
                    if got is None:
                        result = None
            return result

        return by_binding, ""
    return None, f"its discriminator {path!r} has no fixed value, pattern or required binding"


def _codes(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a CodeableConcept, Coding, Quantity or code."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    codings = value.get("coding") if "coding" in value else [value]
    return [
        (c.get("system") if isinstance(c.get("system"), str) else None, c["code"])
        for c in (codings if isinstance(codings, list) else ())
        if isinstance(c, dict) and isinstance(c.get("code"), str)
    ]


def _type_matcher(steps: tuple[str, ...], types: tuple[str, ...]) -> Matcher:
    suffixes = frozenset(type_suffix(t) for t in types)
    names = frozenset(types)

    def by_type(item: Item) -> Member:
        if not steps:  # $this of a choice element: the JSON key names the type
            return any(item.key.endswith(s) for s in suffixes)
        return any(
            isinstance(v, dict)
            and ("Resource" in names or (type(rt := v.get("resourceType")) is str and rt in names))
            for v in follow(item.value, steps)
        )

    return by_type


def _profile_matcher(steps: tuple[str, ...], profiles: set[str]) -> Matcher:
    """Approximation: the resource claims the profile in meta.profile."""

    def by_profile(item: Item) -> Member:
        for value in follow(item.value, steps):
            claimed = follow(value, ("meta", "profile"))
            if any(isinstance(p, str) and canonical(p) in profiles for p in claimed):
                return True
        return False

    return by_profile
