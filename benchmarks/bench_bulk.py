"""Bulk Data benchmark: ``$import`` vs transactions, ``$export`` vs ``$everything``, one server.

    .venv/bin/python benchmarks/bench_bulk.py --load 5000 --pull 3000       # the issue's sizes
    .venv/bin/python benchmarks/bench_bulk.py --load 100 --pull 100 --json out.json   # a first look

The server is ``--server URL``, else the one ``scripts/fhir-server`` runs, else one this script
starts and stops (``benchmarks/bench_push.py``'s ``server_url``). Two measurements, each a ratio
of two ways of doing the same work on the same server in the same run:

**load** (``--load N`` cases): N synthetic cases, built twice under two fresh
``source_system``s (the same cases, all resources new each time). One copy goes in as a Bulk
Data folder with ``$import`` (``map --bulk`` + ``push --bulk`` minus the process start:
:func:`fhir_ivc.bulk.imports.write_parts`, the loopback file server, kick-off, polls every
0.5 s, the job report), the other as one transaction of ``PUT Type/id`` per case
(``push_many``, ``--concurrency`` at a time, the fastest way the transaction path has,
docs/push.md). Both take turns of ``--chunk`` cases, alternating which goes first, so that the
load of a shared machine hits both alike. Rate: resources stored per second of wall time, each
method counting its own: the ``$import`` folder also holds each case's manifest ``List``
(``map --bulk`` writes it), the transactions (``corrections`` off) do not.

**pull** (``--pull N`` patients): the first N cases of a third copy are loaded (by ``$import``),
then read back twice: ``pull --bulk`` (``Group/[id]/$export`` of a Group of exactly those
patients, downloaded and regrouped by patient) and ``pull`` with ``$everything`` (``pull_many``,
``--concurrency`` at a time). Rate: patients read into cases per second; both must read all N.
The export asks for ``pull --bulk``'s types (``--export-types``: others, or ``all`` for no
``_type``, which HAPI's Group export answers with an include pass per resource type it has:
at 3,000 patients it had not finished after 43 minutes, docs/bulk.md). ``--export-styles
group,patient`` also times ``Patient/$export`` (every patient of the server: on a fresh server
with ``--load 0`` that is the N pulled), in the order given, before ``$everything``.

The server runs on the same machine and competes with this process for CPU; the load average
before and after is printed and written to ``--json`` (quote numbers with it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_push import server_facts, server_url

from fhir_ivc.bulk.exports import (
    ExportRequest,
    ExportState,
    download_outputs,
    export_types,
    run_export,
)
from fhir_ivc.bulk.http import BulkHttp
from fhir_ivc.bulk.imports import run_import, write_parts
from fhir_ivc.bulk.ndjson import BulkDirWriter, read_manifest
from fhir_ivc.bulk.regroup import ExportIndex, read_patients
from fhir_ivc.bulk.serve import FileServer
from fhir_ivc.bundle import CaseBundles, build_bundles
from fhir_ivc.client import FHIR_JSON, FhirClient
from fhir_ivc.exceptions import ConfigError
from fhir_ivc.exchange import PatientQuery, pull_many, push_many
from fhir_ivc.testing.synth import synthetic_case


def _source_system(tag: str) -> str:
    return f"https://fhir-ivc.example.org/fhir/sid/bench-bulk-{tag}-{uuid.uuid4().hex[:12]}"


def _bundles(n: int, start: int, source_system: str) -> list[CaseBundles]:
    return [
        build_bundles(synthetic_case(i, seed=21, source_system=source_system), ids="logical")
        for i in range(start, start + n)
    ]


def _resources(bundles: list[CaseBundles]) -> int:
    return sum(len(b.transaction["entry"]) for b in bundles)


def import_bundles(base_url: str, bundles: list[CaseBundles], work: Path) -> tuple[float, int]:
    """Seconds to load ``bundles`` with ``$import`` (folder written before the clock starts),
    and the resources stored: the transactions' and each case's manifest List."""
    folder = work / f"bulk-{uuid.uuid4().hex[:8]}"
    with BulkDirWriter(folder) as writer:
        for b in bundles:
            writer.write(b)
    manifest = read_manifest(folder)
    started = time.perf_counter()
    parts = write_parts(manifest, work)
    with (
        FileServer({p.name: p.path for p in parts}) as files,
        BulkHttp(base_url, max_wait=0.5, min_wait=0.5, timeout=300) as http,
    ):
        result = run_import(
            http, manifest, parts, {p.name: files.url(p.name) for p in parts}, files.base
        )
    elapsed = time.perf_counter() - started
    totals = result.totals()
    if result.failed or totals["created"] != manifest.resources:
        raise SystemExit(f"$import did not create every resource: {totals} {result.message}")
    return elapsed, manifest.resources


def transact_bundles(base_url: str, bundles: list[CaseBundles], concurrency: int) -> float:
    started = time.perf_counter()
    with FhirClient(base_url, timeout=300) as client:
        results = push_many(
            client,
            [(b.case_id, b.transaction, b.sources) for b in bundles],
            concurrency=concurrency,
        )
    elapsed = time.perf_counter() - started
    bad = [r.error for r in results if not r.ok or r.counts["created"] != len(r.entries)]
    if bad:
        raise SystemExit(f"transactions failed: {bad[:3]}")
    return elapsed


def bench_load(base_url: str, n: int, chunk: int, concurrency: int, work: Path) -> dict[str, Any]:
    systems = {"import": _source_system("imp"), "transactions": _source_system("tx")}
    seconds = {"import": 0.0, "transactions": 0.0}
    stored = {"import": 0, "transactions": 0}
    for turn, start in enumerate(range(0, n, chunk)):
        size = min(chunk, n - start)
        order = ["import", "transactions"] if turn % 2 == 0 else ["transactions", "import"]
        for how in order:
            bundles = _bundles(size, start, systems[how])
            if how == "import":
                elapsed, count = import_bundles(base_url, bundles, work)
            else:
                elapsed, count = (
                    transact_bundles(base_url, bundles, concurrency),
                    _resources(bundles),
                )
            seconds[how] += elapsed
            stored[how] += count
        print(f"  load: {start + size}/{n} cases, {seconds}", flush=True)
    rates = {how: stored[how] / s for how, s in seconds.items()}
    return {
        "cases": n,
        "resources": stored,
        "seconds": seconds,
        "resources_per_s": rates,
        "import_over_transactions": rates["import"] / rates["transactions"],
    }


def _group(base_url: str, source_system: str, n: int) -> str:
    with httpx.Client(base_url=base_url, headers={"Accept": FHIR_JSON}, timeout=300) as fhir:
        ids: list[str] = []
        url: str | None = "Patient"
        params: dict[str, Any] | None = {"identifier": f"{source_system}|", "_count": 200}
        while url:
            page = fhir.get(url, params=params).raise_for_status().json()
            ids += [e["resource"]["id"] for e in page.get("entry", [])]
            url = next((x["url"] for x in page.get("link", []) if x["relation"] == "next"), None)
            params = None
        if len(ids) != n:
            raise SystemExit(f"expected {n} patients, found {len(ids)}")
        gid = f"bench-{uuid.uuid4().hex[:16]}"
        group = {
            "resourceType": "Group",
            "id": gid,
            "type": "person",
            "actual": True,
            "member": [{"entity": {"reference": f"Patient/{i}"}} for i in ids],
        }
        fhir.put(f"Group/{gid}", json=group, headers={"Content-Type": FHIR_JSON}).raise_for_status()
    return gid


def export_patients(
    base_url: str, gid: str | None, query: PatientQuery, work: Path, types: tuple[str, ...]
) -> tuple[float, int]:
    """``pull --bulk`` without the process start: export, download, regroup, read.

    ``gid``: ``Group/[gid]/$export``; ``None``: ``Patient/$export`` (every patient of the
    server; the query selects the pulled ones)."""
    started = time.perf_counter()
    state = ExportState(work / f"export-{uuid.uuid4().hex[:8]}.json")
    read = 0
    with BulkHttp(base_url, max_wait=0.5, min_wait=0.5, timeout=300) as http:
        manifest = run_export(http, ExportRequest(group=gid, types=types), state)
        with ExportIndex(work / f"index-{uuid.uuid4().hex[:8]}.sqlite") as index:
            for _file, path in download_outputs(http, manifest, state):
                index.add_file(path)
            read = sum(1 for p in read_patients(index, base_url, query) if p.ok)
    state.remove()
    return time.perf_counter() - started, read


def everything_patients(base_url: str, query: PatientQuery, concurrency: int) -> tuple[float, int]:
    started = time.perf_counter()
    with FhirClient(base_url, timeout=300) as client:
        results = pull_many(
            client, query, strategy="everything", count=200, concurrency=concurrency
        )
    return time.perf_counter() - started, sum(1 for r in results if r.ok)


def bench_pull(
    base_url: str,
    n: int,
    concurrency: int,
    work: Path,
    types: tuple[str, ...],
    styles: tuple[str, ...] = ("group",),
) -> dict[str, Any]:
    system = _source_system("pull")
    bundles = _bundles(n, 0, system)
    for start in range(0, n, 500):
        import_bundles(base_url, bundles[start : start + 500], work)
    gid = _group(base_url, system, n)
    query = PatientQuery.by_system(system)
    seconds: dict[str, float] = {}
    for how in (*(f"export-{style}" for style in styles), "everything"):
        if how.startswith("export-"):
            group = gid if how == "export-group" else None
            elapsed, read = export_patients(base_url, group, query, work, types)
        else:
            elapsed, read = everything_patients(base_url, query, concurrency)
        if read != n:
            raise SystemExit(f"{how}: {read} of {n} patients read into cases")
        seconds[how] = elapsed
        print(f"  pull: {how} {elapsed:.1f} s", flush=True)
    rates = {how: n / s for how, s in seconds.items()}
    return {
        "patients": n,
        "export_types": list(types) or "all (no _type)",
        "seconds": seconds,
        "patients_per_s": rates,
        **{
            f"{how}_over_everything": rate / rates["everything"]
            for how, rate in rates.items()
            if how != "everything"
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server", help="FHIR base URL (default: the local HAPI)")
    parser.add_argument("--load", type=int, default=5000, help="cases per load method (0: skip)")
    parser.add_argument("--pull", type=int, default=3000, help="patients to pull (0: skip)")
    parser.add_argument("--chunk", type=int, default=500, help="cases per alternating turn")
    parser.add_argument("--concurrency", type=int, default=4, help="transactions / pulls at a time")
    parser.add_argument(
        "--export-types",
        default="",
        help="the export's _type, comma-separated; 'all': no _type (default: pull --bulk's, "
        "fhir_ivc.bulk.exports.PULL_TYPES)",
    )
    parser.add_argument(
        "--export-styles",
        default="group",
        help="comma-separated, in this order: 'group' (Group/[id]/$export of the pulled "
        "patients), 'patient' (Patient/$export: every patient of the server, so run it on a "
        "server that holds only these, --load 0 on a fresh one)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    styles = tuple(s for s in args.export_styles.split(",") if s)
    if not styles or set(styles) - {"group", "patient"}:
        parser.error("--export-styles takes group and/or patient")
    try:
        types = export_types([args.export_types])
    except ConfigError as exc:
        parser.error(f"--export-types: {exc}")
    base_url, started_server = server_url(args.server)
    results: dict[str, Any] = {"server": server_facts(base_url), "load_avg_before": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
            work = Path(tmp)
            if args.load:
                results["load"] = bench_load(
                    base_url, args.load, args.chunk, args.concurrency, work
                )
            if args.pull:
                results["pull"] = bench_pull(
                    base_url, args.pull, args.concurrency, work, types, styles
                )
    finally:
        results["load_avg_after"] = os.getloadavg()
        if started_server:
            subprocess.run(
                [
                    "bash",
                    str(Path(__file__).resolve().parents[1] / "scripts" / "fhir-server"),
                    "stop",
                ],
                check=False,
            )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
