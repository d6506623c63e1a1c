"""``fhir-ivc push --replay FILE``: the dead letters of earlier runs as the cases to push.

Each letter becomes an :class:`~fhir_ivc.cli._push_input.Item` again: its record is mapped
(and checked) as a case record would be, its prebuilt bundle is sent as it is. A letter that
cannot be read, mapped or checked is a reject and stays in the file, unchanged; the letters of
cases that fail again are written back by the run (:class:`~fhir_ivc.cli._push_feed.Feed`) with
their new error and attempts. The file is replaced only when the run ends
(:class:`~fhir_ivc.exchange.deadletters.DeadLetterWriter` with ``replace=True``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from fhir_ivc.cli._push_input import Item, Reject, Work, Works, case_element_sources
from fhir_ivc.cli._services import BuildBundles
from fhir_ivc.exceptions import MappingError
from fhir_ivc.exchange.deadletters import DeadLetterWriter, read_dead_letters
from fhir_ivc.model import Case

__all__ = ["replay_works"]


def replay_works(
    path: Path, works: Works, build: BuildBundles, kept: DeadLetterWriter
) -> Iterator[Work]:
    """The letters of ``path`` as units of work; what is not sent is copied into ``kept``."""
    for number, line, letter in read_dead_letters(path):
        where = f"{path}:{number}"
        if isinstance(letter, str):
            kept.keep(line)
            yield works.reject(None, where, [("", letter)])
            continue
        source = letter.source or where
        if letter.record is not None:
            try:
                case = Case.model_validate(letter.record)
                bundles = build(case)
            except ValidationError as exc:
                kept.keep(line)
                yield works.reject(letter.case_id, source, [("", _first_error(exc))])
                continue
            except MappingError as exc:
                kept.keep(line)
                yield works.reject(letter.case_id, source, [(exc.path, str(exc))])
                continue
            work: Item | Reject = works.item(
                case.case_id,
                source,
                bundles.transaction,
                bundles.sources,
                case=case,
                attempts=letter.attempts,
            )
        else:
            bundle = letter.bundle or {}
            work = works.item(
                letter.case_id,
                source,
                bundle,
                case_element_sources(bundle),
                attempts=letter.attempts,
            )
        if isinstance(work, Reject):
            kept.keep(line)
        yield work


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the record is not a valid case"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
