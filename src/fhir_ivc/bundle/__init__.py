"""Bundle assembly (case → transaction / collection Bundle) and disassembly (Bundle → case)."""

from fhir_ivc.bundle.assemble import CaseBundles, build_bundles, map_case
from fhir_ivc.bundle.disassemble import CaseReadResult, Loss, case_from_bundle, read_case

__all__ = [
    "CaseBundles",
    "CaseReadResult",
    "Loss",
    "build_bundles",
    "case_from_bundle",
    "map_case",
    "read_case",
]
