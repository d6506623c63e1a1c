"""The pull engine against respx: what a real server will not do on demand.

Relative next links, a repeated next link, a next link to another host, a server without
``$everything`` (search fallback), a referenced resource missing from the result (read once),
429 during a page read (retried). The happy path against HAPI FHIR is in
tests/integration/test_pull.py. Every test runs for ``FhirClient`` and ``AsyncFhirClient``.

The fake server (:class:`FakeServer`) holds real resources: a synthetic case mapped with
``build_bundles`` and given server ids, so a pull must read it back equal to the original.
"""

from __future__ import annotations

import copy
import gc
import re
import weakref
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from fhir_ivc.bundle import build_bundles
from fhir_ivc.client import CapabilityInfo
from fhir_ivc.exceptions import RequestError
from fhir_ivc.exchange import _async, _sync
from fhir_ivc.exchange import pull as pull_plan
from fhir_ivc.exchange.pull import (
    SEARCHES,
    PatientPull,
    PatientQuery,
    PullTarget,
    SearchSupport,
    parse_identifier,
    plan_targets,
    resolve_strategy,
    search_plan,
    token,
)
from fhir_ivc.exchange.resources import ResourceSet
from fhir_ivc.mappers._read import Loss
from fhir_ivc.model import Case
from fhir_ivc.testing.synth import synthetic_case
from tests.client._support import capability, make_response

from .conftest import BASE

pytestmark = pytest.mark.anyio

SYSTEM = "urn:fhir-ivc:test:pull"


# --------------------------------------------------------------------------------------------
# A small FHIR server in a function
# --------------------------------------------------------------------------------------------


def server_resources(case: Case) -> list[dict[str, Any]]:
    """The case's resources as a server holds them: ids, and ``Type/id`` references."""
    entries = build_bundles(case).collection["entry"]
    names = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries
    }

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: rewrite(v) for k, v in value.items()}
            if isinstance(out.get("reference"), str) and out["reference"] in names:
                out["reference"] = names[out["reference"]]
            return out
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    return [rewrite(copy.deepcopy(e["resource"])) for e in entries]


def statement(*, everything: bool = True, includes: bool = True) -> dict[str, Any]:
    """A CapabilityStatement offering read + search of every type the fallback uses."""
    base = capability()
    resources = []
    for search in SEARCHES:
        resources.append(
            {
                "type": search.resource_type,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [{"name": search.patient_param, "type": "reference"}],
                "searchInclude": list(search.includes) if includes else [],
                "searchRevInclude": list(search.revincludes) if includes else [],
            }
        )
    resources.append(
        {
            "type": "Patient",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "identifier", "type": "token"}],
            "operation": (
                [{"name": "everything", "definition": "http://x/OperationDefinition/everything"}]
                if everything
                else []
            ),
        }
    )
    resources.append({"type": "Practitioner", "interaction": [{"code": "read"}]})
    base["rest"][0]["resource"] = resources
    return base


def _unescape_tokens(text: str) -> list[tuple[str, str]]:
    """``a|1,b\\,c|2`` → ``[("a", "1"), ("b,c", "2")]`` (FHIR search escaping)."""
    out, current, parts = [], "", []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            current += next(chars, "")
        elif char == "|":
            parts.append(current)
            current = ""
        elif char == ",":
            parts.append(current)
            out.append((parts[0], parts[1]))
            parts, current = [], ""
        else:
            current += char
    parts.append(current)
    out.append((parts[0], parts[1]))
    return out


