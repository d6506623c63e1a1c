"""HTTP clients for a FHIR R4 server: transport only.

:class:`AsyncFhirClient` is hand-written; :class:`FhirClient` is generated from it by
``scripts/unasync.py`` and has the same methods (``close`` instead of ``aclose``). Both share
the sans-I/O core in ``_core`` and derive from ``_shell.ClientShell`` (their set-up and paging),
so the generated twin carries only I/O. This package is the only one that imports ``httpx``, and it
imports no mapper: pushing and pulling cases is :mod:`fhir_ivc.exchange`, which drives it.
"""

from __future__ import annotations

from fhir_ivc.client._answers import CapabilityInfo
from fhir_ivc.client._async import AsyncFhirClient
from fhir_ivc.client._core import (
    DEFAULT_RESPONSE_LIMITS,
    DEFAULT_RETRY,
    FHIR_JSON,
    USER_AGENT,
    ResponseLimits,
    RetryPolicy,
)
from fhir_ivc.client._sync import FhirClient
from fhir_ivc.client.auth import BasicAuth, BearerTokenAuth, SmartBackendAuth
from fhir_ivc.client.smart import SigningKey, public_jwks

__all__ = [
    "DEFAULT_RESPONSE_LIMITS",
    "DEFAULT_RETRY",
    "FHIR_JSON",
    "USER_AGENT",
    "AsyncFhirClient",
    "BasicAuth",
    "BearerTokenAuth",
    "CapabilityInfo",
    "FhirClient",
    "ResponseLimits",
    "RetryPolicy",
    "SigningKey",
    "SmartBackendAuth",
    "public_jwks",
]
