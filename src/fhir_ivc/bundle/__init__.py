"""Bundle assembly (case → transaction / collection Bundle) and disassembly (Bundle → case)."""

from fhir_ivc.bundle.assemble import CaseBundles, build_bundles, map_case

__all__ = ["CaseBundles", "build_bundles", "map_case"]