class FakeServer:
    """GET metadata, Patient?identifier=, Patient/[id]/$everything, [type]?[param]=, [type]/[id].

    Pages of ``_count`` entries (default 3) linked with *relative* next links, as some servers
    do. ``requests`` records ``(path, params)`` of every request.
    """

    def __init__(self, resources: list[dict[str, Any]], *, everything: bool = True) -> None:
        self.resources = resources
        self.statement = statement(everything=everything)
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.hidden: set[str] = set()  # Type/id left out of $everything and searches

    def key(self, resource: dict[str, Any]) -> str:
        return f"{resource['resourceType']}/{resource['id']}"

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/fhir/")
        params: dict[str, list[str]] = {}
        for name, value in request.url.params.multi_items():
            params.setdefault(name, []).append(value)
        self.requests.append((path, params))
        if path == "metadata":
            return make_response(200, self.statement)
        if path == "Patient" and "identifier" in params:
            wanted = _unescape_tokens(params["identifier"][0])
            found = [
                r
                for r in self.resources
                if r["resourceType"] == "Patient"
                and any(
                    (i["system"], i["value"]) in wanted or (i["system"], "") in wanted
                    for i in r.get("identifier", [])
                )
            ]
            return self.page(path, params, found)
        if re.fullmatch(r"[A-Za-z]+", path) and "_summary" in params:  # the server's clock
            return make_response(
                200,
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "meta": {"lastUpdated": "2026-12-01T10:00:00.000+00:00"},
                    "total": 0,
                },
            )
        if re.fullmatch(r"[A-Za-z]+", path) and "_lastUpdated" in params:  # all "changed"
            found = [r for r in self.resources if r["resourceType"] == path]
            return self.page(path, params, found)
        if m := re.fullmatch(r"Patient/([^/]+)/\$everything", path):
            return self.page(path, params, self.of_patient(m[1]))
        if m := re.fullmatch(r"([A-Za-z]+)/([^/]+)", path):
            for resource in self.resources:
                if self.key(resource) == path:
                    return make_response(200, resource)
            return make_response(404, {"resourceType": "OperationOutcome", "issue": []})
        if re.fullmatch(r"[A-Za-z]+", path):
            (param,) = [p for p in params if not p.startswith("_") and p != "page"]
            target = params[param][0]
            found = [
                r
                for r in self.of_patient(target.split("/")[1])
                if r["resourceType"] == path and r["resourceType"] != "Patient"
            ]
            return self.page(path, params, found)
        raise AssertionError(f"unexpected request {path}")

    def of_patient(self, patient_id: str) -> list[dict[str, Any]]:
        ref = f"Patient/{patient_id}"
        out = []
        for resource in self.resources:
            if self.key(resource) in self.hidden:
                continue
            if self.key(resource) == ref or ref in repr(resource):
                out.append(resource)
        return out

    def page(
        self, path: str, params: dict[str, list[str]], found: list[dict[str, Any]]
    ) -> httpx.Response:
        size = int(params.get("_count", ["3"])[0])
        number = int(params.get("page", ["1"])[0])
        chunk = found[(number - 1) * size : number * size]
        links = []
        if number * size < len(found):
            query = "&".join(f"{k}={v}" for k, vs in params.items() if k != "page" for v in vs)
            links.append({"relation": "next", "url": f"{path}?{query}&page={number + 1}"})
        return make_response(
            200,
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "link": links,
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in chunk],
            },
        )


def cases(n: int = 2) -> list[Case]:
    return [synthetic_case(i, source_system=SYSTEM) for i in range(n)]


def serve(router, server: FakeServer) -> None:
    router.route().mock(side_effect=server.handler)


async def pull(client, query: PatientQuery, **kwargs: Any) -> list[PatientPull]:
    results: list[PatientPull] = await client.engine("pull_many", query, **kwargs)
    return results


# --------------------------------------------------------------------------------------------
# Pure parts
# --------------------------------------------------------------------------------------------


def test_token_escapes_the_search_special_characters():
    assert token("urn:a", "x|y,z$w\\v") == "urn:a|x\\|y\\,z\\$w\\\\v"
    assert token("urn:a") == "urn:a|"


@pytest.mark.parametrize(
    ("text", "message"),
    [("IVC-1", "SYSTEM|VALUE"), ("|IVC-1", "system is empty"), ("urn:a|", "value is empty")],
)
def test_parse_identifier_refuses_incomplete_identifiers(text, message):
    with pytest.raises(ValueError, match=message):
        parse_identifier(text)


def test_identifier_queries_are_batched_and_deduplicated():
    query = PatientQuery.by_identifiers([f"urn:a|{i}" for i in range(45)] + ["urn:a|0"])
    searches = query.searches(count=10)
    assert len(query.identifiers) == 45
    assert len(searches) == 3
    assert searches[0]["identifier"] == ",".join(f"urn:a|{i}" for i in range(20))
    assert all(s["_count"] == 10 for s in searches)
    assert PatientQuery.by_system("urn:a").searches() == [{"identifier": "urn:a|"}]


