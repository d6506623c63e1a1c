"""What a FHIR server's answers say: OperationOutcome issue texts, the CapabilityStatement, and
the entries of a transaction-response. Pure functions over JSON already received.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_ivc.exceptions import ConfigError, RequestError
from fhir_ivc.fhir.ids import ID_PATTERN

__all__ = [
    "CapabilityInfo",
    "EntryResponse",
    "first_issue_text",
    "issue_text",
    "parse_transaction_response",
    "server_resources",
    "server_rests",
    "strings_of",
]

JsonDict = dict[str, Any]

# --------------------------------------------------------------------------------------------
# OperationOutcome → message
# --------------------------------------------------------------------------------------------


def _issues(outcome: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not outcome or outcome.get("resourceType") != "OperationOutcome":
        return []
    issues = outcome.get("issue") or []
    return [i for i in issues if isinstance(i, Mapping)] if isinstance(issues, list) else []


def issue_text(issue: Mapping[str, Any]) -> str:
    """The human text of one OperationOutcome issue: diagnostics, else details, else code."""
    diagnostics = issue.get("diagnostics")
    if isinstance(diagnostics, str) and diagnostics.strip():
        return diagnostics.strip()
    details = issue.get("details")
    if isinstance(details, Mapping):
        text = details.get("text")
        if isinstance(text, str) and text.strip():
            return text.strip()
        for coding in details.get("coding") or []:
            if isinstance(coding, Mapping):
                display = coding.get("display") or coding.get("code")
                if isinstance(display, str) and display:
                    return display
    code = issue.get("code")
    return f"issue code {code!r}" if code else "no details given"


def first_issue_text(outcome: Mapping[str, Any] | None) -> str | None:
    """Message of the first OperationOutcome issue, or ``None`` without an OperationOutcome."""
    issues = _issues(outcome)
    return issue_text(issues[0]) if issues else None


# --------------------------------------------------------------------------------------------
# CapabilityStatement
# --------------------------------------------------------------------------------------------


def _op_name(operation: Mapping[str, Any]) -> str | None:
    name = operation.get("name")
    return name.lstrip("$") if isinstance(name, str) and name else None


def strings_of(items: Any, key: str | None = None) -> set[str]:
    """The strings of a statement's list ``items``: each item itself (``searchInclude``) or, with
    ``key``, each mapping item's ``item[key]`` (``interaction.code``, ``searchParam.name``)."""
    if key is None:
        return {i for i in items or [] if isinstance(i, str)}
    return {i[key] for i in items or [] if isinstance(i, Mapping) and isinstance(i.get(key), str)}


