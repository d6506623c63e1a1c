"""Hypothesis strategies for the case model, written by hand (STYLE.md §6).

pydantic v2 has no Hypothesis plugin, so every class of ``fhir_ivc.model`` has a strategy here that
builds *valid* instances and respects every model validator:

* relative times only when the case has a ``surgery`` (``time_points(relative=...)``);
* an imaging study targets ``intraluminal-extension`` only when the diagnosis has one, and then
  always with the size it qualifies;
* ``graft_material`` only with ``graft-replacement`` / ``patch-cavoplasty``;
* kind ``other`` (symptom, complication) always comes with a text;
* a follow-up says at least one thing; segments, sites and agents are unique;
* item keys are unique per list: explicit keys never collide with each other or with the keys
  derived from natural keys (``keyed_lists``);
* ``inferred`` names only fields of the same object that hold a value, and only *leaf* fields
  (scalars, lists of scalars, time points): the values a mapper can mark on a FHIR element,
  never a section or a list of items.

Enum values are read from the model's ``Literal`` annotations (``enum_values``), so a value added
to the model is generated without touching this file.

Drawn values are already in the form the model stores (``inferred`` in field declaration order,
sizes largest first, text without surrounding blanks), so nothing is rewritten on validation.
Floats are multiples of 0.1 (``tenths``): they round-trip exactly through JSON and through FHIR
decimals. Free text is unicode without control or format characters and without leading or
trailing blanks, so the model's whitespace stripping never changes a drawn value. Dates are years
1900-2100; a dateTime always has a zone and never a leap second (Python's datetime cannot hold
one, so a FHIR library would not round-trip it).

Entry point: ``cases()``. ``cases(case_id=..., source_system=...)`` fixes the identity (a string)
or draws it from another strategy, e.g. ``st.lists(cases(), unique_by=lambda c: c.case_id)``.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from pydantic import BaseModel

from fhir_ivc.model import (
    ApproachStep,
    AssociatedResection,
    Biopsy,
    Case,
    CaseModel,
    Complication,
    Diagnosis,
    FollowUp,
    ImagingStudy,
    IvcManagement,
    ListItem,
    Metastasis,
    OrganContact,
    OrganInfiltration,
    Pathology,
    Patient,
    PatientIdentifier,
    Presentation,
    RelativeTime,
    Surgery,
    Symptom,
    SystemicTherapy,
    TherapyNotGiven,
    TimePoint,
    TumorMarkerResult,
    item_keys,
)
from fhir_ivc.model.time import order

__all__ = [
    "LIST_ITEM_STRATEGIES",
    "NATURAL_KEY_FIELDS",
    "approach_steps",
    "associated_resections",
    "biopsies",
    "case_ids",
    "cases",
    "complications",
    "diagnoses",
    "enum_values",
    "fhir_dates",
    "follow_ups",
    "free_texts",
    "imaging_studies",
    "inferable_fields",
    "item_key_values",
    "ivc_managements",
    "keyed_lists",
    "metastases",
    "organ_contacts",
    "organ_infiltrations",
    "pathologies",
    "patient_identifiers",
    "patients",
    "presentations",
    "relative_times",
    "source_systems",
    "surgeries",
    "symptoms",
    "systemic_therapies",
    "tenths",
    "therapies_not_given",
    "time_points",
    "tumor_markers",
]

M = TypeVar("M", bound=CaseModel)
B = TypeVar("B", bound=BaseModel)
I = TypeVar("I", bound=ListItem)  # noqa: E741 - the conventional name of an item type variable

#: Upper bound of every generated list (items, identifiers, notes); keeps examples small and fast.
MAX_ITEMS = 3

# Every factory below is cached: Hypothesis validates each new strategy object, and building the
# case strategy afresh for every draw would cost more than drawing from it.
_cached = functools.cache


# --------------------------------------------------------------------------------------- scalars


def enum_values(model: type[BaseModel], field: str) -> tuple[Any, ...]:
    """Every value of the ``Literal`` in a field's annotation (also under ``| None``, ``list``)."""

    def walk(annotation: Any) -> list[Any]:
        if get_origin(annotation) is Literal:
            return list(get_args(annotation))
        return [value for arg in get_args(annotation) for value in walk(arg)]

    values = walk(model.model_fields[field].annotation)
    if not values:
        raise TypeError(f"{model.__name__}.{field} has no Literal values")
    return tuple(values)