def test_a_query_needs_exactly_one_kind_of_selection():
    with pytest.raises(ValueError, match="exactly one"):
        PatientQuery()
    with pytest.raises(ValueError, match="exactly one"):
        PatientQuery(identifiers=(("urn:a", "1"),), system="urn:a")


def test_targets_keep_query_order_report_unknown_identifiers_and_shared_ones():
    query = PatientQuery.by_identifiers(["urn:a|1", "urn:a|2", "urn:a|3"])
    patients = [
        {"resourceType": "Patient", "id": "p3", "identifier": [{"system": "urn:a", "value": "3"}]},
        {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:a", "value": "1"}]},
        {"resourceType": "Patient", "id": "q3", "identifier": [{"system": "urn:a", "value": "3"}]},
    ]
    targets = plan_targets(query, patients)
    assert [(t.case_id, t.patient_ref) for t in targets] == [
        ("1", "Patient/p1"),
        ("2", None),
        ("3", "Patient/p3"),
        ("3", "Patient/q3"),
    ]
    assert targets[0].conflict is None
    assert "2 patients carry this case identifier" in str(targets[2].conflict)
    assert targets[2].conflict == targets[3].conflict


def test_the_search_plan_sends_only_what_the_server_lists():
    listed = SearchSupport.from_statement(statement())
    plan = dict(search_plan("p1", listed, count=7))
    assert plan["Observation"] == {
        "subject": "Patient/p1",
        "_include": ["Observation:specimen", "Observation:has-member"],
        "_count": 7,
    }
    assert plan["Condition"]["_revinclude"] == ["Observation:focus"]
    assert plan["BodyStructure"] == {"patient": "Patient/p1", "_count": 7}
    bare = SearchSupport.from_statement(statement(includes=False))
    assert "_include" not in dict(search_plan("p1", bare))["Observation"]
    unknown = SearchSupport()  # no statement: every search, no includes
    assert [t for t, _ in search_plan("p1", unknown)] == [s.resource_type for s in SEARCHES]
    only_conditions = statement()
    only_conditions["rest"][0]["resource"] = [
        r for r in only_conditions["rest"][0]["resource"] if r["type"] == "Condition"
    ]
    assert [t for t, _ in search_plan("p1", SearchSupport.from_statement(only_conditions))] == [
        "Condition"
    ]


def test_auto_uses_everything_only_when_the_server_offers_it():
    offers = CapabilityInfo.from_statement(statement(everything=True))
    lacks = CapabilityInfo.from_statement(statement(everything=False))
    assert resolve_strategy("auto", offers) == "everything"
    assert resolve_strategy("auto", lacks) == "search"
    assert resolve_strategy("everything", lacks) == "everything"  # forced
    with pytest.raises(ValueError, match="strategy"):
        resolve_strategy("all", offers)  # type: ignore[arg-type]


def test_resource_set_keeps_each_resource_once_and_knows_what_is_missing():
    held = ResourceSet(BASE)
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "subject": {"reference": "Patient/p1"},
        "specimen": {"reference": f"{BASE}/Specimen/s1"},
        "focus": [
            {"reference": "#contained"},
            {"reference": "urn:uuid:x"},
            {"reference": "http://other.test/fhir/Condition/c9"},
            {"reference": "Condition/c1/_history/3"},
        ],
    }
    assert held.add({"resourceType": "Patient", "id": "p1"})
    assert held.add(observation)
    assert not held.add(dict(observation))
    assert held.duplicates == 1
    assert held.missing() == ["Specimen/s1", "Condition/c1"]
    held.attempt("Specimen/s1")
    held.unreadable("Condition/c1", "the server answered HTTP 404 to reading it")
    assert held.missing() == []
    assert [loss.resource for loss in held.losses] == ["http://other.test", "Condition/c1"]
    assert "not followed" in held.losses[0].reason


