"""Explicit classification of the HL7 engine's errors that come from a known gap of the chain.

The gap: **US Core 6.1.0** (``hl7.fhir.us.core``), the base of most mCODE STU4 profiles, is not
obtainable from any registry reachable here (docs/conformance.md, "Known gap"). mCODE's
StructureDefinitions carry snapshots, so every mCODE constraint is still checked; what fails is
what needs a US Core artifact *itself*. Each rule below names the engine's message id and a
condition that ties the error to US Core. An error is a gap error only when a rule matches it;
every other error is a real error, and the reviewed list ``expected-gap-errors.txt`` pins the
gap errors so that a new kind fails the test until a person looks at it. Nothing is dropped.

Rules (GAP_RULES, by message id):

* ``Reference_REF_CantResolveProfile``: the reference's targetProfile is a US Core profile
  (mCODE targets ``us-core-patient``, ``us-core-condition-problems-health-concerns``...).
* ``Reference_REF_BadTargetType``: "expected one of ([...])" at the same location as such an
  unresolvable US Core target profile (the engine's follow-up of the same reference).
* ``SLICING_CANNOT_BE_EVALUATED``: the slice is defined by a US Core profile (mCODE
  CancerPatient's extension slices race, ethnicity, birthsex... are US Core extensions).
* ``Validation_VAL_Profile_Minimum_SLICE`` on ``Condition.category:us-core``: the slice is defined
  by US Core's value set us-core-problem-or-health-concern, which the chain lacks; only when the
  Condition does carry ``problem-list-item`` or ``health-concern`` (the members of that value set
  in US Core 6.1.0), so a Condition without such a category stays a real error.
* ``Reference_REF_CantMatchChoice``: the referenced entry of the same bundle claims the target
  profile and has no error of its own other than gap errors (the engine validates the target
  against the profile again and fails for the same US Core reasons).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

US_CORE = "http://hl7.org/fhir/us/core/"
_PROBLEM_OR_HEALTH_CONCERN = {
    ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"),
    ("http://terminology.hl7.org/CodeSystem/condition-category", "health-concern"),
    ("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern"),
}
_CHOICE = re.compile(r"Unable to find a profile match for (\S+) among choices: (.+)$")
ERROR_SEVERITIES = frozenset({"error", "fatal"})


@dataclass(frozen=True)
class Found:
    """One issue of one bundle entry (entry -1: the bundle itself, or a standalone resource)."""

    file: str
    entry: int
    resource_type: str
    issue: Mapping[str, Any]
    gap: str | None = None  # the rule that explains it, for errors; None: not a gap error

    @property
    def is_error(self) -> bool:
        return self.issue["severity"] in ERROR_SEVERITIES


def _coded(resource: Mapping[str, Any], element: str) -> set[tuple[str, str]]:
    out = set()
    for concept in resource.get(element) or []:
        for coding in concept.get("coding") or []:
            out.add((coding.get("system", ""), coding.get("code", "")))
    return out


def _entries(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if document.get("resourceType") == "Bundle":
        return [e.get("resource") or {} for e in document.get("entry") or []]
    return []


def _rule(
    issue: Mapping[str, Any],
    resource: Mapping[str, Any],
    same_place: Iterable[Mapping[str, Any]],
) -> str | None:
    """The gap rule that explains ``issue`` without looking at other entries, if any."""
    mid = issue.get("messageId", "")
    message = issue.get("message", "")
    if mid == "Reference_REF_CantResolveProfile" and US_CORE in message:
        return "us-core: target profile"
    if mid == "Reference_REF_BadTargetType" and any(
        i.get("messageId") == "Reference_REF_CantResolveProfile" and US_CORE in i.get("message", "")
        for i in same_place
    ):
        return "us-core: target profile"
    if mid == "SLICING_CANNOT_BE_EVALUATED" and US_CORE + "StructureDefinition/" in message:
        return "us-core: slice by US Core profile"
    if (
        mid == "Validation_VAL_Profile_Minimum_SLICE"
        and "Slice 'Condition.category:us-core'" in message
        and _coded(resource, "category") & _PROBLEM_OR_HEALTH_CONCERN
    ):
        return "us-core: category slice by US Core value set"
    return None


def classify(report: Mapping[str, Any], documents: Mapping[str, Any]) -> list[Found]:
    """Every issue of the engine ``report``, errors tagged with their gap rule (or None).

    ``documents``: file path (as in the report) -> the parsed JSON, for the rules that look at
    the resource (Condition.category) or follow a reference to another entry.
    """
    found: list[Found] = []
    for file in report["files"]:
        path = file["path"]
        document = documents.get(path) or {}
        entries = _entries(document)
        for resource_report in file["resources"]:
            per_entry: dict[int, list[Mapping[str, Any]]] = {-1: list(resource_report["issues"])}
            types = {-1: resource_report.get("resourceType", "")}
            for e in resource_report.get("entries", []):
                per_entry[e["index"]] = list(e["issues"])
                types[e["index"]] = e.get("resourceType", "")
            found.extend(_classify_document(path, per_entry, types, document, entries))
    return found


def _classify_document(
    path: str,
    per_entry: Mapping[int, list[Mapping[str, Any]]],
    types: Mapping[int, str],
    document: Mapping[str, Any],
    entries: list[Mapping[str, Any]],
) -> list[Found]:
    full_urls = {
        e.get("fullUrl"): i for i, e in enumerate(document.get("entry") or []) if e.get("fullUrl")
    }
    gap: dict[tuple[int, int], str | None] = {}
    for index, issues in per_entry.items():
        resource = entries[index] if 0 <= index < len(entries) else document
        for n, issue in enumerate(issues):
            if issue["severity"] not in ERROR_SEVERITIES:
                continue
            place = [i for i in issues if i.get("location") == issue.get("location")]
            gap[(index, n)] = _rule(issue, resource, place)

    def clean(index: int) -> bool:  # no error of its own other than gap errors
        return all(
            gap.get((index, n)) is not None
            for n, i in enumerate(per_entry.get(index, []))
            if i["severity"] in ERROR_SEVERITIES
        )

    # Cascades (CantMatchChoice): to a fixed point, starting from "not a gap" (a cycle of
    # references that never resolves stays an error: safe side).
    changed = True
    while changed:
        changed = False
        for (index, n), rule in list(gap.items()):
            issue = per_entry[index][n]
            if rule is not None or issue.get("messageId") != "Reference_REF_CantMatchChoice":
                continue
            m = _CHOICE.search(issue.get("message", ""))
            if not m:
                continue
            target = full_urls.get(m.group(1))
            if target is None or target >= len(entries):
                continue
            choices = {p.strip().split("|")[0] for p in m.group(2).split(",")}
            claimed = set((entries[target].get("meta") or {}).get("profile") or [])
            if choices & claimed and clean(target):
                gap[(index, n)] = "us-core: referenced entry fails only for US Core"
                changed = True

    out = []
    for index, issues in per_entry.items():
        for n, issue in enumerate(issues):
            out.append(Found(path, index, types.get(index, ""), issue, gap.get((index, n))))
    return out


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
    """One line of a reviewed list (without the count): tab-separated, stable across cases."""
    i = found.issue
    parts = [
        i["severity"],
        i.get("messageId") or "-",
        normal_location(i.get("location", ""), found.resource_type),
        normal_message(i.get("message", "")),
    ]
    if found.gap:
        parts.insert(1, found.gap)
    return "\t".join(p.replace("\t", " ").replace("\n", " ") for p in parts)


def tally(items: Iterable[Found]) -> Counter[str]:
    return Counter(key(f) for f in items)