@_cached
def _enum(model: type[BaseModel], field: str) -> SearchStrategy[Any]:
    return st.sampled_from(enum_values(model, field))


@_cached
def _unique_enums(
    model: type[BaseModel], field: str, *, min_size: int = 0
) -> SearchStrategy[list[Any]]:
    values = enum_values(model, field)
    return st.lists(st.sampled_from(values), min_size=min_size, max_size=len(values), unique=True)


@_cached
def tenths(low: float, high: float, *, exclude_low: bool = False) -> SearchStrategy[float]:
    """Multiples of 0.1 in [low, high] (or (low, high]), e.g. 0.1, 7.0, 9.4.

    ``k / 10`` is the double nearest to the decimal, so ``repr`` gives back that short decimal:
    the value survives JSON and FHIR ``decimal`` exactly.
    """
    first = round(low * 10) + (1 if exclude_low else 0)
    return st.integers(first, round(high * 10)).map(lambda k: k / 10)


# Letters, marks, numbers, punctuation, symbols and spaces: no control (Cc), format (Cf),
# surrogate, private-use or line/paragraph separators. Python's str.strip and the Rust trim
# pydantic uses agree on this alphabet (whitespace = category Zs).
_EDGE_CHARS = st.characters(categories=("L", "N", "P", "S"))
_INNER_CHARS = st.characters(categories=("L", "M", "N", "P", "S", "Zs"))


@_cached
def free_texts(max_size: int = 30, *, longest: int = 4000) -> SearchStrategy[str]:
    """Non-blank unicode text; about 1 in 20 is ``longest`` characters (NonEmptyText's maximum)."""
    short = st.builds(
        lambda first, middle, last: first + middle + (last if middle else ""),
        _EDGE_CHARS,
        st.text(_INNER_CHARS, max_size=max_size),
        _EDGE_CHARS,
    )
    long = _EDGE_CHARS.map(lambda c: c * longest)
    return st.integers(0, 19).flatmap(lambda i: long if i == 0 else short)


@_cached
def case_ids() -> SearchStrategy[str]:
    """Valid ``case_id``s (``^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$``), realistic and arbitrary."""
    return st.one_of(
        st.integers(1, 10**6).map(lambda n: f"case-{n}"),
        st.uuids().map(str),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True),
    )


@_cached
def source_systems() -> SearchStrategy[str]:
    """Valid ``source_system`` URIs (``^[a-z][a-z0-9+.-]*:\\S+$``, at most 400 characters)."""
    segment = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
    return st.one_of(
        st.just("https://fhir-ivc.example.org/fhir/sid/seed-report"),
        segment.map(lambda s: f"https://fhir-ivc.example.org/fhir/sid/{s}"),
        st.lists(st.integers(0, 99999), min_size=1, max_size=8).map(
            lambda parts: "urn:oid:2.16." + ".".join(map(str, parts))
        ),
        st.uuids().map(lambda u: f"urn:uuid:{u}"),
        st.from_regex(r"[a-z][a-z0-9+.-]{0,10}:[!-~]{1,80}", fullmatch=True),
    )


