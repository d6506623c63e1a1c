"""Helpers for testing and benchmarking the adapter: synthetic cases (no real patient data)."""

from fhir_ivc.testing.synth import DEFAULT_SOURCE_SYSTEM, synthetic_case, synthetic_cases

__all__ = ["DEFAULT_SOURCE_SYSTEM", "synthetic_case", "synthetic_cases"]