def server_rests(statement: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The ``rest`` entries of a CapabilityStatement in ``server`` mode."""
    for rest in statement.get("rest") or []:
        if isinstance(rest, Mapping) and rest.get("mode") == "server":
            yield rest


def server_resources(statement: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(type, rest.resource)`` of every typed resource entry of the server-mode ``rest``s."""
    for rest in server_rests(statement):
        for resource in rest.get("resource") or []:
            rtype = resource.get("type") if isinstance(resource, Mapping) else None
            if isinstance(rtype, str):
                yield rtype, resource


@dataclass(frozen=True)
class CapabilityInfo:
    """What a server's CapabilityStatement says it can do (the parts this project needs)."""

    fhir_version: str
    software: str | None
    interactions: Mapping[str, frozenset[str]]
    operations: Mapping[str, frozenset[str]]
    system_interactions: frozenset[str]
    system_operations: frozenset[str]
    #: resource types whose ``updateCreate`` is explicitly ``false``: a PUT to an id that does
    #: not exist yet is refused (client-assigned ids, ``--ids logical``)
    no_update_create: frozenset[str] = frozenset()

    @classmethod
    def from_statement(cls, statement: Mapping[str, Any]) -> CapabilityInfo:
        """Parse a CapabilityStatement; ``ConfigError`` unless it declares FHIR 4.0.x (R4)."""
        if statement.get("resourceType") != "CapabilityStatement":
            raise ConfigError(
                f"/metadata did not return a CapabilityStatement "
                f"(got {statement.get('resourceType')!r})"
            )
        version = statement.get("fhirVersion")
        if not isinstance(version, str) or not re.fullmatch(r"4\.0\.\d+", version):
            raise ConfigError(f"the server speaks FHIR {version!r}; fhir_ivc needs FHIR R4 (4.0.x)")
        software = statement.get("software")
        software_name = None
        if isinstance(software, Mapping) and isinstance(software.get("name"), str):
            software_name = " ".join(
                str(p) for p in (software.get("name"), software.get("version")) if p
            )
        interactions: dict[str, frozenset[str]] = {}
        operations: dict[str, frozenset[str]] = {}
        system_interactions: set[str] = set()
        system_operations: set[str] = set()
        no_update_create: set[str] = set()
        for rtype, resource in server_resources(statement):
            codes = strings_of(resource.get("interaction"), "code")
            ops = {n for o in resource.get("operation") or [] if (n := _op_name(o))}
            interactions[rtype] = interactions.get(rtype, frozenset()) | codes
            operations[rtype] = operations.get(rtype, frozenset()) | ops
            if resource.get("updateCreate") is False:
                no_update_create.add(rtype)
        for rest in server_rests(statement):
            system_interactions |= strings_of(rest.get("interaction"), "code")
            system_operations |= {n for o in rest.get("operation") or [] if (n := _op_name(o))}
        return cls(
            fhir_version=version,
            software=software_name,
            interactions=interactions,
            operations=operations,
            system_interactions=frozenset(system_interactions),
            system_operations=frozenset(system_operations),
            no_update_create=frozenset(no_update_create),
        )

    @property
    def resource_types(self) -> frozenset[str]:
        return frozenset(self.interactions)

    @property
    def supports_transaction(self) -> bool:
        return "transaction" in self.system_interactions

    def supports(self, resource_type: str, interaction: str) -> bool:
        """``supports("Patient", "update")``; interaction codes as in R4 TypeRestfulInteraction."""
        return interaction in self.interactions.get(resource_type, frozenset())

    def supports_operation(self, name: str, resource_type: str | None = None) -> bool:
        """``supports_operation("everything", "Patient")``; a leading ``$`` is ignored."""
        name = name.lstrip("$")
        if resource_type is not None and name in self.operations.get(resource_type, frozenset()):
            return True
        return name in self.system_operations


# --------------------------------------------------------------------------------------------
# transaction-response
# --------------------------------------------------------------------------------------------

_HISTORY = re.compile(r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[^/]+)/_history/(?P<vid>[^/?#]+)")
_PLAIN = re.compile(rf"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_PATTERN})(?:[?#]|$)")
_ETAG = re.compile(r'^(?:W/)?"?(?P<vid>[^"]+)"?$')


@dataclass(frozen=True)
class EntryResponse:
    """One ``Bundle.entry.response`` of a transaction-response, parsed."""

    index: int
    status: int
    status_line: str
    location: str | None
    etag: str | None
    last_modified: str | None
    resource_type: str | None
    resource_id: str | None
    version_id: str | None
    outcome: JsonDict | None


def _parse_entry_response(index: int, entry: Any) -> EntryResponse:
    response = entry.get("response") if isinstance(entry, Mapping) else None
    if not isinstance(response, Mapping):
        raise RequestError(f"transaction-response entry {index} has no response")
    status_line = str(response.get("status", "")).strip()
    match = re.match(r"(\d{3})\b", status_line)
    if not match:
        raise RequestError(
            f"transaction-response entry {index} has an unreadable status {status_line!r}"
        )
    location = response.get("location") if isinstance(response.get("location"), str) else None
    etag = response.get("etag") if isinstance(response.get("etag"), str) else None
    rtype = rid = vid = None
    if location:
        if m := _HISTORY.search(location):
            rtype, rid, vid = m["type"], m["id"], m["vid"]
        elif m := _PLAIN.search(location):
            rtype, rid = m["type"], m["id"]
    if vid is None and etag and (m := _ETAG.match(etag.strip())):
        vid = m["vid"]
    outcome = response.get("outcome")
    last_modified = response.get("lastModified")
    return EntryResponse(
        index=index,
        status=int(match.group(1)),
        status_line=status_line,
        location=location,
        etag=etag,
        last_modified=last_modified if isinstance(last_modified, str) else None,
        resource_type=rtype,
        resource_id=rid,
        version_id=vid,
        outcome=dict(outcome) if isinstance(outcome, Mapping) else None,
    )


def parse_transaction_response(
    body: Mapping[str, Any], expected_entries: int | None = None
) -> list[EntryResponse]:
    """Per-entry outcomes of a transaction-response, in request order (R4 §3.1.0.11.2)."""
    if body.get("resourceType") != "Bundle" or body.get("type") != "transaction-response":
        raise RequestError(
            f"expected a transaction-response Bundle, got "
            f"{body.get('resourceType')}/{body.get('type')}"
        )
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise RequestError("transaction-response Bundle.entry is not a list")
    if expected_entries is not None and len(entries) != expected_entries:
        raise RequestError(
            f"transaction-response has {len(entries)} entries for {expected_entries} requests"
        )
    return [_parse_entry_response(i, e) for i, e in enumerate(entries)]
