"""The pull engine: find patients, gather each one's resources, read them back into case records.

Pure functions and small state holders used by ``find_patients`` / ``gather_patient`` /
``pull_patient`` / ``pull_many`` of both clients (the I/O lives in the client shells):

**Finding patients.** :class:`PatientQuery` says which patients: by identifier (``system|value``),
by a list of identifiers (one ``Patient?identifier=a|1,a|2,…`` search per batch: a comma is OR in
a FHIR token search), or every patient carrying an identifier in a given system
(``Patient?identifier=system|``: R4 search.html#token, "``[system]|``: any code in the system";
HAPI FHIR 8.8.0 answers it, tests/integration/test_pull.py).

**Gathering one patient's data.** With ``Patient/[id]/$everything`` when the server's
CapabilityStatement offers it, paging through the searchset it returns; otherwise one search per
resource type in :data:`SEARCHES` (``Condition?subject=Patient/[id]`` …) with the ``_include`` /
``_revinclude`` values the server lists for that type. Then every reference to a resource that
is not in the result yet is read (``GET [type]/[id]``), transitively. A resource is kept once
per ``Type/id`` (:class:`ResourceSet`), and never read when the result already has it.

**Reading.** :func:`read_pulled` runs :func:`fhir_ivc.bundle.read_case` over the resources, with
the source system of the identifier that found the patient. :class:`PatientPull` carries the
case (or why there is none) and every loss: the readers' and the gatherer's own (a referenced
resource the server does not have, a reference to another server, …). Nothing is dropped
silently.

Nothing here logs PHI: log lines name resource types, counts and server ids, never identifiers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from fhir_ivc.bundle.disassemble import CaseReadResult, read_case
from fhir_ivc.client import CapabilityInfo
from fhir_ivc.client._answers import server_resources, strings_of
from fhir_ivc.client._core import JsonDict, QueryValue
from fhir_ivc.exceptions import FhirIvcError
from fhir_ivc.exchange.manifest import case_resources, search_params
from fhir_ivc.exchange.resources import ResourceSet, page_resources
from fhir_ivc.mappers._read import Loss
from fhir_ivc.model import Case

__all__ = [
    "DEFAULT_IDENTIFIER_BATCH",
    "MAX_REFERENCE_READS",
    "PROBE_MIN_PATIENTS",
    "PROBE_PATIENTS",
    "SEARCHES",
    "STRATEGIES",
    "PatientPull",
    "PatientQuery",
    "PullTarget",
    "SearchSupport",
    "Strategy",
    "TypeSearch",
    "choose_faster",
    "drain",
    "everything_params",
    "failed_pull",
    "manifest_search_of",
    "not_found_pull",
    "parse_identifier",
    "patients_in",
    "plan_targets",
    "probe_patients",
    "probe_verdict",
    "read_pulled",
    "resolve_strategy",
    "search_plan",
    "target_key",
    "token",
]

logger = logging.getLogger("fhir_ivc.exchange")

#: ``auto``: ``search`` when the CapabilityStatement does not offer ``$everything``; when it
#: does, whichever of the two gathers the first patients faster (:func:`choose_faster`).
Strategy = Literal["auto", "everything", "search"]
STRATEGIES: Final[tuple[Strategy, ...]] = get_args(Strategy)

#: Identifiers per ``Patient?identifier=…`` search (OR-ed with commas); keeps URLs short.
DEFAULT_IDENTIFIER_BATCH: Final = 20
#: Reads of referenced resources per patient; beyond this the rest is reported, not read.
MAX_REFERENCE_READS: Final = 200


# --------------------------------------------------------------------------------------------
# Which patients
# --------------------------------------------------------------------------------------------


def token(system: str, value: str = "") -> str:
    r"""A FHIR token search value ``system|value``, with ``\``, ``,``, ``$`` and ``|`` escaped.

    R4 search.html "Escaping Search Parameters". ``token(system)`` is ``system|``: any value in
    that system. httpx percent-encodes the result as a query parameter.
    """

    def esc(text: str) -> str:
        for char in ("\\", ",", "$", "|"):
            text = text.replace(char, "\\" + char)
        return text

    return f"{esc(system)}|{esc(value)}"


def parse_identifier(text: str) -> tuple[str, str]:
    """``"SYSTEM|VALUE"`` → ``(system, value)``; ``ValueError`` when either part is empty.

    The split is at the first ``|``: identifier systems are URIs, which do not contain one.
    """
    system, sep, value = text.strip().partition("|")
    if not sep:
        raise ValueError("expected SYSTEM|VALUE: there is no '|'")  # the value is not echoed
    if not system:
        raise ValueError("the identifier system is empty (SYSTEM|VALUE)")
    if not value:
        raise ValueError(
            "the identifier value is empty; to pull every patient of a system use a system query"
        )
    return system, value


@dataclass(frozen=True)
class PatientQuery:
    """Which patients to pull: the given identifiers, or all with an identifier in ``system``."""

    identifiers: tuple[tuple[str, str], ...] = ()
    system: str | None = None
    #: read only the resources the case's manifest lists (see fhir_ivc.exchange.manifest)
    manifest_only: bool = False

    def __post_init__(self) -> None:
        if bool(self.identifiers) == (self.system is not None):
            raise ValueError("a PatientQuery needs identifiers or a system (exactly one of them)")
        if self.system is not None and not self.system:
            raise ValueError("the identifier system is empty")

    @classmethod
    def by_identifiers(cls, identifiers: Iterable[str | tuple[str, str]]) -> PatientQuery:
        """From ``"system|value"`` strings or ``(system, value)`` pairs; duplicates are dropped."""
        pairs: dict[tuple[str, str], None] = {}
        for item in identifiers:
            pair = parse_identifier(item) if isinstance(item, str) else (item[0], item[1])
            pairs.setdefault(pair, None)
        return cls(identifiers=tuple(pairs))

    @classmethod
    def by_system(cls, system: str) -> PatientQuery:
        return cls(system=system)

    def only_manifest(self) -> PatientQuery:
        """The same query, reading only what each case's manifest lists."""
        return dataclasses.replace(self, manifest_only=True)

    def searches(
        self, count: int | None = None, batch: int = DEFAULT_IDENTIFIER_BATCH
    ) -> list[dict[str, QueryValue]]:
        """The ``Patient`` search parameters, one dict per request."""
        extra: dict[str, QueryValue] = {"_count": count} if count else {}
        if self.system is not None:
            return [{"identifier": token(self.system), **extra}]
        out = []
        for start in range(0, len(self.identifiers), batch):
            chunk = self.identifiers[start : start + batch]
            out.append({"identifier": ",".join(token(s, v) for s, v in chunk), **extra})
        return out

    def selecting_identifier(self, patient: Mapping[str, Any]) -> tuple[str, str] | None:
        """The identifier of ``patient`` this query selected it by (its case identifier)."""
        idents = [
            (i.get("system"), i.get("value"))
            for i in patient.get("identifier") or []
            if isinstance(i, Mapping)
        ]
        if self.system is not None:
            return next(
                ((s, v) for s, v in idents if s == self.system and isinstance(v, str)), None
            )
        have = set(idents)
        return next((pair for pair in self.identifiers if pair in have), None)


