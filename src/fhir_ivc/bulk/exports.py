"""``$export`` (FHIR Bulk Data Access, R4 / IG 2.0): kick-off, wait, manifest, downloads, resume.

``Patient/$export`` or ``Group/[id]/$export`` with ``_type`` and ``_since``, ``Prefer:
respond-async``; the status URL is polled (:meth:`fhir_ivc.bulk.http.BulkHttp.wait`) until the
server answers ``200`` with the manifest (``transactionTime``, ``requiresAccessToken``,
``output``: one ``{type, url}`` per NDJSON file, ``error``: OperationOutcome files). Each file
is then streamed to disk (never held in memory, a truncated one fetched again).

**Resume.** An export is a server-side job: the state file (:class:`ExportState`, JSON) is
written as soon as the status URL is known and after every finished download, so a run that
was interrupted — while the job ran, or half-way through the downloads — continues with the
same job and only the files not yet on disk (``pull --bulk`` finds the state file again, or
takes ``--resume URL``). It is removed when the run ends without an error.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from fhir_ivc.bulk.http import BulkHttp, Progress
from fhir_ivc.bulk.ndjson import NDJSON_TYPE
from fhir_ivc.client._errors import redact_url
from fhir_ivc.exceptions import ConfigError, FhirHttpError, RequestError
from fhir_ivc.exchange.pull import SEARCHES
from fhir_ivc.fhir.ids import is_id, is_resource_type
from fhir_ivc.io import atomic_write_bytes, dump_json

__all__ = [
    "PULL_TYPES",
    "ExportFile",
    "ExportManifest",
    "ExportRequest",
    "ExportState",
    "download_outputs",
    "export_types",
    "parse_manifest",
    "run_export",
]


#: The ``_type`` of an export unless told otherwise: the Patient and the types ``pull`` searches
#: per patient (:data:`~fhir_ivc.exchange.pull.SEARCHES`: every type the readers use, and those
#: they report as a loss). Not ``List``: the reader does not take a case manifest from an export
#: (:mod:`fhir_ivc.bulk.regroup` gives Lists to no patient), and HAPI refuses ``List`` and
#: ``Group`` in a ``Patient/$export`` ("omitted from patient level export for security
#: reasons"). Without ``_type`` a server exports every type it has for patients, ~140 on HAPI,
#: and HAPI's ``Group/[id]/$export`` then runs an ``_include=*`` pass for each of them: at
#: 3,000 patients it had not finished after 43 minutes (docs/bulk.md).
PULL_TYPES: Final[tuple[str, ...]] = ("Patient", *(s.resource_type for s in SEARCHES))


def export_types(names: Iterable[str]) -> tuple[str, ...]:
    """The ``_type`` that ``--type`` values ask for (each repeated or comma-separated): none,
    :data:`PULL_TYPES`; ``all`` alone, ``()`` (no ``_type``: what the server exports)."""
    split = tuple(t.strip() for item in names for t in item.split(",") if t.strip())
    if split == ("all",):
        return ()
    if "all" in split:
        raise ConfigError("--type all stands alone: it asks for every type the server has")
    return split or PULL_TYPES


@dataclass(frozen=True)
class ExportRequest:
    """What to export: all patients or one Group, which types, changed since when.

    ``types`` defaults to :data:`PULL_TYPES`; ``()`` sends no ``_type`` (what the server
    exports for patients).
    """

    group: str | None = None
    types: tuple[str, ...] = PULL_TYPES
    since: str | None = None

    def __post_init__(self) -> None:
        if self.group is not None and not is_id(self.group):
            raise ConfigError(f"not a FHIR id: {self.group!r} (--group)")
        for rtype in self.types:
            if not is_resource_type(rtype):
                raise ConfigError(f"not a resource type: {rtype!r} (--type)")
        if self.since is not None:
            try:
                when = datetime.datetime.fromisoformat(self.since.replace("Z", "+00:00"))
            except ValueError:
                raise ConfigError(
                    f"--since {self.since!r} is not a FHIR instant (e.g. 2026-01-31T12:00:00Z)"
                ) from None
            if when.tzinfo is None:
                raise ConfigError("--since needs a time zone (…Z or …+01:00), as FHIR instants do")

    @property
    def path(self) -> str:
        return f"Group/{self.group}/$export" if self.group else "Patient/$export"

    def params(self) -> dict[str, str]:
        params = {"_outputFormat": NDJSON_TYPE}
        if self.types:
            params["_type"] = ",".join(self.types)
        if self.since:
            params["_since"] = self.since
        return params

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "params": self.params()}


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One output file of the manifest."""

    type: str
    url: str
    count: int | None = None


@dataclass(frozen=True)
class ExportManifest:
    """The completed job's answer."""

    transaction_time: str | None
    requires_token: bool
    files: tuple[ExportFile, ...]
    errors: tuple[ExportFile, ...]
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)


