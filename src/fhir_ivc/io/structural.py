"""Minimal structural check of an emitted bundle, until ``fhir_ivc.validation`` has its own.

``fhir-ivc map --validate`` (the default) calls ``fhir_ivc.validation.validate_bundle`` when that
exists, else :func:`structural_check`: every entry resource is re-parsed with the
``fhir.resources.R4B`` models, and the bundle's own structure is checked (``fullUrl`` present
and unique, transaction entries carry a request, every ``urn:uuid:`` reference resolves to an
entry). It does not check required bindings or profiles.

``fhir.resources`` is imported lazily here, so the CLI does not pay for it with ``--no-validate``.
STYLE.md keeps ``fhir.resources`` imports in ``fhir_ivc.fhir``: this module is a stopgap that
moves to ``fhir_ivc.validation`` when that package gains its checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic import ValidationError

from fhir_ivc.io._paths import format_loc

__all__ = ["structural_check"]

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
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})


def structural_check(bundle: Mapping[str, Any]) -> list[str]:
    """Problems found in ``bundle`` (empty when it is structurally sound).

    Each problem names the entry (``entry[3] Observation``) and the element path inside it.
    Messages never quote element values.
    """
    from fhir.resources.R4B import get_fhir_model_class

    if bundle.get("resourceType") != "Bundle":
        return ["resourceType is not 'Bundle'"]
    issues: list[str] = []
    bundle_type = bundle.get("type")
    if bundle_type not in _BUNDLE_TYPES:
        issues.append("type: missing or not a Bundle type code")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return [*issues, "entry: not a list"]
    full_urls: set[str] = set()
    resources: list[tuple[str, Mapping[str, Any]]] = []
    for i, entry in enumerate(entries):
        where = f"entry[{i}]"
        if not isinstance(entry, Mapping):
            issues.append(f"{where}: not an object")
            continue
        full_url = entry.get("fullUrl")
        if not isinstance(full_url, str) or not full_url:
            issues.append(f"{where}.fullUrl: missing")
        elif full_url in full_urls:
            issues.append(f"{where}.fullUrl: used by an earlier entry too")
        else:
            full_urls.add(full_url)
        if bundle_type == "transaction":
            request = entry.get("request")
            if not isinstance(request, Mapping) or request.get("method") not in _METHODS:
                issues.append(f"{where}.request.method: missing or not an HTTP verb")
            elif not request.get("url"):
                issues.append(f"{where}.request.url: missing")
        resource = entry.get("resource")
        if not isinstance(resource, Mapping):
            issues.append(f"{where}.resource: missing")
            continue
        resource_type = resource.get("resourceType")
        where = f"{where} {resource_type}"
        try:
            model = get_fhir_model_class(str(resource_type))
        except (KeyError, ValueError):
            issues.append(f"{where}: unknown resourceType")
            continue
        try:
            model.model_validate(dict(resource))
        except ValidationError as exc:
            issues += [
                f"{where}.{format_loc(err['loc'])}: {err['msg']}"
                for err in exc.errors(include_url=False, include_input=False)
            ]
        resources.append((where, resource))
    for where, resource in resources:
        for path, reference in _references(resource, ""):
            if reference.startswith("urn:uuid:") and reference not in full_urls:
                issues.append(f"{where}.{path}: reference to an entry that is not in the bundle")
    return issues


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, reference)`` for every ``Reference.reference`` string inside ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key == "reference" and isinstance(item, str):
                yield child, item
            else:
                yield from _references(item, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(item, f"{path}[{i}]")