@dataclass(frozen=True)
class PullTarget:
    """One patient to pull (or one requested identifier that matched no patient)."""

    source_system: str | None
    case_id: str | None
    patient: JsonDict | None = None
    #: set when the target cannot become a case whatever its data (e.g. a shared identifier)
    conflict: str | None = None
    manifest_only: bool = False

    @property
    def patient_ref(self) -> str | None:
        return f"Patient/{self.patient['id']}" if self.patient is not None else None


def patients_in(page: Mapping[str, Any]) -> Iterator[JsonDict]:
    """The Patients of a search answer's page that have an id (the others cannot be pulled)."""
    for resource in page_resources(page):
        if (
            isinstance(resource, dict)
            and resource.get("resourceType") == "Patient"
            and isinstance(resource.get("id"), str)
        ):
            yield resource


def manifest_search_of(target: PullTarget) -> dict[str, str] | None:
    """The search for the case manifest of a target known only by it (``$everything`` need not
    return the List: HAPI does not), else ``None``."""
    if target.manifest_only and target.source_system and target.case_id:
        return search_params(target.source_system, target.case_id)
    return None


def plan_targets(query: PatientQuery, patients: Sequence[JsonDict]) -> list[PullTarget]:
    """One target per patient found (in query order), plus one per identifier nobody carries.

    Two patients carrying the same case identifier are both pulled, and both marked conflicting:
    which one is the case cannot be told from the data.
    """
    targets: list[PullTarget] = []
    by_identifier: dict[tuple[str, str], list[JsonDict]] = {}
    unselected: list[JsonDict] = []
    for patient in patients:
        pair = query.selecting_identifier(patient)
        if pair is None:  # the server matched something we did not ask for (e.g. case folding)
            unselected.append(patient)
            continue
        by_identifier.setdefault(pair, []).append(patient)
    order = list(query.identifiers) if query.identifiers else list(by_identifier)
    for pair in order:
        found = by_identifier.get(pair, [])
        if not found:
            targets.append(PullTarget(source_system=pair[0], case_id=pair[1]))
            continue
        conflict = None
        if len(found) > 1:
            refs = ", ".join(f"Patient/{p['id']}" for p in found)
            conflict = (
                f"conflicting values: {len(found)} patients carry this case identifier ({refs})"
            )
        targets.extend(
            PullTarget(
                source_system=pair[0],
                case_id=pair[1],
                patient=p,
                conflict=conflict,
                manifest_only=query.manifest_only,
            )
            for p in found
        )
    for patient in unselected:
        logger.warning(
            "search returned Patient/%s, which does not carry the identifier searched for; "
            "not pulled",
            patient.get("id"),
        )
    return targets


