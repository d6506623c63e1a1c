"""The R4 core invariants, written in Python and pinned to their FHIRPath.

Each function implements one ``ElementDefinition.constraint`` of the R4 core, a function of the
element's JSON object and of the resource it is in, declared once by the ``@_invariant`` line
above it: the key, the exact expression it implements, the key whose absence lets it hold.
The structure stage evaluates those whose expression in ``r4/core.json`` is the pinned one; a
constraint with no implementation here (or another expression) is reported once per call as
"not evaluated" (information), never passed silently. ``ele-1`` (every element has a value or
children) is checked by the walk itself, on every JSON object and primitive.

FHIRPath semantics kept: an empty comparison is not a failure (``start <= end`` with one of them
of another precision is empty, so per-1 holds), ``A implies B`` fails only when A is true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

__all__ = ["BASE_INVARIANTS", "BEST_PRACTICE", "GUARDS"]

#: warnings of the specification that are best-practice advice: reported as information (a
#: narrative on every resource of a bundle is not what the adapter's consumers want)
BEST_PRACTICE: Final = frozenset({"dom-6"})

Holds = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_UCUM: Final = "http://unitsofmeasure.org"


def _has(value: Mapping[str, Any], *names: str) -> bool:
    for name in names:  # noqa: SIM110 - no generator per call: a hot path
        if value.get(name) not in (None, [], {}):
            return True
    return False


def _exists_any(*names: str) -> Holds:
    """``a.exists() or b.exists() or …`` over the element's own keys ``names``."""

    def holds(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
        return _has(e, *names)

    return holds


def _value_keys(value: Mapping[str, Any], prefix: str) -> bool:
    """``value.exists()`` of a choice ``prefix[x]``: a ``prefixType`` (or ``_prefixType``) key."""
    size = len(prefix)
    for key in value:
        bare = key[1:] if key[:1] == "_" else key
        if len(bare) > size and bare.startswith(prefix) and bare[size].isupper():
            return True
    return False


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []


def _coded(concept: Any, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(concept))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


#: key -> (the FHIRPath implemented, the implementation); filled by :func:`_invariant`
BASE_INVARIANTS: Final[dict[str, tuple[str, Holds]]] = {}
#: invariants that hold whenever this JSON key is absent (a shortcut, same verdict)
GUARDS: Final[dict[str, str]] = {}


def _invariant(key: str, expression: str, *, guard: str | None = None) -> Callable[[Holds], Holds]:
    """Declare the function below as the implementation of invariant ``key``, pinned to its
    FHIRPath ``expression``; ``guard``: a JSON key without which the invariant holds."""

    def register(holds: Holds) -> Holds:
        if key in BASE_INVARIANTS:
            raise ValueError(f"invariant {key} is implemented twice")
        BASE_INVARIANTS[key] = (expression, holds)
        if guard is not None:
            GUARDS[key] = guard
        return holds

    return register


# --- Element / Extension / datatypes -----------------------------------------------------------


@_invariant("ext-1", "extension.exists() != value.exists()")
def _ext_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # Extension's only keys: id, url, extension, value*
    nested = bool(e.get("extension"))
    for key in e:
        if key.startswith(("value", "_value")):
            return not nested
    return nested


@_invariant(
    "per-1", "start.hasValue().not() or end.hasValue().not() or (start <= end)", guard="start"
)
def _per_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    start, end = e.get("start"), e.get("end")
    if not isinstance(start, str) or not isinstance(end, str) or len(start) != len(end):
        return True  # absent, or of different precision: the comparison is empty
    return start <= end


@_invariant("rng-2", "low.empty() or high.empty() or (low <= high)", guard="low")
def _rng_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    low, high = e.get("low"), e.get("high")
    if not isinstance(low, dict) or not isinstance(high, dict):
        return True
    a, b = low.get("value"), high.get("value")
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return True
    if low.get("code") != high.get("code"):
        return True  # different units: not comparable without UCUM
    return bool(a <= b)


@_invariant("qty-3", "code.empty() or system.exists()", guard="code")
def _qty_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return not _has(e, "code") or _has(e, "system")


@_invariant(
    "age-1",
    "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and "
    "(value.empty() or value.hasValue().not() or value > 0)",
)
def _age_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    value = e.get("value")
    if not (_has(e, "code") or value is None):
        return False
    if _has(e, "system") and e.get("system") != _UCUM:
        return False
    return not isinstance(value, int | float) or value > 0


@_invariant(
    "ref-1",
    "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
    "%rootResource.contained.id.trace('ids'))",
    guard="reference",
)
def _ref_1(e: Mapping[str, Any], resource: Mapping[str, Any]) -> bool:
    reference = e.get("reference")
    if not isinstance(reference, str) or not reference.startswith("#"):
        return True
    ids = {c.get("id") for c in _list(resource.get("contained")) if isinstance(c, dict)}
    return reference[1:] in ids


# --- DomainResource ----------------------------------------------------------------------------


def _contained(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in _list(resource.get("contained")) if isinstance(c, dict)]


@_invariant("dom-2", "contained.contained.empty()", guard="contained")
def _dom_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return not any(_has(c, "contained") for c in _contained(e))


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            elif key != "contained":
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


_DOM3: Final = (
    "contained.where((('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = "
    "'#').exists()).not()).trace('unmatched', id).empty()"
)


@_invariant("dom-3", _DOM3, guard="contained")
def _dom_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    contained = _contained(e)
    if not contained:
        return True
    refs = set(_references(e))
    for c in contained:
        if f"#{c.get('id')}" not in refs and "#" not in set(_references(c)):
            return False
    return True


@_invariant(
    "dom-4",
    "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
    guard="contained",
)
def _dom_4(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    for c in _contained(e):
        meta = c.get("meta")
        if isinstance(meta, dict) and _has(meta, "versionId", "lastUpdated"):
            return False
    return True


@_invariant("dom-5", "contained.meta.security.empty()", guard="contained")
def _dom_5(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    for c in _contained(e):
        meta = c.get("meta")
        if isinstance(meta, dict) and _has(meta, "security"):
            return False
    return True


@_invariant("dom-6", "text.`div`.exists()")
def _dom_6(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # a best-practice warning (BEST_PRACTICE)
    text = e.get("text")
    return isinstance(text, dict) and _has(text, "div")


# --- resources the adapter emits ---------------------------------------------------------------


@_invariant("obs-6", "dataAbsentReason.empty() or value.empty()")
def _obs_6(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return not _has(e, "dataAbsentReason") or not _value_keys(e, "value")


@_invariant(
    "obs-7",
    "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())"
    ".empty()",
)
def _obs_7(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    if not _value_keys(e, "value"):
        return True
    own = _codings(e.get("code"))
    # intersect compares whole Codings (every element of them)
    return not any(
        coding in own
        for component in _list(e.get("component"))
        if isinstance(component, dict)
        for coding in _codings(component.get("code"))
    )


_invariant("obs-3", "low.exists() or high.exists() or text.exists()")(
    _exists_any("low", "high", "text")
)
_invariant("con-1", "summary.exists() or assessment.exists()")(_exists_any("summary", "assessment"))
_invariant("con-2", "code.exists() or detail.exists()")(_exists_any("code", "detail"))


def _entered_in_error(e: Mapping[str, Any]) -> bool:
    return _coded(e.get("verificationStatus"), _VERIFICATION, ("entered-in-error",))


@_invariant(
    "con-3",
    "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology."
    "hl7.org/CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or "
    "category.select($this='problem-list-item').empty()",
)
def _con_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return True


@_invariant(
    "con-4",
    "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/"
    "CodeSystem/condition-clinical' and (code='resolved' or code='remission' or "
    "code='inactive')).exists()",
)
def _con_4(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    if not _value_keys(e, "abatement"):
        return True
    return _coded(e.get("clinicalStatus"), _CLINICAL, ("resolved", "remission", "inactive"))


@_invariant(
    "con-5",
    "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/"
    "condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()",
)
def _con_5(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return not _entered_in_error(e) or not _has(e, "clinicalStatus")


@_invariant("mad-1", "dose.exists() or rate.exists()")
def _mad_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return _has(e, "dose") or _value_keys(e, "rate")


_invariant(
    "pat-1", "name.exists() or telecom.exists() or address.exists() or organization.exists()"
)(_exists_any("name", "telecom", "address", "organization"))

# --- Bundle ------------------------------------------------------------------------------------


def _entries(bundle: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [e for e in _list(bundle.get("entry")) if isinstance(e, dict)]


@_invariant("bdl-1", "total.empty() or (type = 'searchset') or (type = 'history')", guard="total")
def _bdl_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return "total" not in e or e.get("type") in ("searchset", "history")


@_invariant("bdl-2", "entry.search.empty() or (type = 'searchset')")
def _bdl_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return e.get("type") == "searchset" or not any(_has(x, "search") for x in _entries(e))


def _entries_have_when(key: str, types: tuple[str, ...]) -> Holds:
    """``entry.all(key.exists() = (%resource.type = types[0] or …))``: every entry has ``key``
    exactly when the bundle's type is one of ``types``."""

    def holds(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
        wanted = e.get("type") in types
        return all(_has(x, key) == wanted for x in _entries(e))

    return holds


_invariant(
    "bdl-3",
    "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = "
    "'transaction' or %resource.type = 'history'))",
)(_entries_have_when("request", ("batch", "transaction", "history")))
_invariant(
    "bdl-4",
    "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
    "'transaction-response' or %resource.type = 'history'))",
)(_entries_have_when("response", ("batch-response", "transaction-response", "history")))


@_invariant(
    "bdl-7",
    "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta."
    "versionId).isDistinct()",
)
def _bdl_7(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    if e.get("type") == "history":
        return True
    seen = set()
    for entry in _entries(e):
        full_url = entry.get("fullUrl")
        if full_url is None:
            continue
        resource = entry.get("resource")
        meta = resource.get("meta") if isinstance(resource, dict) else None
        version = meta.get("versionId") if isinstance(meta, dict) else None
        key = f"{full_url}{version or ''}"
        if key in seen:
            return False
        seen.add(key)
    return True


@_invariant(
    "bdl-9", "type = 'document' implies (identifier.system.exists() and identifier.value.exists())"
)
def _bdl_9(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    if e.get("type") != "document":
        return True
    identifier = e.get("identifier")
    return isinstance(identifier, dict) and _has(identifier, "system") and _has(identifier, "value")


@_invariant("bdl-10", "type = 'document' implies (timestamp.hasValue())")
def _bdl_10(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    return e.get("type") != "document" or isinstance(e.get("timestamp"), str)


def _first_is(kind: str, resource_type: str) -> Holds:
    """``type = kind implies entry.first().resource.is(resource_type)``"""

    def holds(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
        if e.get("type") != kind:
            return True
        entries = _entries(e)
        first = entries[0].get("resource") if entries else None
        return isinstance(first, dict) and first.get("resourceType") == resource_type

    return holds


_invariant("bdl-11", "type = 'document' implies entry.first().resource.is(Composition)")(
    _first_is("document", "Composition")
)
_invariant("bdl-12", "type = 'message' implies entry.first().resource.is(MessageHeader)")(
    _first_is("message", "MessageHeader")
)
_invariant("bdl-5", "resource.exists() or request.exists() or response.exists()")(
    _exists_any("resource", "request", "response")
)


@_invariant("bdl-8", "fullUrl.contains('/_history/').not()")
def _bdl_8(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    full_url = e.get("fullUrl")
    return not isinstance(full_url, str) or "/_history/" not in full_url
