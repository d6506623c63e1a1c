"""What a push worker does per case besides the transaction: the ``--state`` journal, the
dead letters, corrections and splitting (``--max-entries``).

:class:`Feed` is built once per run by the command and shared by the producer (which asks
:meth:`Feed.confirmed` before queueing a case: a confirmed, unchanged case is never sent) and
the workers (:meth:`Feed.push` sends one case, :meth:`Feed.finished` records its outcome).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from fhir_ivc.cli._push_input import Item
from fhir_ivc.client import AsyncFhirClient
from fhir_ivc.exchange import CasePushResult
from fhir_ivc.exchange.deadletters import DeadLetter, DeadLetterWriter
from fhir_ivc.exchange.manifest import Corrections
from fhir_ivc.exchange.pipeline import push_item
from fhir_ivc.exchange.report import public_url
from fhir_ivc.exchange.state import PushState, bundle_hash

__all__ = ["Feed", "check_feed_options", "open_feed"]


@dataclass
class Feed:
    """The per-case options and journals of one push run."""

    corrections: Corrections = "delete"
    state: PushState | None = None
    dead_letters: DeadLetterWriter | None = None
    max_entries: int | None = None
    #: requests sent for the cases (``GET /metadata`` not included)
    requests: int = 0
    _digests: dict[int, str] = field(default_factory=dict)

    def _options(self) -> dict[str, Any]:
        """What changes the requests of a case besides its bundle (part of its hash)."""
        return {"corrections": self.corrections}

    def confirmed(self, item: Item) -> bool:
        """Whether ``--state`` holds this very bundle as confirmed (then it is not sent)."""
        if self.state is None:
            return False
        digest = bundle_hash(item.bundle, **self._options())
        if self.state.confirmed(item.case_id, digest):
            return True
        self._digests[item.index] = digest
        return False

    async def push(self, client: AsyncFhirClient, item: Item) -> CasePushResult:
        """Push one case; every error becomes a failed result (``push_many``'s isolation)."""
        return await push_item(
            client, item, corrections=self.corrections, max_entries=self.max_entries
        )

    def finished(self, item: Item, result: CasePushResult) -> None:
        """Journal the outcome: confirm an ok case, forget and dead-letter a failed one."""
        self.requests += result.requests
        digest = self._digests.pop(item.index, None)
        if self.state is not None:
            if result.ok and digest is not None:
                self.state.confirm(item.case_id, digest)
            elif not result.ok:
                self.state.forget(item.case_id)
        if not result.ok and self.dead_letters is not None:
            record = item.case.model_dump(mode="json", exclude_none=True) if item.case else None
            letter = DeadLetter.of(
                result,
                source=item.source,
                record=record,
                bundle=None if record is not None else item.bundle,
                earlier_attempts=item.attempts,
            )
            self.dead_letters.write(letter)


@contextlib.contextmanager
def open_feed(
    *,
    corrections: Corrections,
    server: str | None,
    state: Path | None = None,
    dead_letters: Path | None = None,
    replay: Path | None = None,
    commit: bool = True,
    max_entries: int | None = None,
) -> Iterator[Feed]:
    """The run's feed; the dead letters of a replay are moved into place when the block ends.

    ``replay``: failures are written back into that file (rewritten, with what could not be
    sent); else they are appended to ``dead_letters``. Leaving the block with an exception (or
    ``commit=False``, a dry run) leaves a replayed file as it was.
    """
    with contextlib.ExitStack() as stack:
        feed = Feed(corrections=corrections, max_entries=max_entries)
        if state is not None:
            feed.state = stack.enter_context(PushState(state, public_url(server or "")))
        target = replay if replay is not None else dead_letters
        if target is not None:
            writer = DeadLetterWriter(target, replace=replay is not None)
            feed.dead_letters = stack.enter_context(writer)
        yield feed
        if commit and feed.dead_letters is not None:
            feed.dead_letters.commit()


def check_feed_options(
    inputs: list[Path],
    *,
    dry_run: bool,
    state: Path | None,
    dead_letters: Path | None,
    replay: Path | None,
) -> None:
    """``typer.BadParameter`` (exit 2) for combinations that cannot be meant."""
    if replay is not None and inputs:
        raise typer.BadParameter("give INPUT or --replay, not both", param_hint="'--replay'")
    if replay is None and not inputs:
        raise typer.BadParameter("give at least one INPUT (or --replay FILE)", param_hint="INPUT")
    if replay is not None and dead_letters is not None:
        raise typer.BadParameter(
            "a replay writes what fails again back into the --replay file",
            param_hint="'--dead-letters'",
        )
    if dry_run and (state is not None or dead_letters is not None):
        raise typer.BadParameter(
            "a dry run sends nothing: nothing to journal", param_hint="'--state' / '--dead-letters'"
        )