def target_key(target: PullTarget) -> str:
    """The target's key in a pull journal: ``Patient/[id]``, or the identifier nobody carries."""
    if target.patient is not None:
        return f"Patient/{target.patient['id']}"
    return f"identifier:{token(target.source_system or '', target.case_id or '')}"


def drain(
    targets: list[PullTarget], skip: Callable[[PullTarget], bool] | None = None
) -> Iterator[PullTarget]:
    """The targets in order, each released (with its Patient resource) once it is taken.

    ``pull_many(..., keep=False)`` then holds only the targets not started yet. Targets for
    which ``skip`` is true (finished by an earlier run) are passed over.
    """
    queue = deque(targets)
    targets.clear()
    while queue:
        target = queue.popleft()
        if skip is None or not skip(target):
            yield target


# --------------------------------------------------------------------------------------------
# How to gather one patient's data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeSearch:
    """One search of the fallback path: ``[type]?[param]=Patient/[id]`` plus includes."""

    resource_type: str
    patient_param: str
    #: ``_include`` targets outside the patient compartment (used when the server lists them)
    includes: tuple[str, ...] = ()
    #: ``_revinclude``: resources that point at this type's results but not at the patient
    revincludes: tuple[str, ...] = ()


#: The fallback when ``$everything`` is not offered: every resource type the readers use, plus
#: the ones mCODE producers commonly add (so that they are reported as losses, not missed).
SEARCHES: Final[tuple[TypeSearch, ...]] = (
    TypeSearch("Condition", "subject", revincludes=("Observation:focus",)),
    TypeSearch("BodyStructure", "patient"),
    TypeSearch("Procedure", "subject", revincludes=("Observation:part-of",)),
    TypeSearch(
        "Observation", "subject", includes=("Observation:specimen", "Observation:has-member")
    ),
    TypeSearch("Specimen", "subject"),
    TypeSearch(
        "DiagnosticReport",
        "subject",
        includes=("DiagnosticReport:result", "DiagnosticReport:specimen"),
    ),
    TypeSearch(
        "MedicationAdministration", "subject", includes=("MedicationAdministration:medication",)
    ),
    TypeSearch("MedicationRequest", "subject", includes=("MedicationRequest:medication",)),
    TypeSearch("MedicationStatement", "subject", includes=("MedicationStatement:medication",)),
    TypeSearch("Encounter", "subject"),
    TypeSearch("FamilyMemberHistory", "patient"),
)


