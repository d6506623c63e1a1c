"""Re-validation of emitted resources with the ``fhir.resources`` R4B models.

The mappers build resources as plain dicts; this module is the one place that parses them back
with ``fhir.resources`` (the only module allowed to import it) and reports what the models
reject as OperationOutcome-shaped issues::

    {"severity": "error", "code": "structure", "expression": ["Observation.code"],
     "diagnostics": "Observation.code: Field required"}

It checks FHIR *structure* (element names, cardinality the models enforce, primitive formats,
choice types), not profiles or bindings. ``validate_bundle`` adds the bundle's own checks:
``fullUrl`` present and unique, transaction entries carry a request, and every ``urn:uuid``
reference (anywhere, extensions included) resolves to an entry.

Complex elements are parsed bottom-up, one at a time, so a failure deep inside a resource is
reported with its full path, once. Speed: parsing a resource costs a few hundred microseconds,
mostly per nested element; an element that was already parsed successfully (same model class,
same JSON) is reused instead of parsed again: codings, profile metas and most extensions repeat
across the resources of a bundle and across cases. Parsing is a pure function of (class,
value), so reuse never changes a verdict. Diagnostics never quote element values (they may be
clinical data).

One gap of the R4B ``Extension`` model is bridged: it has no ``_value<Type>`` siblings, although
FHIR JSON allows them (an extension whose dateTime is absent carries a data-absent-reason there,
as the adapter writes for relative dates). Those siblings are parsed as primitive extensions on
their own instead of being rejected as unknown elements.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

__all__ = ["clear_cache", "validate_bundle", "validate_resource"]

#: pydantic error type -> OperationOutcome issue-type code (http://hl7.org/fhir/issue-type)
_CODES: Final = {
    "missing": "required",
    "model_field_validation.missing": "required",
    "extra_forbidden": "structure",
    "list_type": "structure",
    "dict_type": "structure",
    "model_type": "structure",
    "model_attributes_type": "structure",
    "fhir-validation-wrong-resource-type": "structure",
    "model_validation_format": "structure",
}
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})
_BUNDLE_TYPES: Final = frozenset(
    {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    }
)
#: bound on the parsed-element cache (entries; ~20 MB), cleared when full. Reuse halves the
#: validation time (synthetic cases: 11.9 -> 5.8 ms CPU each); 16k entries keep 99 % of that
#: gain at a quarter of the memory of 64k (most entries are case-specific references).
_MAX_CACHED: Final = 1 << 14
_cache: dict[tuple[type[Any], str], Any] = {}
_CHILDREN: dict[type[Any], dict[str, type[Any]]] = {}


def issue(code: str, expression: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """One OperationOutcome.issue as a dict."""
    return {
        "severity": severity,
        "code": code,
        "expression": [expression],
        "diagnostics": f"{expression}: {diagnostics}",
    }


def validate_resource(resource: Mapping[str, Any], *, at: str = "") -> list[dict[str, Any]]:
    """Issues found when ``resource`` is parsed with its ``fhir.resources`` R4B model.

    An empty list means the models accept it. ``at`` prefixes every expression (for example
    ``Bundle.entry[3].resource``); by default expressions start with the resource type.
    """
    resource_type = resource.get("resourceType")
    root = at or str(resource_type or "Resource")
    model = _model(resource_type) if isinstance(resource_type, str) else None
    if model is None:
        return [issue("structure", f"{root}.resourceType" if at else root, "unknown resourceType")]
    _, errors = _check(model, resource, ())
    return [_from_error(root, err) for err in errors]


def validate_bundle(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Issues of ``bundle`` itself and of every entry resource (expressions ``Bundle.entry[i]…``).

    Checks: the Bundle element structure (entry resources are checked one by one with their own
    models), ``type`` a bundle-type code, ``fullUrl`` present and unique, ``request`` with an
    HTTP verb and a url on every transaction/batch entry, and every ``urn:uuid:`` reference
    resolving to an entry's fullUrl.
    """
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        return [issue("structure", "Bundle", "not a Bundle")]
    entries = bundle.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        return [issue("structure", "Bundle.entry", "not a list")]
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    shell["entry"] = [
        {k: v for k, v in e.items() if k != "resource"} if isinstance(e, Mapping) else e
        for e in entries
    ]
    issues = validate_resource(shell, at="Bundle")
    bundle_type = bundle.get("type")
    if bundle_type not in _BUNDLE_TYPES:
        issues.append(issue("value", "Bundle.type", "missing or not a bundle-type code"))
    full_urls: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, Mapping):
            continue  # reported by the shell check
        full_url = entry.get("fullUrl")
        if not isinstance(full_url, str) or not full_url:
            issues.append(issue("required", f"{where}.fullUrl", "missing"))
        elif full_url in full_urls:
            issues.append(
                issue(
                    "duplicate",
                    f"{where}.fullUrl",
                    f"the same fullUrl as Bundle.entry[{full_urls[full_url]}]",
                )
            )
        else:
            full_urls[full_url] = i
        request = entry.get("request")
        if request is not None or bundle_type in ("transaction", "batch"):
            if not isinstance(request, Mapping) or request.get("method") not in _METHODS:
                issues.append(issue("required", f"{where}.request.method", "missing or not a verb"))
            elif not request.get("url"):
                issues.append(issue("required", f"{where}.request.url", "missing"))
        resource = entry.get("resource")
        if resource is None:
            if bundle_type not in ("batch-response", "transaction-response", "history"):
                issues.append(issue("required", f"{where}.resource", "missing"))
        elif not isinstance(resource, Mapping):
            issues.append(issue("structure", f"{where}.resource", "not a JSON object"))
        else:
            issues += validate_resource(resource, at=f"{where}.resource")
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        for path, reference in references(resource):
            if reference.startswith("urn:uuid:") and reference not in full_urls:
                issues.append(
                    issue(
                        "not-found",
                        f"Bundle.entry[{i}].resource{path}",
                        "urn:uuid reference to no entry of the bundle",
                    )
                )
    return issues