@_cached
def fhir_dates(*, with_time: bool = True) -> SearchStrategy[str]:
    """FHIR dates at every precision: YYYY, YYYY-MM, YYYY-MM-DD, full dateTime with a zone
    (``with_time=False``: FHIR ``date`` only, as for a birth date)."""
    low, high = datetime.date(1900, 1, 1), datetime.date(2100, 12, 31)
    days = st.dates(low, high)
    zone = st.one_of(
        st.just("Z"),
        st.tuples(st.sampled_from("+-"), st.integers(0, 13), st.integers(0, 59)).map(
            lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}"
        ),
        st.sampled_from(["+14:00", "-14:00"]),
    )
    fraction = st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True))
    date_times = st.builds(
        lambda d, t, f, z: f"{d.isoformat()}T{t.strftime('%H:%M:%S')}{f}{z}",
        days,
        st.times(),
        fraction,
        zone,
    )
    dates = [
        st.integers(low.year, high.year).map(lambda y: f"{y:04d}"),
        days.map(lambda d: d.isoformat()[:7]),
        days.map(lambda d: d.isoformat()),
    ]
    return st.one_of(*dates, date_times) if with_time else st.one_of(*dates)


# ------------------------------------------------------------------------- inferred and objects


def _has_value(value: object) -> bool:
    return value not in (None, [], "")


def _is_leaf(value: object) -> bool:
    """Not a section or list of items: a scalar, a list of scalars, or a time point."""
    if isinstance(value, CaseModel):
        return False
    return not (isinstance(value, list) and any(isinstance(v, CaseModel) for v in value))


def inferable_fields(obj: CaseModel, *, leaf_only: bool = True) -> list[str]:
    """Fields of ``obj`` that ``inferred`` may name: they hold a value (and are leaves).

    In field declaration order, the order in which the model stores ``inferred``.
    """
    return [
        name
        for name in type(obj).model_fields
        if name not in ("inferred", "key")
        and _has_value(getattr(obj, name))
        and (not leaf_only or _is_leaf(getattr(obj, name)))
    ]


_INFERRED_PICKS = st.lists(st.integers(0, 63), max_size=3, unique=True)


@st.composite
def _built(draw: DrawFn, model: type[B], fields: SearchStrategy[dict[str, Any]]) -> B:
    """Build ``model`` from drawn ``fields`` and mark a few of its valued leaf fields inferred."""
    values = draw(fields)
    obj = model(**values)
    if not isinstance(obj, CaseModel):  # e.g. a time point: marked where it is used
        return obj
    candidates = inferable_fields(obj)
    if not candidates:
        return obj
    picks = {i % len(candidates) for i in draw(_INFERRED_PICKS)}
    if not picks:
        return obj
    return model(**values, inferred=[candidates[i] for i in sorted(picks)])


def _objects(
    model: type[B],
    required: Mapping[str, SearchStrategy[Any]],
    optional: Mapping[str, SearchStrategy[Any]] | None = None,
) -> SearchStrategy[B]:
    return _built(model, st.fixed_dictionaries(dict(required), optional=dict(optional or {})))


# ------------------------------------------------------------------------------------------ time


@_cached
def _sizes(min_size: int = 0) -> SearchStrategy[list[float]]:
    """0-3 tumor dimensions in cm, largest first (as the model stores them)."""
    return st.lists(tenths(0, 200, exclude_low=True), min_size=min_size, max_size=3).map(
        lambda sizes: sorted(sizes, reverse=True)
    )


@_cached
def relative_times() -> SearchStrategy[RelativeTime]:
    """Offsets from the index surgery: every unit, before and after (``relation`` may be left
    to its default)."""
    return _objects(
        RelativeTime,
        {"offset": tenths(0, 1200), "unit": _enum(RelativeTime, "unit")},
        {"relation": _enum(RelativeTime, "relation")},
    )


@_cached
def time_points(*, relative: bool = True) -> SearchStrategy[TimePoint]:
    """A real (partial) date or, when ``relative`` (the case has a surgery), a relative time."""
    dated = _objects(TimePoint, {"date": fhir_dates()})
    if not relative:
        return dated
    return st.one_of(dated, _objects(TimePoint, {"relative": relative_times()}))


# ------------------------------------------------------------------------------------ list items


