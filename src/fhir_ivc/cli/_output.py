"""What the commands tell the user on stderr: progress, REJECT/FAIL lines, the summary.

One :class:`Reporter` serves ``map``, ``push`` and ``pull``. Messages name cases by id only (no
patient data). The progress line is drawn only when stderr is a terminal, so logs and pipes get
plain lines; standard output stays free for data (``--ndjson -``, the dry-run listing).
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Collection, Sequence
from typing import Final, Self

from rich.console import Console, RenderableType
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from fhir_ivc._types import ExcInfo

__all__ = ["TABLE_ROWS", "CaseRows", "Reporter", "now", "plural", "reject_line"]

#: cases listed one by one in the table a run ends with (a longer run lists fewer, see CaseRows)
TABLE_ROWS: Final = 50


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 case``, ``2 cases`` (``nouns``: an irregular plural, ``2 entries``)."""
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


def now() -> str:
    """The time of a report header or footer: UTC, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def reject_line(case_id: str | None, path: str, reason: str, source: str) -> str:
    """``REJECT case-7 surgery.blood_loss_ml: Input should be ... (cases.ndjson:12)``."""
    where = f" {path}" if path else ""
    text = f"REJECT {case_id or '<no case_id>'}{where}: {reason} ({source})"
    return " ".join(text.split())  # one line, whatever the reason holds


class CaseRows:
    """The rows of the table a run ends with, one per case, at most :data:`TABLE_ROWS`: every
    case of a run of up to that many; beyond, only the cases whose result is not ``quiet``.

    ``columns``: the heading of each cell, ``right``: the columns aligned right.
    """

    def __init__(
        self, columns: Sequence[str], *, right: Collection[str] = (), quiet: Collection[str]
    ) -> None:
        self.columns = tuple(columns)
        self.right = frozenset(right)
        self.quiet = frozenset(quiet)
        self._rows: list[tuple[int, str, tuple[str, ...]]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, cases: int, index: int, result: str, cells: Sequence[str]) -> None:
        """The row of case number ``index``, ``cases`` being the cases of the run so far."""
        if cases > TABLE_ROWS:  # too many to list: keep only the cases that were not ok
            self._rows = [row for row in self._rows if row[1] not in self.quiet]
            if result in self.quiet:
                return
        if len(self._rows) < TABLE_ROWS:
            self._rows.append((index, result, tuple(cells)))

    def table(self) -> Table | None:
        if not self._rows:
            return None
        table = Table(show_edge=False, pad_edge=False, box=None)
        for column in self.columns:
            table.add_column(column, justify="right" if column in self.right else "left")
        for _, _, cells in sorted(self._rows, key=lambda row: row[0]):
            table.add_row(*cells)
        return table


class Reporter:
    """Progress (terminal only), problem lines and the final summary of one command run.

    ``doing`` and ``unit`` label the progress line (``mapping 12 records``); ``quiet`` hides
    the progress and the :meth:`info` lines, never the :meth:`line` ones (REJECT, FAIL,
    warnings).
    """

    def __init__(self, *, quiet: bool, doing: str, unit: str, progress: bool | None = None) -> None:
        self.quiet = quiet
        self.console = Console(
            stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True
        )
        show = not quiet and sys.stderr.isatty() if progress is None else progress
        self._doing = doing
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if show:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn(f"{{task.completed}} {unit}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(self._doing, total=None, detail="")
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, detail: str = "") -> None:
        """One more unit done (a record mapped or rejected, a case pushed, a patient pulled)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, detail=detail)

    def line(self, text: str) -> None:
        """A line that is always shown (REJECT, FAIL, warnings)."""
        self.console.print(text)

    def info(self, text: str) -> None:
        """A line hidden by ``--quiet`` (the summary, where the run goes)."""
        if not self.quiet:
            self.console.print(text)

    def show(self, renderable: RenderableType) -> None:
        """A table or other rich renderable, hidden by ``--quiet``."""
        if not self.quiet:
            self.console.print(renderable)

    def rows(self, rows: CaseRows, cases: int, see: str) -> None:
        """The table of the cases, and how many more there were (all ok), hidden by ``--quiet``."""
        table = rows.table()
        if table is None or self.quiet:
            return
        self.console.print(table)
        if cases > len(rows):
            self.console.print(f"({cases - len(rows)} more cases that were ok are not listed{see})")

    def reject(self, case_id: str | None, path: str, reason: str, source: str) -> None:
        self.line(reject_line(case_id, path, reason, source))
