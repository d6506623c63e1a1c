"""fhir_ivc: FHIR R4 / mCODE STU4 adapter for leiomyosarcoma of the inferior vena cava.

The main entry points, from case record to server and back::

    case = Case.model_validate(record)              # the case record (pydantic)
    bundles = build_bundles(case)                   # .transaction, .collection, .sources
    issues = validate_bundle(bundles.transaction)   # [] when it conforms
    with FhirClient(url) as client:
        results = push_many(client, [(case.case_id, bundles.transaction, bundles.sources)])
        pulled = pull_many(client, PatientQuery.by_system(case.source_system))
    read_case(resources).case == case               # FHIR -> case, with a loss report

``import fhir_ivc`` does not import the command line's typer or rich.
"""

from fhir_ivc._version import __version__
from fhir_ivc.bundle import CaseBundles, CaseReadResult, build_bundles, case_from_bundle, read_case
from fhir_ivc.client import AsyncFhirClient, BasicAuth, BearerTokenAuth, FhirClient, RetryPolicy
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
from fhir_ivc.exchange import CasePushResult, PatientPull, PatientQuery, pull_many, push_many
from fhir_ivc.model import Case
from fhir_ivc.validation import validate_bundle, validate_resource

__all__ = [
    "AsyncFhirClient",
    "AuthError",
    "AuthFailedError",
    "BasicAuth",
    "BearerTokenAuth",
    "Case",
    "CaseBundles",
    "CaseInputError",
    "CasePushResult",
    "CaseReadResult",
    "ConfigError",
    "ConflictError",
    "FhirClient",
    "FhirHttpError",
    "FhirIvcError",
    "MappingError",
    "NotFoundError",
    "PatientPull",
    "PatientQuery",
    "RequestError",
    "ResourceInvalidError",
    "RetryPolicy",
    "RetryableHttpError",
    "TransportError",
    "UnmappedCodeError",
    "__version__",
    "build_bundles",
    "case_from_bundle",
    "pull_many",
    "push_many",
    "read_case",
    "validate_bundle",
    "validate_resource",
]