@_cached
def item_key_values() -> SearchStrategy[str]:
    """Explicit item keys: arbitrary ones and ones that look like derived keys."""
    return st.one_of(
        st.sampled_from(["lung", "lung-2", "follow-up", "fu-30mo", "m1", "ct-2019", "a"]),
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True),
        st.just("k" * 63),
    )


_BOOLEANS = st.booleans()


@st.composite
def _keyed_lists(draw: DrawFn, lists: SearchStrategy[list[I]]) -> list[I]:
    values = draw(lists)
    explicit = [draw(_BOOLEANS) for _ in values]
    taken = set(item_keys([v for v, e in zip(values, explicit, strict=True) if not e]))
    result: list[I] = []
    for value, has_key in zip(values, explicit, strict=True):
        if has_key:
            key, n = draw(item_key_values()), 1
            while key in taken:  # rare: a drawn key equal to a derived or an earlier one
                key, n = f"{key[:55]}-x{n}", n + 1
            taken.add(key)
            value = type(value).model_validate({**value.model_dump(), "key": key})
        result.append(value)
    keys = item_keys(result)
    assert len(set(keys)) == len(keys), keys  # a failure is a bug in this strategy
    return result


@_cached
def keyed_lists(
    items: SearchStrategy[I], *, min_size: int = 0, max_size: int = MAX_ITEMS
) -> SearchStrategy[list[I]]:
    """A list of items, each with an explicit ``key`` or none (derived), all keys distinct.

    Derived keys depend only on the items without an explicit key, so they are computed first
    and the explicit keys are chosen around them.
    """
    return _keyed_lists(st.lists(items, min_size=min_size, max_size=max_size))


def _per_kind(
    model: type[M],
    field: str,
    optional: Mapping[str, SearchStrategy[Any]],
    needs: Mapping[Any, Mapping[str, SearchStrategy[Any]]],
) -> SearchStrategy[M]:
    """One strategy per value of ``field``; ``needs[value]`` are fields that value requires."""
    return st.one_of(
        [
            _objects(
                model,
                {field: st.just(value), **needs.get(value, {})},
                {k: v for k, v in optional.items() if k not in needs.get(value, {})},
            )
            for value in enum_values(model, field)
        ]
    )


@_cached
def symptoms() -> SearchStrategy[Symptom]:
    """Symptoms; kind ``other`` always has a text."""
    text = {"text": free_texts()}
    return _per_kind(Symptom, "kind", text, {"other": text})


@_cached
def imaging_studies(
    times: SearchStrategy[TimePoint], *, intraluminal: bool
) -> SearchStrategy[ImagingStudy]:
    """Imaging studies of the primary tumor (``target`` stated or left to its default) and, if
    ``intraluminal`` (the diagnosis has an extension), of the intraluminal extension, which
    always comes with the size it qualifies."""
    optional = {
        "contrast": st.booleans(),
        "region": free_texts(),
        "dimensions_cm": _sizes(),
        "findings": free_texts(),
        "when": times,
    }
    modality = {"modality": _enum(ImagingStudy, "modality")}
    primary = _objects(ImagingStudy, modality, optional | {"target": st.just("primary")})
    if not intraluminal:
        return primary
    extension = _objects(
        ImagingStudy,
        modality
        | {"target": st.just("intraluminal-extension"), "dimensions_cm": _sizes(min_size=1)},
        {k: v for k, v in optional.items() if k != "dimensions_cm"},
    )
    return st.one_of(primary, extension)


@_cached
def tumor_markers(times: SearchStrategy[TimePoint]) -> SearchStrategy[TumorMarkerResult]:
    return _objects(
        TumorMarkerResult,
        {"result": _enum(TumorMarkerResult, "result")},
        {"name": free_texts(), "when": times},
    )


@_cached
def organ_contacts() -> SearchStrategy[OrganContact]:
    return _objects(OrganContact, {"organ": _enum(OrganContact, "organ")})


@_cached
def metastases(times: SearchStrategy[TimePoint]) -> SearchStrategy[Metastasis]:
    return _objects(Metastasis, {"site": _enum(Metastasis, "site")}, {"detected": times})