def references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(path, reference)`` for every ``reference`` string anywhere inside ``value``.

    Paths are FHIRPath-like suffixes (``.extension[0].valueReference.reference``).
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}"
            if key == "reference" and isinstance(item, str):
                yield child, item
            else:
                yield from references(item, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from references(item, f"{path}[{i}]")


def clear_cache() -> None:
    """Forget the parsed elements kept for reuse (for tests and memory-bound callers)."""
    _cache.clear()


@functools.cache
def _model(resource_type: str) -> type[Any] | None:
    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        return None
    if not (isinstance(model, type) and issubclass(model, Resource)):
        return None  # a datatype name such as "Coding" is not a resource type
    return model


def _children(model: type[Any]) -> dict[str, type[Any]]:
    """JSON name -> model class of every complex (non-resource) element of ``model``."""
    out = _CHILDREN.get(model)
    if out is None:
        out = {}
        for name, field in model.model_fields.items():
            element = _element_class(field.annotation)
            if element is not None and not issubclass(element, Resource):
                out[field.alias or name] = element
        _CHILDREN[model] = out
    return out


def _element_class(annotation: Any) -> type[Any] | None:
    stack = [annotation]
    while stack:
        current = stack.pop()
        get_class = getattr(current, "get_model_klass", None)
        if get_class is not None:
            found = get_class()
            return found if isinstance(found, type) else None
        stack.extend(typing.get_args(current))
    return None


#: ``value<Type>`` names of Extension.value[x]; their ``_value<Type>`` siblings are legal FHIR
#: JSON (e.g. a data-absent-reason on an extension's dateTime) that the R4B Extension model lacks
_EXTENSION_VALUES: Final = frozenset(
    f.alias or n for n, f in Extension.model_fields.items() if (f.alias or n).startswith("value")
)
Errors = list[dict[str, Any]]


def _check(model: type[Any], data: Mapping[str, Any], loc: tuple[Any, ...]) -> tuple[Any, Errors]:
    """Parse ``data`` with ``model``: (the instance or None, pydantic errors with full ``loc``).

    Complex children are parsed first, one by one (reusing earlier results), and handed to the
    parent as instances; a child that fails is reported with its own path and left out of the
    parent, whose errors about that child are then dropped as duplicates.
    """
    errors: Errors = []
    work = dict(data)
    left_out: set[str] = set()
    if model is Extension:
        for key in [k for k in data if k.startswith("_value") and k[1:] in _EXTENSION_VALUES]:
            if isinstance(data[key], dict):
                errors += _element(FHIRPrimitiveExtension, data[key], (*loc, key))[1]
            else:
                errors.append({"type": "dict_type", "loc": (*loc, key), "msg": "not an object"})
            del work[key]
    children = _children(model)
    for key, value in data.items():
        element = children.get(key)
        if element is None or key not in work:
            continue
        if isinstance(value, dict):
            parsed, child_errors = _element(element, value, (*loc, key))
            items: Any = parsed
        elif isinstance(value, list):
            items, child_errors = [], []
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    parsed, item_errors = _element(element, item, (*loc, key, i))
                    child_errors += item_errors
                    items.append(parsed)
                else:
                    items.append(item)
        else:
            continue
        if child_errors:
            errors += child_errors
            left_out.add(key)
            del work[key]
        else:
            work[key] = items
    try:
        instance = model.model_validate(work)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            err_loc = tuple(err["loc"])
            if not (err_loc and err_loc[0] in left_out):
                errors.append({**err, "loc": (*loc, *err_loc)})
        return None, errors
    return (None if errors else instance), errors


def _element(model: type[Any], value: dict[str, Any], loc: tuple[Any, ...]) -> tuple[Any, Errors]:
    """:func:`_check` for a complex element, reusing a success seen before (same class, JSON)."""
    key = (model, repr(value))
    parsed = _cache.get(key)
    if parsed is not None:
        return parsed, []
    parsed, errors = _check(model, value, loc)
    if not errors:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[key] = parsed
    return parsed, errors


def _from_error(root: str, err: Mapping[str, Any]) -> dict[str, Any]:
    path = _fhirpath(root, err.get("loc", ()))
    return issue(_CODES.get(str(err.get("type")), "value"), path, str(err.get("msg", "invalid")))


def _fhirpath(root: str, loc: Sequence[Any]) -> str:
    """``("component", 0, "_valueString")`` -> ``Observation.component[0].valueString``."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = str(part)
            if name.startswith("_") and len(name) > 1:  # a primitive's extension sibling
                name = name[1:]
            path += f".{name}"
    return path
