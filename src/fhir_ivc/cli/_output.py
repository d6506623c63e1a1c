"""What the commands tell the user on stderr: progress, REJECT lines, the summary.

Messages name cases by id only (no patient data). The progress bar is drawn only when stderr is a
terminal, so logs and pipes get plain lines.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["Reporter", "reject_line"]


def reject_line(case_id: str | None, path: str, reason: str, source: str) -> str:
    """``REJECT case-7 surgery.blood_loss_ml: Input should be ... (cases.ndjson:12)``."""
    where = f" {path}" if path else ""
    text = f"REJECT {case_id or '<no case_id>'}{where}: {reason} ({source})"
    return " ".join(text.split())  # one line, whatever the reason holds


class Reporter:
    """Progress (terminal only), REJECT lines and the final summary of one command run.

    ``quiet`` hides the progress bar and the summary; REJECT lines are always printed.
    """

    def __init__(self, *, quiet: bool, progress: bool | None = None) -> None:
        self.quiet = quiet
        self._console = Console(
            stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True
        )
        show = (not quiet and sys.stderr.isatty()) if progress is None else progress
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if show:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed} records"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("mapping", total=None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def record_done(self) -> None:
        """One more input record handled (mapped or rejected)."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)

    def reject(self, case_id: str | None, path: str, reason: str, source: str) -> None:
        self._console.print(reject_line(case_id, path, reason, source))

    def summary(self, text: str) -> None:
        if not self.quiet:
            self._console.print(text)