@_cached
def systemic_therapies(times: SearchStrategy[TimePoint]) -> SearchStrategy[SystemicTherapy]:
    fields = st.fixed_dictionaries(
        {
            "agents": _unique_enums(SystemicTherapy, "agents", min_size=1).map(lambda a: a[:4]),
            "setting": _enum(SystemicTherapy, "setting"),
        },
        optional={
            "intent": _enum(SystemicTherapy, "intent"),
            "line": st.integers(1, 20),
            "start": times,
            "end": times,
            "status": _enum(SystemicTherapy, "status"),
            "note": free_texts(),
        },
    )
    return _built(SystemicTherapy, fields.map(_ordered_period))


def _ordered_period(values: dict[str, Any]) -> dict[str, Any]:
    """End not before start when both are known: the model refuses an end before the start and
    a pair FHIR cannot order (2019-02 and 2019)."""
    if "start" in values and "end" in values:
        if order(values["start"], values["end"]) in ("after", "unordered"):
            values = {**values, "start": values["end"], "end": values["start"]}
        if order(values["start"], values["end"]) in ("after", "unordered"):
            values = {k: v for k, v in values.items() if k != "end"}
    return values


@_cached
def therapies_not_given() -> SearchStrategy[TherapyNotGiven]:
    return _objects(
        TherapyNotGiven,
        {
            "therapy": _enum(TherapyNotGiven, "therapy"),
            "setting": _enum(TherapyNotGiven, "setting"),
        },
        {"reason": free_texts()},
    )


@_cached
def follow_ups(times: SearchStrategy[TimePoint]) -> SearchStrategy[FollowUp]:
    """Follow-ups with at least one of disease_status, local_recurrence, vital_status."""
    findings = {
        "disease_status": _enum(FollowUp, "disease_status"),
        "local_recurrence": st.booleans(),
        "vital_status": _enum(FollowUp, "vital_status"),
    }
    # one of the three is required, the two others optional; any of them may come first
    return st.one_of(
        [
            _objects(
                FollowUp,
                {"when": times, name: strategy},
                {k: v for k, v in findings.items() if k != name},
            )
            for name, strategy in findings.items()
        ]
    )


@_cached
def approach_steps() -> SearchStrategy[ApproachStep]:
    return _objects(ApproachStep, {"kind": _enum(ApproachStep, "kind")}, {"detail": free_texts()})


@_cached
def associated_resections() -> SearchStrategy[AssociatedResection]:
    return _objects(
        AssociatedResection,
        {"kind": _enum(AssociatedResection, "kind")},
        {
            "side": _enum(AssociatedResection, "side"),
            "detail": free_texts(),
            "reason": free_texts(),
        },
    )


@_cached
def ivc_managements() -> SearchStrategy[IvcManagement]:
    """IVC management; ``graft_material`` only (and mostly) for graft-replacement and
    patch-cavoplasty."""
    optional = {"detail": free_texts(), "decided": _enum(IvcManagement, "decided")}
    material = {"graft_material": _enum(IvcManagement, "graft_material")}
    with_graft = [
        _objects(IvcManagement, {"method": st.just(method), **material}, optional)
        for method in ("graft-replacement", "patch-cavoplasty")
    ]
    return st.one_of(_per_kind(IvcManagement, "method", optional, {}), *with_graft)


@_cached
def complications() -> SearchStrategy[Complication]:
    """Complications; kind ``other`` always has a text."""
    text = {"text": free_texts()}
    optional = {
        "text": free_texts(),
        "clavien_dindo": _enum(Complication, "clavien_dindo"),
        "management": free_texts(),
    }
    return _per_kind(Complication, "kind", optional, {"other": text})


@_cached
def organ_infiltrations() -> SearchStrategy[OrganInfiltration]:
    return _objects(
        OrganInfiltration,
        {"organ": _enum(OrganInfiltration, "organ"), "infiltrated": st.booleans()},
    )


