"""One ``map`` run over a stream of records (``map`` and ``map --bulk``): maps and checks each
case (here, or in ``-j N`` processes by :mod:`fhir_ivc.cli._map_jobs`), writes its bundles,
rejects a bad record with a REJECT line and a line in the rejects file; keeps counts only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fhir_ivc.cli._map_jobs import Finished, Problem, Work, outcome
from fhir_ivc.cli._output import Reporter
from fhir_ivc.cli._services import BuildBundles, BundleCheck
from fhir_ivc.io import (
    BundleKind,
    BundleWriter,
    CaseRecordResult,
    EncodedBundleWriter,
    RejectsWriter,
)

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
            self._one(result)
            self.reporter.advance()

    def consume_finished(self, records: Iterable[Finished], writer: EncodedBundleWriter) -> None:
        """Records finished elsewhere (``-j N``), in input order; ``writer`` is this run's
        writer, which takes the bundles as its encoder serialised them."""
        if writer is not self.writer:
            raise ValueError("consume_finished writes with the run's own writer")
        for done in records:
            if done.case_id is None:
                self._reject(done.errors, done.source)
            elif self._admit(done.case_id, done.source):
                if done.documents is None:
                    self._reject(done.errors, done.source)
                else:
                    self.bundles += writer.write_encoded(done.case_id, done.documents)
                    self.mapped += 1
            self.reporter.advance()

    def _one(self, result: CaseRecordResult) -> None:
        source = str(result.source)
        case = result.case
        if case is None:
            self._reject([(err.case_id, err.path, err.reason) for err in result.errors], source)
            return
        if not self._admit(case.case_id, source):
            return
        done = outcome(self.work, case)
        if done.bundles is None:
            self._reject(done.errors, source)
            return
        self.bundles += self.writer.write(done.bundles)
        self.mapped += 1

    def _admit(self, case_id: str, source: str) -> bool:
        """False (and the record rejected) when an earlier record had the same case id."""
        if case_id in self._seen:
            reason = "duplicate case_id: an earlier record has the same id"
            self._reject([(case_id, "case_id", reason)], source)
            return False
        self._seen.add(case_id)
        return True

    def _reject(self, errors: Iterable[Problem], source: str) -> None:
        self.rejected += 1
        for case_id, path, reason in errors:
            self.reporter.reject(case_id, path, reason, source)
            if self.rejects is not None:
                self.rejects.write(case_id, path, reason, source)
