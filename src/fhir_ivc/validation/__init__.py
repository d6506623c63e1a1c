"""Offline profile validation of FHIR resources and bundles (the Python-side fast checks).

Checks every resource against the StructureDefinitions it claims in ``meta.profile`` (mCODE
STU4, shipped with this package, and the project's own package from ``profiles/``): FHIR
structure (:mod:`fhir_ivc.fhir.validate`), cardinalities of elements and of the slices that can
be evaluated, fixed and pattern values, required (and extensible) bindings to value sets that
can be expanded offline, extensions against their definitions, codes of the project's code
systems, and the invariants implemented in :mod:`fhir_ivc.validation._invariants`.
docs/validation.md lists what is checked and what is left to the HL7 validator, which remains
the authority.

Issues are OperationOutcome.issue-shaped dicts (:class:`Issue`). ``min_severity`` chooses what
is returned: ``"error"`` (the default, what a gate such as ``fhir-ivc map --validate`` needs:
only problems that make the resource non-conformant), ``"warning"`` or ``"information"``
(everything, including what could not be checked offline).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fhir_ivc.validation._issues import (
    SEVERITIES,
    Issue,
    Severity,
    at_least,
    make_issue,
    to_operation_outcome,
)
from fhir_ivc.validation._package import registry
from fhir_ivc.validation._validator import Validator

logger = logging.getLogger(__name__)
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")

__all__ = [
    "SEVERITIES",
    "Issue",
    "Severity",
    "to_operation_outcome",
    "validate_bundle",
    "validate_resource",
    "validator",
]


@functools.cache
def validator() -> Validator:
    """The validator over the packaged conformance resources (built once, then reused)."""
    return Validator(registry())


def validate_resource(
    resource: Mapping[str, Any],
    *,
    profiles: Sequence[str] | None = None,
    min_severity: Severity = "error",
) -> list[Issue]:
    """Issues of ``resource`` against ``profiles`` (default: the ones it claims in meta.profile).

    Expressions start with the resource type (``Observation.component[0].valueQuantity.code``).
    A Bundle is validated as by :func:`validate_bundle`, ``profiles`` applying to the Bundle.
    """
    if not isinstance(resource, Mapping):
        raise TypeError("a resource is a JSON object (a mapping)")
    with _contained(resource.get("resourceType")) as issues:
        issues.extend(validator().check_resource(resource, profiles, ""))
    return at_least(issues, min_severity)


def validate_bundle(bundle: Mapping[str, Any], *, min_severity: Severity = "error") -> list[Issue]:
    """Issues of ``bundle`` and of every entry resource, against the profiles each claims.

    Expressions start ``Bundle.entry[i].resource`` for entries. With the default
    ``min_severity="error"`` an empty list means the bundle conforms as far as this validator
    can tell: what ``fhir-ivc map --validate`` requires of every bundle it writes.
    """
    if not isinstance(bundle, Mapping):
        raise TypeError("a bundle is a JSON object (a mapping)")
    with _contained("Bundle") as issues:
        issues.extend(validator().check_bundle(bundle))
    return at_least(issues, min_severity)


#: what a check may raise on a value of an unexpected shape (a list where a coding belongs...)
_SHAPE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)


@contextlib.contextmanager
def _contained(resource_type: object) -> Iterator[list[Issue]]:
    """Turn a crash of a check on hostile input into an error issue: never "valid", never a
    traceback (issue 12). The fuzz test in tests/validation/test_fuzz.py looks for them."""
    issues: list[Issue] = []
    try:
        yield issues
    except (*_SHAPE_ERRORS, RecursionError) as exc:
        ok = isinstance(resource_type, str) and _TYPE.fullmatch(resource_type)
        where = resource_type if ok and isinstance(resource_type, str) else "Resource"
        logger.warning("validator failed on a %s: %s", where, type(exc).__name__)
        issues[:] = [
            make_issue(
                "error",
                "exception",
                where,
                f"the resource could not be checked: an element has an unexpected shape "
                f"(the validator raised {type(exc).__name__})",
            )
        ]