#: Fields that make up each list item's natural key (``natural_key()``); editing any *other*
#: field must leave the item's key unchanged.
NATURAL_KEY_FIELDS: dict[type[ListItem], tuple[str, ...]] = {
    Symptom: ("kind",),
    ImagingStudy: ("modality",),
    TumorMarkerResult: (),
    OrganContact: ("organ",),
    Metastasis: ("site",),
    SystemicTherapy: ("agents",),
    TherapyNotGiven: ("therapy", "setting"),
    FollowUp: (),
    ApproachStep: ("kind",),
    AssociatedResection: ("kind", "side"),
    IvcManagement: ("method",),
    Complication: ("kind",),
    OrganInfiltration: ("organ",),
}

_any_time = time_points(relative=True)

#: A strategy for every list-item class (time points may be relative: items alone).
LIST_ITEM_STRATEGIES: dict[type[ListItem], SearchStrategy[Any]] = {
    Symptom: symptoms(),
    ImagingStudy: imaging_studies(_any_time, intraluminal=True),
    TumorMarkerResult: tumor_markers(_any_time),
    OrganContact: organ_contacts(),
    Metastasis: metastases(_any_time),
    SystemicTherapy: systemic_therapies(_any_time),
    TherapyNotGiven: therapies_not_given(),
    FollowUp: follow_ups(_any_time),
    ApproachStep: approach_steps(),
    AssociatedResection: associated_resections(),
    IvcManagement: ivc_managements(),
    Complication: complications(),
    OrganInfiltration: organ_infiltrations(),
}


# ------------------------------------------------------------------------------------- sections


@_cached
def patient_identifiers() -> SearchStrategy[PatientIdentifier]:
    systems = st.one_of(
        st.just("urn:oid:1.2.36.146.595.217.0.1"),
        st.from_regex(r"https://hospital[0-9]\.example\.org/(mrn|nid|pid)", fullmatch=True),
        source_systems(),
    )
    values = st.one_of(
        st.from_regex(r"[A-Z]{0,3}[0-9]{4,10}", fullmatch=True),
        free_texts(max_size=60, longest=200),
    )
    return _objects(
        PatientIdentifier,
        {"system": systems, "value": values},
        {"type": _enum(PatientIdentifier, "type")},
    )


@_cached
def patients() -> SearchStrategy[Patient]:
    return _objects(
        Patient,
        {"sex": _enum(Patient, "sex")},
        {
            "birth_date": fhir_dates(with_time=False),
            "age_at_diagnosis_years": st.integers(1, 130),
            "identifiers": st.lists(patient_identifiers(), max_size=MAX_ITEMS),
        },
    )


@_cached
def presentations() -> SearchStrategy[Presentation]:
    return _objects(Presentation, {"symptoms": keyed_lists(symptoms(), min_size=1)}, {})


@_cached
def biopsies(times: SearchStrategy[TimePoint]) -> SearchStrategy[Biopsy]:
    return _objects(
        Biopsy,
        {"method": _enum(Biopsy, "method"), "result": free_texts()},
        {"when": times},
    )


_ICDO3 = st.from_regex(r"[0-9]{4}/[0-39]", fullmatch=True)


@_cached
def diagnoses(times: SearchStrategy[TimePoint]) -> SearchStrategy[Diagnosis]:
    return _objects(
        Diagnosis,
        {"ivc_segments": _unique_enums(Diagnosis, "ivc_segments", min_size=1)},
        {
            "histology": free_texts(),
            "icdo3_morphology": _ICDO3,
            "intraluminal_extension": _unique_enums(Diagnosis, "intraluminal_extension"),
            "organ_contact": keyed_lists(organ_contacts()),
            "basis": _enum(Diagnosis, "basis"),
            "when": times,
        },
    )