def test_loss_report_shows_what_mapped_when_no_case_came_out():
    pulled = PatientPull(
        patient="Patient/p1",
        source_system=SYSTEM,
        case_id="x",
        gather_losses=[Loss("Practitioner/9", "", "referenced, but gone")],
    )
    report = pulled.loss_report()
    assert report["ok"] is False
    assert report["error"] == "nothing was read"
    assert report["losses"] == [
        {"resource": "Practitioner/9", "element": "", "reason": "referenced, but gone"}
    ]


# --------------------------------------------------------------------------------------------
# Against the fake server, both clients
# --------------------------------------------------------------------------------------------


async def test_everything_with_relative_next_links_reads_the_cases_back(client, router):
    originals = cases(2)
    server = FakeServer([r for c in originals for r in server_resources(c)])
    serve(router, server)
    results = await pull(client, PatientQuery.by_system(SYSTEM), count=4)
    assert [r.case for r in results] == originals
    assert all(r.strategy == "everything" and r.losses == [] for r in results)
    pages = [p for p, _ in server.requests if p.endswith("$everything")]
    sizes = [len(server.of_patient(p.split("/")[1])) for p in dict.fromkeys(pages)]
    assert len(pages) == sum(-(-size // 4) for size in sizes) > len(originals)  # several pages
    assert not any(p == "Condition" for p, _ in server.requests)


async def test_more_patients_than_a_page_are_all_found(client, router):
    originals = cases(7)
    server = FakeServer([r for c in originals for r in server_resources(c)])
    serve(router, server)
    results = await pull(client, PatientQuery.by_system(SYSTEM), count=2)
    assert sorted(r.case_id for r in results if r.ok) == sorted(c.case_id for c in originals)
    patient_pages = [q for p, q in server.requests if p == "Patient"]
    assert len(patient_pages) == 4  # 7 patients, 2 per page


async def test_identifiers_not_on_the_server_are_reported(client, router):
    (original,) = cases(1)
    serve(router, FakeServer(server_resources(original)))
    query = PatientQuery.by_identifiers([f"{SYSTEM}|nobody", f"{SYSTEM}|{original.case_id}"])
    missing, found = await pull(client, query)
    assert (missing.ok, missing.patient, missing.case_id) == (False, None, "nobody")
    assert missing.problem == "no patient on the server carries this identifier"
    assert found.case == original


async def test_without_everything_the_type_searches_are_used(client, router):
    originals = cases(2)
    server = FakeServer([r for c in originals for r in server_resources(c)], everything=False)
    serve(router, server)
    results = await pull(client, PatientQuery.by_system(SYSTEM), count=50)
    assert [r.case for r in results] == originals
    assert {r.strategy for r in results} == {"search"}
    paths = [p for p, _ in server.requests]
    assert not any(p.endswith("$everything") for p in paths)
    searched = [(p, q) for p, q in server.requests if p == "Observation"]
    assert len(searched) == 2
    assert searched[0][1]["_include"] == ["Observation:specimen", "Observation:has-member"]


async def test_search_fallback_can_be_forced(client, router):
    (original,) = cases(1)
    server = FakeServer(server_resources(original), everything=True)
    serve(router, server)
    (result,) = await pull(client, PatientQuery.by_system(SYSTEM), strategy="search")
    assert result.case == original
    assert not any(p.endswith("$everything") for p, _ in server.requests)


async def test_a_referenced_resource_missing_from_the_result_is_read_once(client, router):
    original = synthetic_case(0, source_system=SYSTEM)
    resources = server_resources(original)
    server = FakeServer(resources)
    primary = next(r for r in resources if "mcode-primary-cancer-condition" in repr(r.get("meta")))
    server.hidden.add(f"Condition/{primary['id']}")  # $everything leaves it out; many refer to it
    serve(router, server)
    (result,) = await pull(client, PatientQuery.by_system(SYSTEM))
    assert result.case == original
    reads = [p for p, _ in server.requests if p == f"Condition/{primary['id']}"]
    assert reads == [f"Condition/{primary['id']}"]


async def test_a_referenced_resource_the_server_does_not_have_is_a_loss(client, router):
    original = synthetic_case(0, source_system=SYSTEM)
    resources = server_resources(original)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    patient["generalPractitioner"] = [{"reference": "Practitioner/gone"}]
    patient["link"] = [{"other": {"reference": "RelatedPerson/r1"}, "type": "seealso"}]
    server = FakeServer(resources)
    serve(router, server)
    (result,) = await pull(client, PatientQuery.by_system(SYSTEM))
    assert [p for p, _ in server.requests if p == "Practitioner/gone"] == ["Practitioner/gone"]
    assert (
        Loss("Practitioner/gone", "", "referenced, but the server answered HTTP 404 to reading it")
        in result.losses
    )
    assert (
        Loss(
            f"Patient/{patient['id']}",
            "Patient.generalPractitioner",
            "element not carried by the case record",
        )
        in result.losses
    )
    assert (
        Loss(
            "RelatedPerson/r1",
            "",
            "referenced, but the server does not offer reading RelatedPerson",
        )
        in result.losses
    )
    assert not any(p.startswith("RelatedPerson") for p, _ in server.requests)
    assert result.ok  # losses do not make the case invalid


def _everything_page(resources: list[dict[str, Any]], next_url: str | None) -> httpx.Response:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return make_response(
        200,
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [{"resource": r} for r in resources],
        },
    )


def _one_patient(router) -> tuple[Case, list[dict[str, Any]], str]:
    original = synthetic_case(1, source_system=SYSTEM)
    resources = server_resources(original)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    router.get("/metadata").mock(return_value=make_response(200, statement()))
    router.get("/Patient").mock(return_value=_everything_page([patient], None))
    return original, resources, patient["id"]


async def test_a_repeated_next_link_does_not_loop(client, router):
    original, resources, pid = _one_patient(router)
    half = len(resources) // 2
    first = router.get(f"/Patient/{pid}/$everything", params={"page": "2"}).mock(
        return_value=_everything_page(resources[half:], f"Patient/{pid}/$everything?page=2")
    )
    start = router.get(f"/Patient/{pid}/$everything").mock(
        return_value=_everything_page(resources[:half], f"Patient/{pid}/$everything?page=2")
    )
    (result,) = await pull(client, PatientQuery.by_system(SYSTEM))
    assert result.case == original
    assert first.call_count == 1
    assert start.call_count == 1


async def test_a_next_link_to_another_host_is_refused(client, router):
    _, resources, pid = _one_patient(router)
    router.get(f"/Patient/{pid}/$everything").mock(
        return_value=_everything_page(resources[:3], "http://evil.test/fhir?_getpages=x")
    )
    (result,) = await pull(client, PatientQuery.by_system(SYSTEM))
    assert not result.ok
    assert isinstance(result.exception, RequestError)
    assert "refusing to follow search next link to http://evil.test" in str(result.problem)
    # nothing was sent there: the router has no route for it and would have failed the test


async def test_429_during_a_page_read_is_retried(client, router):
    original, resources, pid = _one_patient(router)
    half = len(resources) // 2
    router.get(f"/Patient/{pid}/$everything", params={"page": "2"}).mock(
        side_effect=[
            make_response(429, headers={"Retry-After": "3"}),
            _everything_page(resources[half:], None),
        ]
    )
    router.get(f"/Patient/{pid}/$everything").mock(
        return_value=_everything_page(resources[:half], f"Patient/{pid}/$everything?page=2")
    )
    (result,) = await pull(client, PatientQuery.by_system(SYSTEM))
    assert result.case == original
    assert client.delays == [3.0]


async def test_one_failing_patient_does_not_stop_the_others(client, router):
    originals = cases(3)
    server = FakeServer([r for c in originals for r in server_resources(c)])
    broken = next(r["id"] for r in server.resources if r["resourceType"] == "Patient")
    original_handler = server.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"/Patient/{broken}/$everything"):
            return make_response(400, {"resourceType": "OperationOutcome", "issue": []})
        return original_handler(request)

    router.route().mock(side_effect=handler)
    seen: list[str | None] = []
    results = await pull(
        client,
        PatientQuery.by_system(SYSTEM),
        concurrency=2,
        on_result=lambda r: seen.append(r.case_id),
    )
    assert sorted(seen, key=str) == sorted((r.case_id for r in results), key=str)
    failed = [r for r in results if not r.ok]
    assert [r.patient for r in failed] == [f"Patient/{broken}"]
    assert "HTTP 400" in str(failed[0].problem)
    assert sum(r.ok for r in results) == 2


