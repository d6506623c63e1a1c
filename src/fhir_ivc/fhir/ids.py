"""The FHIR R4 patterns of a resource type name and of the ``id`` datatype, written once for
every module that checks or parses a ``Type/id``."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ID_PATTERN", "PATIENT_REF", "TYPE_PATTERN", "is_id", "is_resource_type"]

#: a resource type name: an upper-case letter, then letters (2 to 64 characters)
TYPE_PATTERN: Final = r"[A-Z][A-Za-z]{1,63}"
#: the R4 ``id`` datatype: ``[A-Za-z0-9\-\.]{1,64}``
ID_PATTERN: Final = r"[A-Za-z0-9\-.]{1,64}"
#: a reference to a Patient, relative or absolute (``[base]/Patient/1``); group 1 is the id
PATIENT_REF: Final = re.compile(rf"(?:^|/)Patient/({ID_PATTERN})$")

_TYPE: Final = re.compile(TYPE_PATTERN)
_ID: Final = re.compile(ID_PATTERN)


def is_resource_type(text: str) -> bool:
    """Whether all of ``text`` is a resource type name (no trailing newline, unlike ``^…$``)."""
    return _TYPE.fullmatch(text) is not None


def is_id(text: str) -> bool:
    """Whether all of ``text`` is an R4 ``id``."""
    return _ID.fullmatch(text) is not None
