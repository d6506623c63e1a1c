"""``fhir-ivc map --bulk DIR``: case records to a Bulk Data folder (docs/bulk.md).

The same streaming run as ``map`` (:class:`fhir_ivc.cli._map_run.MapRun`: one case in memory, a
bad record rejects that record only), with bundles built with logical ids and a
:class:`~fhir_ivc.bulk.ndjson.BulkDirWriter` instead of a bundle writer: one NDJSON file per
resource type, ``cases.ndjson``, ``manifest.json``, ``rejects.ndjson``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from fhir_ivc.bulk.ndjson import REJECTS_FILE, BulkDirWriter
from fhir_ivc.cli._exit import CliExit, ExitCode, exit_on_error
from fhir_ivc.cli._ids import Ids
from fhir_ivc.cli._inputs import check_inputs
from fhir_ivc.cli._map_run import MapRun
from fhir_ivc.cli._options import dir_option
from fhir_ivc.cli._output import Reporter, plural
from fhir_ivc.cli._services import Services
from fhir_ivc.io import BundleKind, InputLimits, RejectsWriter, iter_inputs

__all__ = ["BulkDirOption", "map_bulk"]

BulkDirOption = Annotated[
    Path | None,
    dir_option(
        "--bulk",
        help="Write a Bulk Data folder instead: one NDJSON file per resource type (logical "
        "ids, references Type/id), cases.ndjson and manifest.json, for 'push --bulk' "
        "($import). See docs/bulk.md.",
        show_default=False,
    ),
]


def map_bulk(
    use: Services,
    inputs: Sequence[Path],
    folder: Path,
    others: tuple[Path | None, Path | None],
    limits: InputLimits,
    *,
    rejects: Path | None,
    validate: bool,
    quiet: bool,
) -> None:
    """The ``map --bulk`` run; exit 0 all mapped, 1 some rejected, 2 the run could not be done.

    ``others`` are ``--out`` and ``--ndjson`` (refused with ``--bulk``).
    """
    started = time.perf_counter()
    conflicting = [n for n, v in zip(("--out", "--ndjson"), others, strict=True) if v is not None]
    if conflicting:
        raise typer.BadParameter(
            f"--bulk writes its own files; do not combine it with {' / '.join(conflicting)}",
            param_hint="'--bulk'",
        )
    check_inputs(inputs)
    rejects = folder / REJECTS_FILE if rejects is None else rejects
    check = use.check_bundle if validate else None
    with exit_on_error():
        with contextlib.ExitStack() as stack:
            writer = stack.enter_context(BulkDirWriter(folder))
            rejects_writer = stack.enter_context(RejectsWriter(rejects))
            reporter = stack.enter_context(Reporter(quiet=quiet, doing="mapping", unit="records"))
            # bulk output needs logical ids whatever --ids says (NDJSON has no fullUrls)
            run = MapRun(
                use.builder(Ids.LOGICAL),
                check,
                (BundleKind.TRANSACTION,),
                writer,
                rejects_writer,
                reporter,
            )
            run.consume(iter_inputs(list(inputs), limits=limits))
            writer.rejected = run.rejected
        files = writer.files()
        elapsed = time.perf_counter() - started
        by_type = ", ".join(f"{f.type} {f.count}" for f in files)
        summary = (
            f"mapped {plural(run.mapped, 'case')}, rejected {run.rejected}, wrote "
            f"{plural(sum(f.count for f in files), 'resource')} in "
            f"{plural(len(files), 'file')} to {folder} in {elapsed:.2f} s ({by_type})"
        )
        if run.rejected:
            summary += f"; rejects in {rejects}"
        reporter.info(summary)
    if run.rejected:
        raise CliExit(ExitCode.SOME_FAILED)