async def test_finding_patients_raises_when_the_server_refuses(client, router):
    router.get("/metadata").mock(return_value=make_response(200, statement()))
    router.get("/Patient").mock(return_value=make_response(403))
    with pytest.raises(RequestError, match="403"):
        await pull(client, PatientQuery.by_system(SYSTEM))


async def test_gathering_rejects_a_patient_without_a_valid_id(client, router):
    router.get("/metadata").mock(return_value=make_response(200, statement()))
    with pytest.raises(ValueError, match="FHIR id"):
        await client.engine(
            "pull_patient",
            PullTarget(SYSTEM, "x", patient={"resourceType": "Patient", "id": "a/b"}),
        )
    await client.call("capabilities")  # the metadata route is used


# --------------------------------------------------------------------------------------------
# Streaming: keep=False holds no result after on_result
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_keep_false_hands_each_result_on_and_holds_none(client, router, concurrency):
    originals = cases(5)
    server = FakeServer([r for c in originals for r in server_resources(c)])
    serve(router, server)
    alive: list[weakref.ref[PatientPull]] = []
    most_alive = 0

    def on_result(pulled: PatientPull) -> None:
        nonlocal most_alive
        alive.append(weakref.ref(pulled))
        most_alive = max(most_alive, sum(ref() is not None for ref in alive))

    results = await pull(
        client,
        PatientQuery.by_system(SYSTEM),
        concurrency=concurrency,
        on_result=on_result,
        keep=False,
    )
    assert results == []
    assert len(alive) == 5
    # at most the window of calls in flight (2 x concurrency for threads) is alive at once
    assert most_alive <= 2 * concurrency + 1, most_alive
    gc.collect()
    assert all(ref() is None for ref in alive)


