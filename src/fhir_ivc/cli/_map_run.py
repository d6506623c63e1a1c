"""One ``map`` run over a stream of records (``map`` and ``map --bulk``): maps and checks each
case (here, or in ``-j N`` processes by :mod:`fhir_ivc.cli._map_jobs`), writes its bundles,
rejects a bad record with a REJECT line and a line in the rejects file; keeps counts only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fhir_ivc.cli._map_jobs import Outcome, Work, outcome
from fhir_ivc.cli._output import Reporter
from fhir_ivc.cli._services import BuildBundles, BundleCheck
from fhir_ivc.io import BundleKind, BundleWriter, CaseRecordResult, RejectsWriter

__all__ = ["MapRun"]


@dataclass
class MapRun:
    """One ``map`` run over a stream of records; keeps counts, never the cases or bundles."""

    build: BuildBundles
    check: BundleCheck | None
    kinds: Sequence[BundleKind]
    writer: BundleWriter
    rejects: RejectsWriter | None
    reporter: Reporter
    mapped: int = 0
    rejected: int = 0
    bundles: int = 0

    def __post_init__(self) -> None:
        # the only state that grows with the input: ids seen, to refuse a second case with the
        # same id instead of silently overwriting its bundles
        self._seen: set[str] = set()
        self.work = Work(self.build, self.check, self.kinds)

    def consume(self, results: Iterable[CaseRecordResult]) -> None:
        for result in results:
            self._one(result, None)
            self.reporter.advance()

    def consume_outcomes(self, pairs: Iterable[tuple[CaseRecordResult, Outcome | None]]) -> None:
        """Records whose outcome was computed elsewhere (``-j N``), in input order."""
        for result, done in pairs:
            self._one(result, done)
            self.reporter.advance()

    def _one(self, result: CaseRecordResult, done: Outcome | None) -> None:
        source = str(result.source)
        if result.case is None:
            self._reject([(err.case_id, err.path, err.reason) for err in result.errors], source)
            return
        case = result.case
        if case.case_id in self._seen:
            reason = "duplicate case_id: an earlier record has the same id"
            self._reject([(case.case_id, "case_id", reason)], source)
            return
        self._seen.add(case.case_id)
        done = outcome(self.work, case) if done is None else done
        if done.bundles is None:
            self._reject(done.errors, source)
            return
        self.bundles += self.writer.write(done.bundles)
        self.mapped += 1

    def _reject(self, errors: list[tuple[str | None, str, str]], source: str) -> None:
        self.rejected += 1
        for case_id, path, reason in errors:
            self.reporter.reject(case_id, path, reason, source)
            if self.rejects is not None:
                self.rejects.write(case_id, path, reason, source)