@_cached
def surgeries() -> SearchStrategy[Surgery]:
    return _objects(
        Surgery,
        {"resected_segments": _unique_enums(Surgery, "resected_segments", min_size=1)},
        {
            "date": fhir_dates(),
            "intent": _enum(Surgery, "intent"),
            "en_bloc": st.booleans(),
            "resection_extent": _enum(Surgery, "resection_extent"),
            "approach": keyed_lists(approach_steps()),
            "associated_resections": keyed_lists(associated_resections()),
            "ivc_management": keyed_lists(ivc_managements()),
            "operative_time_min": tenths(0, 2880, exclude_low=True),
            "ivc_clamp_time_min": tenths(0, 2880, exclude_low=True),
            "blood_loss_ml": tenths(0, 50000),
            "complications": keyed_lists(complications()),
            "postoperative_stay_days": st.integers(0, 365),
            "notes": st.lists(free_texts(), max_size=MAX_ITEMS),
        },
    )


@_cached
def pathologies() -> SearchStrategy[Pathology]:
    return _objects(
        Pathology,
        {},
        {
            "histologic_type": free_texts(),
            "icdo3_morphology": _ICDO3,
            "grade": _enum(Pathology, "grade"),
            "fnclcc_grade": _enum(Pathology, "fnclcc_grade"),
            "size_cm": _sizes(),
            "margin_status": _enum(Pathology, "margin_status"),
            "r_classification": _enum(Pathology, "r_classification"),
            "organ_infiltration": keyed_lists(organ_infiltrations()),
            "conclusion": free_texts(),
        },
    )


# ------------------------------------------------------------------------------------------ case


def _identity(
    value: str | SearchStrategy[str] | None, default: SearchStrategy[str]
) -> SearchStrategy[str]:
    if value is None:
        return default
    return st.just(value) if isinstance(value, str) else value


@_cached
def _sections(
    times: SearchStrategy[TimePoint], intraluminal: bool
) -> dict[str, SearchStrategy[Any]]:
    """The optional sections of a case, for the kind of times it may use."""
    return {
        "schema_version": st.just("1.0"),
        "presentation": presentations(),
        "imaging": keyed_lists(imaging_studies(times, intraluminal=intraluminal)),
        "tumor_markers": keyed_lists(tumor_markers(times)),
        "biopsy": biopsies(times),
        "pathology": pathologies(),
        "metastases": keyed_lists(metastases(times)),
        "systemic_therapy": keyed_lists(systemic_therapies(times)),
        "therapy_not_given": keyed_lists(therapies_not_given()),
        "follow_up": keyed_lists(follow_ups(times)),
    }


_SURGERY = st.none() | surgeries()


@st.composite
def _cases(draw: DrawFn, case_id: SearchStrategy[str], source_system: SearchStrategy[str]) -> Case:
    surgery = draw(_SURGERY)
    times = time_points(relative=surgery is not None)  # relative times need the surgery
    diagnosis = draw(diagnoses(times))
    fields: dict[str, Any] = {
        "case_id": draw(case_id),
        "source_system": draw(source_system),
        "patient": draw(patients()),
    }
    intraluminal = bool(diagnosis.intraluminal_extension)
    for name, section in _sections(times, intraluminal).items():
        # each section present or absent independently; imaging always drawn when it may
        # target the intraluminal extension, so that rarer combination comes up often
        if draw(_BOOLEANS) or (intraluminal and name == "imaging"):
            fields[name] = draw(section)
    # Case.inferred stays empty: its only leaf fields are the case's identity.
    return Case(**fields, diagnosis=diagnosis, surgery=surgery)


@_cached
def cases(
    *,
    case_id: str | SearchStrategy[str] | None = None,
    source_system: str | SearchStrategy[str] | None = None,
) -> SearchStrategy[Case]:
    """Valid cases covering every field of the model.

    ``case_id`` / ``source_system``: a fixed value, a strategy, or None for ``case_ids()`` /
    ``source_systems()``.
    """
    return _cases(_identity(case_id, case_ids()), _identity(source_system, source_systems()))
