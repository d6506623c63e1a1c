"""What the commands tell the user on stderr: progress, REJECT/FAIL lines, the summary.

One :class:`Reporter` serves ``map``, ``push`` and ``pull``. Messages name cases by id only (no
patient data). The progress line is drawn only when stderr is a terminal, so logs and pipes get
plain lines; standard output stays free for data (``--ndjson -``, the dry-run listing).
"""

from __future__ import annotations

import sys
from typing import Self

from rich.console import Console, RenderableType
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from fhir_ivc._types import ExcInfo

__all__ = ["Reporter", "reject_line"]


def reject_line(case_id: str | None, path: str, reason: str, source: str) -> str:
    """``REJECT case-7 surgery.blood_loss_ml: Input should be ... (cases.ndjson:12)``."""
    where = f" {path}" if path else ""
    text = f"REJECT {case_id or '<no case_id>'}{where}: {reason} ({source})"
    return " ".join(text.split())  # one line, whatever the reason holds


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

    def reject(self, case_id: str | None, path: str, reason: str, source: str) -> None:
        self.line(reject_line(case_id, path, reason, source))
