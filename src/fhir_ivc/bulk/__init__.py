"""FHIR Bulk Data: logical ids, NDJSON for ``$import``, the ``$import`` and ``$export`` clients."""

from fhir_ivc.bulk.ids import ID_MODES, IdMode

__all__ = ["ID_MODES", "IdMode"]
