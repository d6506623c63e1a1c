"""fhir_ivc: FHIR R4 / mCODE STU4 adapter for leiomyosarcoma of the inferior vena cava."""

from fhir_ivc.exceptions import (
    AuthError,
    AuthFailedError,
    CaseInputError,
    ConfigError,
    ConflictError,
    FhirHttpError,
    FhirIvcError,
    MappingError,
    NotFoundError,
    RequestError,
    ResourceInvalidError,
    RetryableHttpError,
    TransportError,
    UnmappedCodeError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "AuthFailedError",
    "CaseInputError",
    "ConfigError",
    "ConflictError",
    "FhirHttpError",
    "FhirIvcError",
    "MappingError",
    "NotFoundError",
    "RequestError",
    "ResourceInvalidError",
    "RetryableHttpError",
    "TransportError",
    "UnmappedCodeError",
    "__version__",
]
