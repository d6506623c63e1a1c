"""The mutation suite (issue 10): emitted bundles, each broken in one declared way.

Every :class:`Mutant` takes one bundle ``fhir-ivc map`` emits (the seed case-1 or synthetic case
0, transaction or collection; the bases are clean in both engines, tests/conformance/
test_emitted.py), applies its edits to one entry (or to the bundle) and says what the Python
validator must report there (``expect``: severity and location) and what the HL7 engine says of
the whole bundle (``hl7``: ``"error"`` or ``"clean"``, no error). Where the two verdicts differ,
``why`` gives the reason; tests/conformance/test_mutants.py holds both engines to it.

Locations in ``expect`` are relative to the mutated resource (``"gender"`` is
``Bundle.entry[i].resource.gender``; ``""`` the resource itself); ``@fullUrl`` is relative to the
entry (``Bundle.entry[i].fullUrl``); for a bundle mutant (``at=""``) relative to ``Bundle``.
An entry is chosen as ``Type:profile`` (the last part of its first ``meta.profile``; ``-`` for
none), ``#n`` for the n-th such entry.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir_ivc.bundle import build_bundles
from fhir_ivc.io import iter_inputs
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case

ROOT = Path(__file__).resolve().parents[2]
SEED_CASES = ROOT / "examples" / "cases" / "seed-cases.yaml"
BASES = ("seed-1.collection", "seed-1.transaction", "synth-0.collection", "synth-0.transaction")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class _Delete:
    """An edit's value that removes the element."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Delete:
        return self


_DELETE = _Delete()


@dataclass(frozen=True)
class Url:
    """The fullUrl of the first entry of ``at`` (an entry selector), as an edit's value."""

    at: str


@dataclass(frozen=True)
class Mutant:
    name: str
    kind: str  #: the class of issue 10 it exercises
    base: str
    at: str  #: entry selector; "" = the bundle itself
    edits: tuple[tuple[str, Any], ...]  #: (path, value); value _DELETE removes the element
    expect: tuple[tuple[str, str], ...]  #: (severity, location) the Python validator reports
    hl7: str = "error"  #: the HL7 engine's verdict on the bundle: "error" or "clean"
    why: str = ""  #: why the engines' verdicts differ (empty: they agree)
    hl7_id: str = ""  #: a message id the engine reports for it (at any severity)

    @property
    def python_rejects(self) -> bool:
        return any(severity == "error" for severity, _ in self.expect)


def _cases() -> Iterator[tuple[str, Case]]:
    for result in iter_inputs([SEED_CASES]):
        assert result.case is not None, result.errors
        yield f"seed-{result.case.case_id.removeprefix('case-')}", result.case
    yield "synth-0", synthetic_case(0)


@functools.cache
def _bases() -> dict[str, str]:
    """Each base bundle as JSON text (copied by every mutant)."""
    out = {}
    for name, case in _cases():
        bundles = build_bundles(case)
        out[f"{name}.collection"] = json.dumps(bundles.collection)
        out[f"{name}.transaction"] = json.dumps(bundles.transaction)
    return out


def base(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_bases()[name])
    return loaded


def _label(resource: Any) -> str:
    profiles = resource.get("meta", {}).get("profile") or ["-"]
    return f"{resource['resourceType']}:{profiles[0].rsplit('/', 1)[-1]}"


def entry_index(bundle: dict[str, Any], at: str) -> int:
    selector, _, nth = at.partition("#")
    wanted = selector if ":" in selector else None
    found = [
        i
        for i, e in enumerate(bundle["entry"])
        if (_label(e["resource"]) == wanted if wanted else e["resource"]["resourceType"] == at)
    ]
    if not found:
        raise LookupError(f"no entry {at}")
    return found[int(nth or 0)]


def _parts(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _PART.findall(path)]


def _apply(target: Any, path: str, value: Any) -> None:
    *parents, last = _parts(path)
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    elif isinstance(last, int) and last == len(target):
        target.append(value)
    else:
        target[last] = value


