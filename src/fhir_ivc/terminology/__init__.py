"""Terminology: code system URIs, the project's local code systems, and every code table.

Mappers never inline a code: they use ``fhir_ivc.terminology.codes``.
"""

from fhir_ivc.terminology._tables import Code, CodeTable, LocalCodeSystem
from fhir_ivc.terminology.local import LOCAL_CODE_SYSTEMS
from fhir_ivc.terminology.systems import CANONICAL, local_system, project_url

__all__ = [
    "CANONICAL",
    "LOCAL_CODE_SYSTEMS",
    "Code",
    "CodeTable",
    "LocalCodeSystem",
    "local_system",
    "project_url",
]
