"""The ``--validate`` fallback: structural problems of a bundle, as one line each.

``fhir-ivc map --validate`` (the default) calls ``fhir_ivc.validation.validate_bundle`` when that
exists (profile and binding checks), else :func:`structural_check`, which reports the errors of
:func:`fhir_ivc.fhir.validate.validate_bundle`: every entry resource re-parsed with the
``fhir.resources`` R4B models, ``fullUrl`` present and unique, transaction entries with a
request, every ``urn:uuid:`` reference resolving to an entry. It does not check profiles or
bindings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["structural_check"]


def structural_check(bundle: Mapping[str, Any]) -> list[str]:
    """Errors found in ``bundle`` (empty when it is structurally sound), one line each.

    Each line starts with the FHIRPath-like expression of the problem
    (``Bundle.entry[3].resource.code: Field required``) and never quotes element values.
    """
    # imported here: fhir.resources is slow to import, and only fhir_ivc.fhir may import it
    from fhir_ivc.fhir.validate import validate_bundle

    return [
        str(issue.get("diagnostics") or issue.get("expression") or "invalid")
        for issue in validate_bundle(bundle)
        if issue.get("severity") in ("error", "fatal")
    ]