def _resolve(bundle: dict[str, Any], value: Any) -> Any:
    if isinstance(value, Url):
        return bundle["entry"][entry_index(bundle, value.at)]["fullUrl"]
    if isinstance(value, dict):
        return {k: _resolve(bundle, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(bundle, v) for v in value]
    if callable(value):
        return value(bundle)
    return value


def build(mutant: Mutant) -> tuple[dict[str, Any], str]:
    """The mutated bundle and the location prefix of its expectations."""
    bundle = base(mutant.base)
    entry: dict[str, Any] = {}
    if mutant.at:
        index = entry_index(bundle, mutant.at)
        entry = bundle["entry"][index]
        target, prefix = entry["resource"], f"Bundle.entry[{index}].resource"
    else:
        target, prefix = bundle, "Bundle"
    for path, value in mutant.edits:
        value = _resolve(bundle, copy.deepcopy(value))
        if path.startswith("@"):
            _apply(entry, path[1:], value)
        else:
            _apply(target, path, value)
    return bundle, prefix


def expected(mutant: Mutant, prefix: str) -> list[tuple[str, str]]:
    out = []
    for severity, rel in mutant.expect:
        if rel.startswith("@"):
            where = ".".join(filter(None, (prefix.removesuffix(".resource"), rel[1:])))
        else:
            where = f"{prefix}.{rel}" if rel else prefix
        out.append((severity, where))
    return out


def _m(
    name: str,
    kind: str,
    at: str,
    *edits: tuple[str, Any],
    expect: tuple[tuple[str, str], ...] | tuple[str, str],
    base: str = "synth-0.collection",
    hl7: str = "error",
    why: str = "",
    hl7_id: str = "",
) -> Mutant:
    if expect and isinstance(expect[0], str):
        expect = (expect,)  # type: ignore[assignment]
    return Mutant(name, kind, base, at, tuple(edits), tuple(expect), hl7, why, hl7_id)  # type: ignore[arg-type]


E = "error"
W = "warning"
D = _DELETE
PATIENT = "Patient:mcode-cancer-patient"
PRIMARY = "Condition:mcode-primary-cancer-condition"
SECONDARY = "Condition:mcode-secondary-cancer-condition"
SYMPTOM = "Condition:-"
TUMOR = "BodyStructure:mcode-tumor"
TUMOR_SIZE = "Observation:mcode-tumor-size"
MEASURE = "Observation:ivc-operative-measure"
MANAGEMENT = "Procedure:ivc-management-procedure"
SURGERY = "Procedure:mcode-cancer-related-surgical-procedure"
IMAGING = "Procedure:-"
SPECIMEN = "Specimen:mcode-human-specimen"
GRADE = "Observation:mcode-histologic-grade"
MARGIN = "Observation:ivc-surgical-margin"
REPORT = "DiagnosticReport:-"
MEDICATION = "MedicationAdministration:mcode-cancer-related-medication-administration"
STATUS = "Observation:mcode-cancer-disease-status"
FINDING = "Observation:ivc-follow-up-finding"
ORGAN = "Observation:-"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_PRIMITIVE = "primitive type (no coercion, R4 regex)"
_UNKNOWN = "unknown element"
_CARD = "cardinality"
_FIXED = "fixed / pattern value"
_SLICE = "slice"
_REQUIRED = "required binding (core value set)"
_EXTENSIBLE = "extensible binding (warning)"
_BASE = "base invariant"
_PROFILE_INV = "mCODE / project invariant"
_TARGET = "reference target type"
_UNRESOLVED = "unresolved reference in the bundle"


#: the listed, reasoned differences between the engines (Python stricter in both)
_NOT_LOCAL = (
    "the HL7 engine reports a urn:uuid reference to no entry of the bundle as a warning "
    "(Bundle_BUNDLE_Not_Local); a urn:uuid names an entry of this bundle and nothing else "
    "(R4 bundle.html#references), so the reference cannot be resolved by any receiver: "
    "issue 10 requires references inside a bundle to resolve, an error here"
)
_LITERAL_TYPE = (
    "the HL7 engine does not check the type of a literal reference it cannot resolve "
    "(Specimen/abc is in no entry); the reference names its type, and R4 allows only "
    "Group | Patient as Condition.subject: an error here, the type is known without resolving"
)


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


MUTANTS: tuple[Mutant, ...] = (
    # -- primitive types: JSON kinds without coercion, R4 regexes ------------------------------
    _m("decimal-as-string", _PRIMITIVE, MEASURE, ("valueQuantity.value", "415"),
       expect=(E, "valueQuantity.value")),
    _m("decimal-as-boolean", _PRIMITIVE, MEASURE, ("valueQuantity.value", True),
       expect=(E, "valueQuantity.value")),
    _m("boolean-as-string", _PRIMITIVE, PATIENT, ("deceasedBoolean", "true"),
       expect=(E, "deceasedBoolean")),
    _m("boolean-as-number", _PRIMITIVE, FINDING, ("valueBoolean", 0),
       expect=(E, "valueBoolean")),
    _m("string-as-number", _PRIMITIVE, IMAGING, ("note[0].text", 5),
       expect=(E, "note[0].text")),
    _m("string-empty", _PRIMITIVE, PATIENT, ("identifier[0].value", ""),
       expect=(E, "identifier[0].value")),
    _m("date-bad-month", _PRIMITIVE, PATIENT, ("birthDate", "1956-13-02"),
       expect=(E, "birthDate")),
    _m("date-with-time", _PRIMITIVE, PATIENT, ("birthDate", "1956-11-02T10:00:00Z"),
       expect=(E, "birthDate")),
    _m("datetime-without-zone", _PRIMITIVE, IMAGING, ("performedDateTime", "2020-03-29T10:00:00"),
       expect=(E, "performedDateTime")),
    _m("datetime-slashes", _PRIMITIVE, SPECIMEN, ("collection.collectedDateTime", "2020/04/16"),
       expect=(E, "collection.collectedDateTime")),
    _m("code-with-blanks", _PRIMITIVE, TUMOR_SIZE, ("status", " final"),
       expect=(E, "status")),
    _m("uri-with-space", _PRIMITIVE, PATIENT, ("identifier[0].system", "urn:not a uri"),
       expect=(E, "identifier[0].system")),
    _m("id-with-bad-characters", _PRIMITIVE, PATIENT, ("id", "bad id!"),
       expect=(E, "id")),
    _m("canonical-with-space", _PRIMITIVE, PATIENT, ("meta.profile[1]", "http://x.org/a b"),
       expect=(E, "meta.profile[1]")),
    _m("integer-decimal-as-string-in-age", _PRIMITIVE, PRIMARY, ("onsetAge.value", "58"),
       expect=(E, "onsetAge.value"), base="seed-1.collection"),
    _m("string-empty-in-seed-name", _PRIMITIVE, PATIENT, ("name[0].text", ""),
       expect=(E, "name[0].text"), base="seed-1.transaction"),
    # -- unknown elements ----------------------------------------------------------------------
    _m("unknown-resource-element", _UNKNOWN, PATIENT, ("colour", "blue"),
       expect=(E, "colour")),
    _m("unknown-datatype-element", _UNKNOWN, PRIMARY, ("code.coding[0].colour", "blue"),
       expect=(E, "code.coding[0].colour")),
    _m("unknown-primitive-sibling", _UNKNOWN, PATIENT, ("_genderx", {"id": "a"}),
       expect=(E, "_genderx")),
    _m("choice-type-not-in-r4", _UNKNOWN, FINDING, ("valueBase64", "AAAA"),
       expect=(E, "valueBase64")),
    _m("unknown-resource-type", _UNKNOWN, ORGAN, ("resourceType", "Observtion"),
       expect=(E, "resourceType")),
    # -- cardinalities -------------------------------------------------------------------------
    _m("observation-without-status", _CARD, MEASURE, ("status", D),
       expect=(E, "status")),
    _m("observation-without-code", _CARD, ORGAN, ("code", D),
       expect=(E, "code")),
    _m("condition-without-subject", _CARD, SYMPTOM, ("subject", D),
       expect=(E, "subject")),
    _m("single-element-as-array", _CARD, PATIENT, ("gender", ["male"]),
       expect=(E, "gender")),
    _m("repeating-element-as-object", _CARD, ORGAN, ("category", {"text": "imaging"}),
       expect=(E, "category")),
    _m("empty-array", _CARD, PATIENT, ("identifier", []),
       expect=(E, "identifier")),
    _m("null-value", _CARD, PATIENT, ("gender", None),
       expect=(E, "gender")),
    _m("two-types-of-a-choice", _CARD, PATIENT, ("deceasedDateTime", "2020-01-01"),
       expect=(E, "deceasedDateTime")),
    _m("profile-min-histologic-grade-without-value", _CARD, GRADE, ("valueCodeableConcept", D),
       expect=(E, "value[x]")),
    _m("request-without-url", _CARD, "", ("entry[0].request.url", D),
       expect=(E, "entry[0].request.url"), base="seed-1.transaction"),
    # -- fixed and pattern values --------------------------------------------------------------
    _m("tumor-size-code-pattern", _FIXED, TUMOR_SIZE, ("code.coding[0].code", "21889-2"),
       expect=(E, "code")),
    _m("operative-measure-code-pattern", _FIXED, MEASURE,
       ("code", _concept("http://loinc.org", "8302-2")), expect=(E, "code")),
    _m("tumor-size-unit-system", _FIXED, TUMOR_SIZE,
       ("component[0].valueQuantity.system", "http://example.org/units"),
       expect=(E, "component[0].valueQuantity.code")),
    # -- slices --------------------------------------------------------------------------------
    _m("tumor-size-without-longest-dimension", _SLICE, TUMOR_SIZE, ("component", D),
       expect=(E, "component")),
    _m("tumor-size-second-longest-dimension", _SLICE, TUMOR_SIZE,
       ("component[1]", lambda b: copy.deepcopy(
           b["entry"][entry_index(b, TUMOR_SIZE)]["resource"]["component"][0])),
       expect=(E, "component[1]")),
    _m("case-element-path-value-type", _SLICE, PATIENT,
       ("extension[0].extension[0]", {"url": "path", "valueInteger": 5}),
       expect=(E, "extension[0].extension[0].valueInteger"), base="seed-1.transaction"),
    # -- required bindings to the core value sets ----------------------------------------------
    _m("patient-gender", _REQUIRED, PATIENT, ("gender", "m"), expect=(E, "gender")),
    _m("observation-status", _REQUIRED, MEASURE, ("status", "done"), expect=(E, "status")),
    _m("medication-administration-status", _REQUIRED, MEDICATION, ("status", "finished"),
       expect=(E, "status")),
    _m("procedure-status", _REQUIRED, IMAGING, ("status", "finished"), expect=(E, "status")),
    _m("diagnostic-report-status", _REQUIRED, REPORT, ("status", "done"), expect=(E, "status")),
    _m("condition-clinical-status", _REQUIRED, PRIMARY,
       ("clinicalStatus", _concept(CLINICAL, "current")), expect=(E, "clinicalStatus")),
    _m("condition-verification-status", _REQUIRED, SYMPTOM,
       ("verificationStatus", _concept(VERIFICATION, "yes")), expect=(E, "verificationStatus")),
    _m("identifier-use", _REQUIRED, PATIENT, ("identifier[0].use", "main"),
       expect=(E, "identifier[0].use")),
    _m("quantity-comparator", _REQUIRED, MEASURE, ("valueQuantity.comparator", "=<"),
       expect=(E, "valueQuantity.comparator")),
    _m("data-absent-reason-code", _REQUIRED, IMAGING,
       ("_performedDateTime.extension[0].valueCode", "notknown"),
       expect=(E, "performedDateTime.extension[0].valueCode"), base="seed-1.transaction"),
    _m("bundle-type", _REQUIRED, "", ("type", "batchx"), expect=(E, "type")),
    _m("request-method", _REQUIRED, "", ("entry[0].request.method", "PATCHX"),
       expect=(E, "entry[0].request.method"), base="synth-0.transaction"),
    _m("unknown-code-of-core-code-system", _REQUIRED, ORGAN,
       ("category[0].coding[0].code", "imagingx"), expect=(E, "category[0].coding[0]")),
    # -- extensible bindings: warnings ---------------------------------------------------------
    _m("condition-category-extensible", _EXTENSIBLE, SYMPTOM,
       ("category", [_concept("http://example.org/cs", "x")]),
       expect=(W, "category[0]"), hl7="clean"),
    _m("identifier-type-extensible", _EXTENSIBLE, PATIENT,
       ("identifier[0].type", _concept("http://example.org/cs", "x")),
       expect=(W, "identifier[0].type"), hl7="clean"),
    # -- base invariants -----------------------------------------------------------------------
    _m("ele-1-empty-object", _BASE, PATIENT, ("name[0]", {}), expect=(E, "name[0]")),
    _m("ele-1-primitive-without-value", _BASE, IMAGING, ("performedDateTime", D),
       ("_performedDateTime", {}), expect=(E, "performedDateTime")),
    _m("ext-1-value-and-extensions", _BASE, PATIENT,
       ("extension[0].valueString", "x"), expect=(E, "extension[0]")),
    _m("ext-1-neither", _BASE, PATIENT,
       ("extension[1]", {"url": "http://example.org/ext"}), expect=(E, "extension[1]")),
    _m("obs-6-value-and-absent-reason", _BASE, FINDING,
       ("dataAbsentReason", _concept(
           "http://terminology.hl7.org/CodeSystem/data-absent-reason", "unknown")),
       expect=(E, "")),
    _m("obs-7-component-repeats-code", _BASE, ORGAN,
       ("component", lambda b: [{
           "code": b["entry"][entry_index(b, ORGAN)]["resource"]["code"],
           "valueString": "x"}]),
       expect=(E, "")),
    _m("con-3-no-clinical-status", _BASE, SYMPTOM,
       ("category", [_concept("http://terminology.hl7.org/CodeSystem/condition-category",
                              "problem-list-item")]),
       expect=(), hl7="clean"),
    _m("con-4-abated-but-active", _BASE, SECONDARY, ("abatementDateTime", "2024-01-01"),
       expect=(E, "")),
    _m("con-5-entered-in-error-with-clinical-status", _BASE, SECONDARY,
       ("verificationStatus", _concept(VERIFICATION, "entered-in-error")), expect=(E, "")),
    _m("per-1-period-end-before-start", _BASE, MEDICATION, ("effectivePeriod.end", "2021-07-01"),
       expect=(E, "effectivePeriod")),
    _m("ref-1-contained-reference", _BASE, SYMPTOM, ("subject.reference", "#nothing"),
       expect=(E, "subject")),
    _m("bdl-1-total-in-collection", _BASE, "", ("total", 1), expect=(E, "")),
    _m("bdl-2-search-in-collection", _BASE, "", ("entry[0].search", {"mode": "match"}),
       expect=(E, "")),
    _m("bdl-3-request-in-collection", _BASE, "",
       ("entry[0].request", {"method": "POST", "url": "Patient"}), expect=(E, "")),
    _m("bdl-3-transaction-without-request", _BASE, "", ("entry[1].request", D),
       expect=(E, ""), base="synth-0.transaction"),
    _m("bdl-4-response-in-collection", _BASE, "", ("entry[0].response", {"status": "200"}),
       expect=(E, "")),
    _m("bdl-7-duplicate-full-url", _BASE, "",
       ("entry[1].fullUrl", lambda b: b["entry"][0]["fullUrl"]), expect=(E, "")),
    _m("bdl-8-versioned-full-url", _BASE, FINDING,
       ("@fullUrl", "http://example.org/fhir/Observation/1/_history/2"), expect=(E, "@")),
    _m("bdl-9-10-11-document-without-composition", _BASE, "", ("type", "document"),
       expect=(E, "")),
    _m("bdl-12-message-without-header", _BASE, "", ("type", "message"), expect=(E, "")),
    # -- mCODE and project invariants ----------------------------------------------------------
    _m("tumor-size-focus-and-specimen", _PROFILE_INV, TUMOR_SIZE,
       ("specimen", {"reference": Url(SPECIMEN)}), expect=(E, "")),
    _m("ivc-mgmt-1-graft-with-ligation", _PROFILE_INV, MANAGEMENT,
       ("code.coding[0].code", "ligation"), ("code.coding[0].display", "Ligation"),
       expect=(E, "")),
    _m("ivc-om-unit", _PROFILE_INV, MEASURE,
       ("valueQuantity.unit", "h"), ("valueQuantity.code", "h"), expect=(E, "")),
    _m("ivc-fu-value-type", _PROFILE_INV, FINDING, ("valueBoolean", D),
       ("valueString", "no"), expect=(E, "")),
    _m("mcode-reason-required", _PROFILE_INV, SURGERY, ("reasonReference", D),
       expect=(W, ""), hl7="clean"),
    # -- reference target types ----------------------------------------------------------------
    _m("condition-subject-to-specimen", _TARGET, PRIMARY, ("subject.reference", Url(SPECIMEN)),
       expect=(E, "subject.reference")),
    _m("observation-specimen-to-patient", _TARGET, GRADE, ("specimen.reference", Url(PATIENT)),
       expect=(E, "specimen.reference")),
    _m("procedure-reason-to-specimen", _TARGET, IMAGING,
       ("reasonReference[0].reference", Url(SPECIMEN)),
       expect=(E, "reasonReference[0].reference")),
    _m("tumor-size-focus-to-condition", _TARGET, TUMOR_SIZE,
       ("focus[0].reference", Url(SYMPTOM)), expect=(E, "focus[0].reference")),
    _m("relative-reference-of-wrong-type", _TARGET, SYMPTOM,
       ("subject.reference", "Specimen/abc"), expect=(E, "subject.reference"), hl7="clean",
       why=_LITERAL_TYPE),
    # -- references inside a bundle ------------------------------------------------------------
    _m("subject-to-no-entry", _UNRESOLVED, SYMPTOM,
       ("subject.reference", "urn:uuid:00000000-0000-4000-8000-000000000000"),
       expect=(E, "subject.reference"), hl7="clean", why=_NOT_LOCAL,
       hl7_id="Bundle_BUNDLE_Not_Local"),
    _m("reason-to-no-entry", _UNRESOLVED, SURGERY,
       ("reasonReference[0].reference", "urn:uuid:00000000-0000-4000-8000-000000000001"),
       expect=(E, "reasonReference[0].reference"), base="synth-0.transaction", hl7="clean",
       why=_NOT_LOCAL, hl7_id="Bundle_BUNDLE_Not_Local"),
    _m("entry-without-full-url", _UNRESOLVED, FINDING, ("@fullUrl", D),
       expect=(E, "@fullUrl")),
)  # fmt: skip


def by_name() -> dict[str, Mutant]:
    return {m.name: m for m in MUTANTS}


def write(out: Path) -> list[Path]:
    """Every mutant bundle as ``out/<name>.json`` (the inputs of the HL7 engine run)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for mutant in MUTANTS:
        bundle, _ = build(mutant)
        path = out / f"{mutant.name}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        paths.append(path)
    return paths