@dataclass(frozen=True)
class SearchSupport:
    """What a server's CapabilityStatement says about searching, per resource type.

    An empty statement (no ``rest.resource``) means "unknown": everything is tried.
    """

    params: Mapping[str, frozenset[str]] = field(default_factory=dict)
    includes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    revincludes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    interactions: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_statement(cls, statement: Mapping[str, Any]) -> SearchSupport:
        params: dict[str, frozenset[str]] = {}
        includes: dict[str, frozenset[str]] = {}
        revincludes: dict[str, frozenset[str]] = {}
        interactions: dict[str, frozenset[str]] = {}
        for rtype, resource in server_resources(statement):
            params[rtype] = params.get(rtype, frozenset()) | strings_of(
                resource.get("searchParam"), "name"
            )
            includes[rtype] = includes.get(rtype, frozenset()) | strings_of(
                resource.get("searchInclude")
            )
            revincludes[rtype] = revincludes.get(rtype, frozenset()) | strings_of(
                resource.get("searchRevInclude")
            )
            interactions[rtype] = interactions.get(rtype, frozenset()) | strings_of(
                resource.get("interaction"), "code"
            )
        return cls(
            params=params, includes=includes, revincludes=revincludes, interactions=interactions
        )

    @property
    def known(self) -> bool:
        return bool(self.interactions)

    def can_search(self, resource_type: str, param: str) -> bool:
        if not self.known:
            return True
        if "search-type" not in self.interactions.get(resource_type, frozenset()):
            return False
        listed = self.params.get(resource_type, frozenset())
        return not listed or param in listed  # a statement without searchParam lists none

    def can_read(self, resource_type: str) -> bool:
        return not self.known or "read" in self.interactions.get(resource_type, frozenset())

    def can_include(self, resource_type: str, include: str) -> bool:
        return self.known and include in self.includes.get(resource_type, frozenset())

    def can_revinclude(self, resource_type: str, revinclude: str) -> bool:
        return self.known and revinclude in self.revincludes.get(resource_type, frozenset())


