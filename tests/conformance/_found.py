"""The HL7 engine's issues as a flat list, and their normalised keys for the reviewed list.

Nothing is classified or dropped: :func:`collect` returns every issue the engine listed, one
:class:`Found` per issue, with the file and the bundle entry it belongs to.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ERROR_SEVERITIES = frozenset({"error", "fatal"})


@dataclass(frozen=True)
class Found:
    """One issue of one bundle entry (entry -1: the bundle itself, or a standalone resource)."""

    file: str
    entry: int
    resource_type: str
    issue: Mapping[str, Any]

    @property
    def is_error(self) -> bool:
        return self.issue["severity"] in ERROR_SEVERITIES


def collect(report: Mapping[str, Any]) -> list[Found]:
    """Every issue of the engine ``report``, in report order."""
    found: list[Found] = []
    for file in report["files"]:
        path = file["path"]
        for resource in file["resources"]:
            rtype = resource.get("resourceType", "")
            found.extend(Found(path, -1, rtype, issue) for issue in resource["issues"])
            for entry in resource.get("entries", []):
                etype = entry.get("resourceType", "")
                found.extend(Found(path, entry["index"], etype, i) for i in entry["issues"])
    return found


def describe(f: Found) -> str:
    """One line for a failure message: file, entry, location, message, message id."""
    i = f.issue
    return (
        f"{f.file.rsplit('/', 1)[-1]} entry {f.entry} {f.resource_type} "
        f"@ {i.get('location')}: {i.get('message')} [{i.get('messageId')}]"
    )


# ------------------------------------------------------------------------------ normalisation

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HASH = re.compile(r"@[0-9a-f]{5,}")
_INDEX = re.compile(r"\[\d+\]")
_COMMENT = re.compile(r"/\*.*?\*/")
_ENTRY = re.compile(r"^Bundle\.entry\[\*\]\.resource")


def normal_location(location: str, resource_type: str) -> str:
    """``Bundle.entry[3].resource/*Observation/ab*/.component[0].code`` ->
    ``Observation.component[*].code`` (the entry's type instead of the bundle path)."""
    text = _INDEX.sub("[*]", _COMMENT.sub("", location))
    return _ENTRY.sub(resource_type or "Bundle.entry.resource", text)


def normal_message(message: str) -> str:
    """The message with case-specific ids (uuids, object hashes) replaced by ``*``."""
    return _HASH.sub("@*", _UUID.sub("*", message)).strip()


def key(found: Found) -> str:
    """One line of a reviewed list (without count and reason): tab-separated, stable across
    cases: severity, message id, normalised location, normalised message."""
    i = found.issue
    parts = [
        i["severity"],
        i.get("messageId") or "-",
        normal_location(i.get("location", ""), found.resource_type),
        normal_message(i.get("message", "")),
    ]
    return "\t".join(p.replace("\t", " ").replace("\n", " ") for p in parts)


def tally(items: Iterable[Found]) -> Counter[str]:
    return Counter(key(f) for f in items)
