"""The R4 core invariants, written in Python and pinned to their FHIRPath.

Each entry implements one ``ElementDefinition.constraint`` of the R4 core (the key, the exact
expression it implements, a function of the element's JSON object and of the resource it is in).
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
    return any(value.get(n) not in (None, [], {}) for n in names)


def _value_keys(value: Mapping[str, Any], prefix: str) -> bool:
    """``value.exists()`` of a choice ``prefix[x]``: a ``prefixType`` (or ``_prefixType``) key."""
    size = len(prefix)
    for key in value:
        bare = key[1:] if key[:1] == "_" else key
        if len(bare) > size and bare.startswith(prefix) and bare[size].isupper():
            return True
    return False


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    codings = concept.get("coding")
    return [c for c in codings if isinstance(c, Mapping)] if isinstance(codings, list) else []


def _coded(concept: Any, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(concept))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- Element / Extension / datatypes -----------------------------------------------------------


def _ext_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # extension.exists() != value.exists()   (Extension's only keys: id, url, extension, value*)
    nested = bool(e.get("extension"))
    for key in e:
        if key.startswith(("value", "_value")):
            return not nested
    return nested


def _per_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # start.hasValue().not() or end.hasValue().not() or (start <= end)
    start, end = e.get("start"), e.get("end")
    if not isinstance(start, str) or not isinstance(end, str) or len(start) != len(end):
        return True  # absent, or of different precision: the comparison is empty
    return start <= end


def _rng_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # low.empty() or high.empty() or (low <= high)
    low, high = e.get("low"), e.get("high")
    if not isinstance(low, Mapping) or not isinstance(high, Mapping):
        return True
    a, b = low.get("value"), high.get("value")
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return True
    if low.get("code") != high.get("code"):
        return True  # different units: not comparable without UCUM
    return bool(a <= b)


def _qty_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # code.empty() or system.exists()
    return not _has(e, "code") or _has(e, "system")


def _age_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # (code.exists() or value.empty()) and (system.empty() or system = %ucum)
    #   and (value.empty() or value.hasValue().not() or value > 0)
    value = e.get("value")
    if not (_has(e, "code") or value is None):
        return False
    if _has(e, "system") and e.get("system") != _UCUM:
        return False
    return not isinstance(value, int | float) or value > 0


def _ref_1(e: Mapping[str, Any], resource: Mapping[str, Any]) -> bool:
    # reference.startsWith('#').not() or
    #   (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))
    reference = e.get("reference")
    if not isinstance(reference, str) or not reference.startswith("#"):
        return True
    ids = {c.get("id") for c in _list(resource.get("contained")) if isinstance(c, Mapping)}
    return reference[1:] in ids


# --- DomainResource ----------------------------------------------------------------------------


def _contained(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in _list(resource.get("contained")) if isinstance(c, Mapping)]


def _dom_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # contained.contained.empty()
    return not any(_has(c, "contained") for c in _contained(e))


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            elif key != "contained":
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _dom_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # contained.where((('#'+id in (%resource.descendants().reference | ...canonical | uri | url))
    #   or descendants().where(reference = '#').exists() ...).not()).trace('unmatched', id).empty()
    # implemented for references (the canonical/uri forms are not used by the adapter's types)
    contained = _contained(e)
    if not contained:
        return True
    refs = set(_references(e))
    for c in contained:
        if f"#{c.get('id')}" not in refs and "#" not in set(_references(c)):
            return False
    return True


def _dom_4(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()
    for c in _contained(e):
        meta = c.get("meta")
        if isinstance(meta, Mapping) and _has(meta, "versionId", "lastUpdated"):
            return False
    return True


def _dom_5(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # contained.meta.security.empty()
    for c in _contained(e):
        meta = c.get("meta")
        if isinstance(meta, Mapping) and _has(meta, "security"):
            return False
    return True


def _dom_6(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # text.`div`.exists()  (a best-practice warning)
    text = e.get("text")
    return isinstance(text, Mapping) and _has(text, "div")


# --- resources the adapter emits ---------------------------------------------------------------


def _obs_6(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # dataAbsentReason.empty() or value.empty()
    return not _has(e, "dataAbsentReason") or not _value_keys(e, "value")


def _obs_7(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())
    #   .empty()
    if not _value_keys(e, "value"):
        return True
    own = _codings(e.get("code"))
    # intersect compares whole Codings (every element of them)
    return not any(
        coding in own
        for component in _list(e.get("component"))
        if isinstance(component, Mapping)
        for coding in _codings(component.get("code"))
    )


def _obs_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # low.exists() or high.exists() or text.exists()
    return _has(e, "low", "high", "text")


def _con_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # summary.exists() or assessment.exists()
    return _has(e, "summary", "assessment")


def _con_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # code.exists() or detail.exists()
    return _has(e, "code", "detail")


def _entered_in_error(e: Mapping[str, Any]) -> bool:
    return _coded(e.get("verificationStatus"), _VERIFICATION, ("entered-in-error",))


def _con_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # clinicalStatus.exists() or verificationStatus.coding.where(system='...condition-ver-status'
    #   and code = 'entered-in-error').exists() or category.select($this='problem-list-item')
    #   .empty()
    # ($this is a CodeableConcept, never equal to a string: the last term is always true)
    return True


def _con_4(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # abatement.empty() or clinicalStatus.coding.where(system='...condition-clinical'
    #   and (code='resolved' or code='remission' or code='inactive')).exists()
    if not _value_keys(e, "abatement"):
        return True
    return _coded(e.get("clinicalStatus"), _CLINICAL, ("resolved", "remission", "inactive"))


def _con_5(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # verificationStatus.coding.where(system='...condition-ver-status' and
    #   code='entered-in-error').empty() or clinicalStatus.empty()
    return not _entered_in_error(e) or not _has(e, "clinicalStatus")


def _mad_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # dose.exists() or rate.exists()
    return _has(e, "dose") or _value_keys(e, "rate")


def _pat_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # name.exists() or telecom.exists() or address.exists() or organization.exists()
    return _has(e, "name", "telecom", "address", "organization")


# --- Bundle ------------------------------------------------------------------------------------


def _entries(bundle: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [e for e in _list(bundle.get("entry")) if isinstance(e, Mapping)]


def _bdl_1(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # total.empty() or (type = 'searchset') or (type = 'history')
    return "total" not in e or e.get("type") in ("searchset", "history")


def _bdl_2(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # entry.search.empty() or (type = 'searchset')
    return e.get("type") == "searchset" or not any(_has(x, "search") for x in _entries(e))


def _bdl_3(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction'
    #   or %resource.type = 'history'))
    wanted = e.get("type") in ("batch", "transaction", "history")
    return all(_has(x, "request") == wanted for x in _entries(e))


def _bdl_4(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # entry.all(response.exists() = (%resource.type = 'batch-response' or
    #   %resource.type = 'transaction-response' or %resource.type = 'history'))
    wanted = e.get("type") in ("batch-response", "transaction-response", "history")
    return all(_has(x, "response") == wanted for x in _entries(e))


def _bdl_7(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)
    #   .isDistinct()
    if e.get("type") == "history":
        return True
    seen = set()
    for entry in _entries(e):
        full_url = entry.get("fullUrl")
        if full_url is None:
            continue
        resource = entry.get("resource")
        meta = resource.get("meta") if isinstance(resource, Mapping) else None
        version = meta.get("versionId") if isinstance(meta, Mapping) else None
        key = f"{full_url}{version or ''}"
        if key in seen:
            return False
        seen.add(key)
    return True


def _bdl_9(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # type = 'document' implies (identifier.system.exists() and identifier.value.exists())
    if e.get("type") != "document":
        return True
    identifier = e.get("identifier")
    return (
        isinstance(identifier, Mapping) and _has(identifier, "system") and _has(identifier, "value")
    )


def _bdl_10(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # type = 'document' implies (timestamp.hasValue())
    return e.get("type") != "document" or isinstance(e.get("timestamp"), str)


def _first_is(e: Mapping[str, Any], kind: str, resource_type: str) -> bool:
    if e.get("type") != kind:
        return True
    entries = _entries(e)
    first = entries[0].get("resource") if entries else None
    return isinstance(first, Mapping) and first.get("resourceType") == resource_type


def _bdl_11(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # type = 'document' implies entry.first().resource.is(Composition)
    return _first_is(e, "document", "Composition")


def _bdl_12(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # type = 'message' implies entry.first().resource.is(MessageHeader)
    return _first_is(e, "message", "MessageHeader")


def _bdl_5(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # resource.exists() or request.exists() or response.exists()
    return _has(e, "resource", "request", "response")


def _bdl_8(e: Mapping[str, Any], _: Mapping[str, Any]) -> bool:
    # fullUrl.contains('/_history/').not()
    full_url = e.get("fullUrl")
    return not isinstance(full_url, str) or "/_history/" not in full_url


_DOM3: Final = (
    "contained.where((('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = "
    "'#').exists()).not()).trace('unmatched', id).empty()"
)

#: invariants that hold whenever this JSON key is absent (a shortcut, same verdict)
GUARDS: Final = {
    "dom-2": "contained",
    "dom-3": "contained",
    "dom-4": "contained",
    "dom-5": "contained",
    "qty-3": "code",
    "ref-1": "reference",
    "rng-2": "low",
    "per-1": "start",
    "bdl-1": "total",
}

#: key -> (the FHIRPath implemented, the implementation)
BASE_INVARIANTS: Final[dict[str, tuple[str, Holds]]] = {
    "ext-1": ("extension.exists() != value.exists()", _ext_1),
    "per-1": ("start.hasValue().not() or end.hasValue().not() or (start <= end)", _per_1),
    "rng-2": ("low.empty() or high.empty() or (low <= high)", _rng_2),
    "qty-3": ("code.empty() or system.exists()", _qty_3),
    "age-1": (
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and "
        "(value.empty() or value.hasValue().not() or value > 0)",
        _age_1,
    ),
    "ref-1": (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))",
        _ref_1,
    ),
    "dom-2": ("contained.contained.empty()", _dom_2),
    "dom-3": (_DOM3, _dom_3),
    "dom-4": ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", _dom_4),
    "dom-5": ("contained.meta.security.empty()", _dom_5),
    "dom-6": ("text.`div`.exists()", _dom_6),
    "obs-3": ("low.exists() or high.exists() or text.exists()", _obs_3),
    "obs-6": ("dataAbsentReason.empty() or value.empty()", _obs_6),
    "obs-7": (
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())"
        ".empty()",
        _obs_7,
    ),
    "con-1": ("summary.exists() or assessment.exists()", _con_1),
    "con-2": ("code.exists() or detail.exists()", _con_2),
    "con-3": (
        "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology."
        "hl7.org/CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or "
        "category.select($this='problem-list-item').empty()",
        _con_3,
    ),
    "con-4": (
        "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/"
        "CodeSystem/condition-clinical' and (code='resolved' or code='remission' or "
        "code='inactive')).exists()",
        _con_4,
    ),
    "con-5": (
        "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/"
        "condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()",
        _con_5,
    ),
    "mad-1": ("dose.exists() or rate.exists()", _mad_1),
    "pat-1": (
        "name.exists() or telecom.exists() or address.exists() or organization.exists()",
        _pat_1,
    ),
    "bdl-1": ("total.empty() or (type = 'searchset') or (type = 'history')", _bdl_1),
    "bdl-2": ("entry.search.empty() or (type = 'searchset')", _bdl_2),
    "bdl-3": (
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = "
        "'transaction' or %resource.type = 'history'))",
        _bdl_3,
    ),
    "bdl-4": (
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
        "'transaction-response' or %resource.type = 'history'))",
        _bdl_4,
    ),
    "bdl-5": ("resource.exists() or request.exists() or response.exists()", _bdl_5),
    "bdl-7": (
        "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta."
        "versionId).isDistinct()",
        _bdl_7,
    ),
    "bdl-8": ("fullUrl.contains('/_history/').not()", _bdl_8),
    "bdl-9": (
        "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
        _bdl_9,
    ),
    "bdl-10": ("type = 'document' implies (timestamp.hasValue())", _bdl_10),
    "bdl-11": ("type = 'document' implies entry.first().resource.is(Composition)", _bdl_11),
    "bdl-12": ("type = 'message' implies entry.first().resource.is(MessageHeader)", _bdl_12),
}