def resolve_strategy(
    strategy: Strategy, capabilities: CapabilityInfo
) -> Literal["everything", "search"]:
    """``auto`` → ``everything`` when the server offers ``Patient/$everything``, else ``search``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if strategy == "auto":
        return (
            "everything" if capabilities.supports_operation("everything", "Patient") else "search"
        )
    return strategy


#: ``auto`` times both strategies on this many patients before it chooses (when it may choose)
PROBE_PATIENTS: Final = 2
#: … and only when a run pulls at least this many (below, the probe would cost more than it saves)
PROBE_MIN_PATIENTS: Final = 8


def probe_patients(
    strategy: Strategy,
    resolved: Literal["everything", "search"],
    targets: Sequence[PullTarget],
    skip: Callable[[PullTarget], bool] | None,
) -> list[JsonDict]:
    """The patients ``auto`` gathers both ways before it chooses: the first
    :data:`PROBE_PATIENTS` to pull when the server offers ``$everything`` and at least
    :data:`PROBE_MIN_PATIENTS` are to be pulled; else none (no probe)."""
    if strategy != "auto" or resolved != "everything":
        return []
    todo = [t.patient for t in targets if t.patient is not None and not (skip and skip(t))]
    return todo[:PROBE_PATIENTS] if len(todo) >= PROBE_MIN_PATIENTS else []


def choose_faster(seconds: Mapping[str, float]) -> Literal["everything", "search"]:
    """The strategy that gathered the probe patients in less wall time (ties: ``everything``).

    Why measure: on HAPI FHIR 8.8 with H2, ``$everything`` gets slower as the *server* grows
    (docs/pull.md "Why $everything slows down"), the searches do not; which is faster depends
    on the server, so ``auto`` asks the clock, not the CapabilityStatement.
    """
    return "search" if seconds.get("search", float("inf")) < seconds["everything"] else "everything"


def probe_verdict(seconds: Mapping[str, float], probed: int) -> Literal["everything", "search"]:
    """:func:`choose_faster`, logged with the wall times of the ``probed`` patients."""
    chosen = choose_faster(seconds)
    logger.info(
        "pull: auto: %d patients took %.2f s with $everything, %.2f s with the searches: %s",
        probed,
        seconds["everything"],
        seconds["search"],
        chosen,
    )
    return chosen


def everything_params(count: int | None) -> dict[str, QueryValue]:
    return {"_count": count} if count else {}


def search_plan(
    patient_id: str, support: SearchSupport, count: int | None = None
) -> list[tuple[str, dict[str, QueryValue | list[QueryValue]]]]:
    """The fallback searches for one patient: ``[(type, params), …]``, only what the server offers.

    ``_include``/``_revinclude`` values are sent only when the server lists them in
    ``searchInclude``/``searchRevInclude``: an unknown one may make a server refuse the search.
    """
    plan: list[tuple[str, dict[str, QueryValue | list[QueryValue]]]] = []
    for search in SEARCHES:
        if not support.can_search(search.resource_type, search.patient_param):
            continue
        params: dict[str, QueryValue | list[QueryValue]] = {
            search.patient_param: f"Patient/{patient_id}"
        }
        includes: list[QueryValue] = [
            i for i in search.includes if support.can_include(search.resource_type, i)
        ]
        revincludes: list[QueryValue] = [
            r for r in search.revincludes if support.can_revinclude(search.resource_type, r)
        ]
        if includes:
            params["_include"] = includes
        if revincludes:
            params["_revinclude"] = revincludes
        if count:
            params["_count"] = count
        plan.append((search.resource_type, params))
    return plan


# --------------------------------------------------------------------------------------------
# The result of pulling one patient
# --------------------------------------------------------------------------------------------


@dataclass
class PatientPull:
    """One pulled patient: the case read from its resources (or why there is none), the losses."""

    #: ``Patient/[server id]``; ``None`` when no patient matched the requested identifier
    patient: str | None
    source_system: str | None
    case_id: str | None
    #: ``everything`` or ``search``; ``None`` when nothing was gathered
    strategy: str | None = None
    resources: list[JsonDict] = field(default_factory=list, repr=False)
    read: CaseReadResult | None = field(default=None, repr=False)
    #: losses of the gathering itself (unreadable references, other servers)
    gather_losses: list[Loss] = field(default_factory=list)
    #: why the patient could not be pulled or cannot be a case (not found, conflict, I/O error)
    error: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    #: requests made for this patient (pages + reads), for the summary and the benchmark
    requests: int = 0

    @property
    def ok(self) -> bool:
        """True when a valid case was read (and nothing makes it unusable)."""
        return self.error is None and self.read is not None and self.read.case is not None

    @property
    def case(self) -> Case | None:
        return self.read.case if self.ok and self.read is not None else None

    @property
    def losses(self) -> list[Loss]:
        return [*self.gather_losses, *(self.read.losses if self.read is not None else [])]

    @property
    def problem(self) -> str | None:
        """The one-line reason this patient is not a case, ``None`` when it is."""
        if self.error is not None:
            return self.error
        if self.read is None:
            return "nothing was read"
        return self.read.error

    def loss_report(self) -> dict[str, Any]:
        """The loss report entry of this patient (JSON-ready).

        ``fields`` (what did map) is given only when no valid case came out, so that a record that
        does not validate still shows what was read.
        """
        report: dict[str, Any] = {
            "case_id": self.case_id,
            "source_system": self.source_system,
            "patient": self.patient,
            "ok": self.ok,
            "error": self.problem,
            "strategy": self.strategy,
            "resources": len(self.resources),
            "losses": [loss.as_dict() for loss in self.losses],
        }
        if not self.ok and self.read is not None and self.read.fields:
            report["fields"] = self.read.fields
        return report


def read_pulled(
    target: PullTarget, resources: ResourceSet, *, strategy: str, requests: int
) -> PatientPull:
    """Read the gathered resources of ``target`` into a case (see :func:`read_case`)."""
    items = case_resources(resources.items(), manifest_only=target.manifest_only)
    read = read_case(items, source_system=target.source_system)
    return PatientPull(
        patient=target.patient_ref,
        source_system=target.source_system,
        case_id=read.case_id or target.case_id,
        strategy=strategy,
        resources=resources.resources(),
        read=read,
        gather_losses=list(resources.losses),
        error=target.conflict,
        requests=requests,
    )


def not_found_pull(target: PullTarget) -> PatientPull:
    return PatientPull(
        patient=None,
        source_system=target.source_system,
        case_id=target.case_id,
        error="no patient on the server carries this identifier",
    )


def failed_pull(target: PullTarget, exc: BaseException) -> PatientPull:
    """A patient whose data could not be gathered (transport, auth, server error …)."""
    if isinstance(exc, FhirIvcError):
        error = f"could not pull {target.patient_ref}: {exc}"
    else:
        error = f"could not pull {target.patient_ref}: unexpected {type(exc).__name__}: {exc}"
    return PatientPull(
        patient=target.patient_ref,
        source_system=target.source_system,
        case_id=target.case_id,
        error=error,
        exception=exc,
    )