def parse_manifest(body: Any) -> ExportManifest:
    """The manifest of a completed export; ``FhirHttpError`` when it is not one."""
    if not isinstance(body, Mapping) or not isinstance(body.get("output"), list):
        raise FhirHttpError(
            "the completed export did not answer with a Bulk Data manifest (no 'output')",
            status_code=200,
        )

    def files(key: str) -> tuple[ExportFile, ...]:
        out = []
        for item in body.get(key) or []:
            if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
                raise FhirHttpError(f"a manifest '{key}' entry has no url", status_code=200)
            count = item.get("count")
            out.append(
                ExportFile(
                    str(item.get("type") or "OperationOutcome"),
                    item["url"],
                    count if isinstance(count, int) else None,
                )
            )
        return tuple(out)

    return ExportManifest(
        transaction_time=body.get("transactionTime")
        if isinstance(body.get("transactionTime"), str)
        else None,
        requires_token=body.get("requiresAccessToken") is not False,
        files=files("output"),
        errors=files("error"),
        raw=dict(body),
    )


class ExportState:
    """The resumable state of one export run, kept in a JSON file (atomically rewritten)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.exists():
            try:
                loaded = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise ConfigError(f"cannot read the export state {path}: {exc}") from exc
            if not isinstance(loaded, dict) or not isinstance(loaded.get("status_url"), str):
                raise ConfigError(f"{path} is not an export state file of fhir-ivc")
            self.data = loaded

    @property
    def status_url(self) -> str | None:
        url = self.data.get("status_url")
        return url if isinstance(url, str) else None

    @property
    def downloads(self) -> Path:
        """Where the files go: a folder next to the state file."""
        return self.path.with_name(self.path.name + ".d")

    def started(self, status_url: str, request: ExportRequest) -> None:
        self.data = {
            "status_url": status_url,
            "request": request.as_dict(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "downloaded": {},
        }
        self.save()

    def downloaded(self, url: str, name: str) -> None:
        self.data.setdefault("downloaded", {})[url] = name
        self.save()

    def done(self, url: str) -> Path | None:
        name = (self.data.get("downloaded") or {}).get(url)
        path = self.downloads / name if isinstance(name, str) else None
        return path if path is not None and path.is_file() else None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, dump_json(self.data, pretty=True))

    def remove(self) -> None:
        """The run is complete: the state and the downloaded files go."""
        for child in self.downloads.glob("*") if self.downloads.is_dir() else ():
            with contextlib.suppress(OSError):
                child.unlink()
        with contextlib.suppress(OSError):
            self.downloads.rmdir()
        with contextlib.suppress(OSError):
            self.path.unlink()


def run_export(
    http: BulkHttp,
    request: ExportRequest,
    state: ExportState,
    *,
    resume: str | None = None,
    on_started: Callable[[str, bool], None] | None = None,
    on_progress: Progress | None = None,
    timeout: float | None = None,
) -> ExportManifest:
    """Kick off the export (or take up ``resume`` / the saved status URL) and wait for it."""
    status_url = resume or state.status_url
    resumed = status_url is not None
    if status_url is None:
        status_url = http.kick_off(request.path, params=request.params())
        state.started(status_url, request)
    elif state.status_url != status_url:
        state.started(status_url, request)
    if on_started is not None:
        on_started(status_url, resumed)
    return parse_manifest(http.wait(status_url, on_progress=on_progress, timeout=timeout))


def _file_name(index: int, file: ExportFile) -> str:
    rtype = file.type if is_resource_type(file.type) else "Resource"
    return f"{index:04d}-{rtype}.ndjson"


def download_outputs(
    http: BulkHttp,
    manifest: ExportManifest,
    state: ExportState,
    *,
    on_file: Callable[[ExportFile, int, bool], None] | None = None,
) -> Iterator[tuple[ExportFile, Path]]:
    """Every output file on disk (streamed; already downloaded ones are kept), in order."""
    state.downloads.mkdir(mode=0o700, parents=True, exist_ok=True)  # the export's PHI
    for index, file in enumerate(manifest.files):
        kept = state.done(file.url)
        if kept is not None:
            if on_file is not None:
                on_file(file, kept.stat().st_size, True)
            yield file, kept
            continue
        path = state.downloads / _file_name(index, file)
        size = http.download(file.url, path, requires_token=manifest.requires_token)
        state.downloaded(file.url, path.name)
        if on_file is not None:
            on_file(file, size, False)
        yield file, path


def error_texts(
    http: BulkHttp, manifest: ExportManifest, state: ExportState, *, limit: int = 20
) -> list[str]:
    """The diagnostics of the manifest's ``error`` files (OperationOutcomes), at most ``limit``."""
    texts: list[str] = []
    state.downloads.mkdir(mode=0o700, parents=True, exist_ok=True)  # the export's PHI
    for index, file in enumerate(manifest.errors):
        path = state.downloads / f"error-{index:04d}.ndjson"
        try:
            http.download(file.url, path, requires_token=manifest.requires_token)
        except (RequestError, OSError) as exc:  # an HTTP error, a file over a bound, a cut-off
            texts.append(f"error file {redact_url(file.url)} could not be read: {exc}")
            continue
        with path.open("rb") as lines:
            for line in lines:
                with contextlib.suppress(orjson.JSONDecodeError):
                    outcome = orjson.loads(line)
                    for issue in outcome.get("issue") or []:
                        texts.append(str(issue.get("diagnostics") or issue.get("code")))
                if len(texts) >= limit:
                    return texts
        with contextlib.suppress(OSError):
            os.unlink(path)
    return texts


def describe(files: Sequence[ExportFile]) -> str:
    """``Patient 3, Condition 12`` (files per type)."""
    counts: dict[str, int] = {}
    for file in files:
        counts[file.type] = counts.get(file.type, 0) + 1
    return ", ".join(f"{t} {n}" for t, n in counts.items())