async def test_keep_false_without_on_result_is_refused(client, router):
    with pytest.raises(ValueError, match="on_result"):
        await pull(client, PatientQuery.by_system(SYSTEM), keep=False)


# --------------------------------------------------------------------------------------------
# auto: measure both strategies on the first patients, use the faster
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("slow", "chosen"), [("everything", "search"), ("search", "everything")])
async def test_auto_uses_the_strategy_that_was_faster_on_the_first_patients(
    client, router, monkeypatch, slow, chosen
):
    clock = [0.0]  # the engines' clock: advanced by the fake server's "slow" answers only
    monkeypatch.setattr(pull_plan, "PROBE_MIN_PATIENTS", 3)  # the probe's decision
    for engine in (_async, _sync):
        monkeypatch.setattr(engine, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    originals = cases(3)
    server = FakeServer([r for c in originals for r in server_resources(c)])

    def handler(request: httpx.Request) -> httpx.Response:
        is_everything = request.url.path.endswith("$everything")
        is_search = not is_everything and "subject" in request.url.params
        if slow == "everything" and is_everything:
            clock[0] += 0.3  # one request per patient
        if slow == "search" and is_search:
            clock[0] += 0.05  # eleven per patient
        return server.handler(request)

    router.route().mock(side_effect=handler)
    results = await pull(client, PatientQuery.by_system(SYSTEM), count=100)
    assert [r.case for r in results] == originals
    assert {r.strategy for r in results} == {chosen}
    # the probe gathered PROBE_PATIENTS (2) patients both ways before the run
    everything = [p for p, _ in server.requests if p.endswith("$everything")]
    assert len(everything) == 2 + (3 if chosen == "everything" else 0)


async def test_auto_takes_everything_when_the_searches_fail_on_the_probe(
    client, router, monkeypatch
):
    monkeypatch.setattr(pull_plan, "PROBE_MIN_PATIENTS", 3)
    originals = cases(3)
    server = FakeServer([r for c in originals for r in server_resources(c)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Condition"):
            return make_response(400, {"resourceType": "OperationOutcome", "issue": []})
        return server.handler(request)

    router.route().mock(side_effect=handler)
    results = await pull(client, PatientQuery.by_system(SYSTEM), count=100)
    assert [r.case for r in results] == originals
    assert {r.strategy for r in results} == {"everything"}
