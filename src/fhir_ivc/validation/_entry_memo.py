"""The entry memo: a bundle entry's resource found clean before is not walked again.

``fhir-ivc map`` writes the same resources case after case, differing in the uuids it derives
(``urn:uuid`` references, the case uuid in ``identifier.value``): the same ECOG Observation,
the same surgical approach Procedure. Validating one is a function of its JSON and, through its
references, of the types they resolve to in the bundle (nothing else of the bundle is read by
the checks of a resource). So the memo key of an entry's resource is its JSON (``orjson``) with

* every lowercase uuid (``8-4-4-4-12`` hex) replaced by its rank among the distinct uuids of
  this resource (``\\x00N\\x00``: equal uuids stay equal, distinct ones distinct; orjson never
  writes a raw NUL), and
* the type every ``"reference"`` string of the resource resolves to in this bundle, in order.

Why replacing uuids cannot change a verdict: no constant any check compares an instance string
with (core value sets and code systems, profiles' fixed and pattern values, the project's code
systems, the URLs of the known definitions) contains a uuid (:func:`uuid_free` is checked on
the tables and packages the validator reads, else the memo keys keep the uuids), so a string
containing one equals none of them whichever uuid it holds; no R4 primitive regex tells one
lowercase hex digit from another inside a uuid (tests/validation/test_entry_memo.py checks every
regex of the core tables); diagnostics never quote instance values; references are decided by
the type they resolve to, which is in the key.

What is remembered is the whole effect of the stage on the resource, with locations relative
to it: its warnings, information issues and once-per-call notes (replayed as the walk would
have recorded them, first place first), bindings to value sets not available offline and
slices not evaluated (with their counts). A resource with an error is never remembered: it is
checked again every time, so errors are always computed fresh. The memo is bounded in two
generations (:class:`Generations`): what was used since the last turn survives it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, NamedTuple, TypeVar

import orjson

from fhir_ivc.validation._issues import RANK, Issue, Severity, make_issue

__all__ = ["UUID", "Effects", "Generations", "Recording", "entry_key", "uuid_free"]

UUID: Final = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: a uuid after its first 8 digits: a pattern that starts with a literal is searched ~10x faster
_TAIL: Final = re.compile(rb"-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX8: Final = re.compile(rb"[0-9a-f]{8}")
#: a ``"reference"`` key and its string value (escapes included, to refuse them); what
#: :func:`entry_key` finds with ``bytes.find`` (tests/validation/test_entry_memo.py)
_REFERENCE: Final = re.compile(rb'"reference":"((?:[^"\\]|\\.)*)"')
_REFERENCE_KEY: Final = b'"reference":"'
#: the same, captured: what :func:`_ranked` splits at
_TAILS: Final = re.compile(rb"(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
#: the first ranks' tokens, made once
_RANKS: Final = tuple(b"\x00%d\x00" % i for i in range(64))
#: entries per generation of a :class:`Generations` memo (two generations: at most twice this)
MAX_ENTRIES: Final = 1 << 13

#: (severity, code, location relative to the resource, message, profile)
Recorded = tuple[Severity, str, str, str, str | None]


def uuid_free(*documents: bytes) -> bool:
    """No uuid in any of ``documents`` (serialised tables and packages)."""
    return not any(UUID.search(d) for d in documents)


def entry_key(
    resource: Mapping[str, Any], target_type: Callable[[str], str | None], normalise: bool
) -> bytes | None:
    """The memo key of an entry's resource (None: it is not remembered)."""
    try:
        text = orjson.dumps(resource)
    except TypeError:  # an integer beyond 64 bits: the walk reports it
        return None
    references = _references(text)
    if references is None:
        return None
    targets = [target_type(reference.decode()) or "" for reference in references]
    if normalise:
        text = _ranked(text)
    return text + b"\x01" + "|".join(targets).encode()


def _references(text: bytes) -> list[bytes] | None:
    """The string of every ``"reference"`` key of ``text`` (orjson's output), in order; None
    when one holds an escape (never remembered).

    What ``_REFERENCE.finditer`` finds, with ``bytes.find`` instead of trying the pattern at
    every quote of the text (that was half the cost of a key). In JSON text the bytes
    ``"reference":"`` only occur as that key (a quote inside a string is escaped), and a string
    with no backslash ends at the next quote.
    """
    found = []
    find = text.find
    start = find(_REFERENCE_KEY)
    while start >= 0:
        start += len(_REFERENCE_KEY)
        end = find(b'"', start)
        if end < 0:  # not JSON text
            return None
        reference = text[start:end]
        if b"\\" in reference:
            return None
        found.append(reference)
        start = find(_REFERENCE_KEY, end + 1)
    return found


def _ranked(text: bytes) -> bytes:
    """``text`` with each uuid replaced by its rank (``\\x00N\\x00``) among the distinct ones.

    A uuid the scan misses stays as it is (the key is only less general); whatever it finds is
    a whole 36-byte uuid, so equal keys mean texts equal but for consistently renamed uuids.
    The scan splits the text at every uuid after its first 8 digits (a pattern that starts
    with a literal is searched ~10x faster): ``pieces`` alternates the text before a tail and
    the tail; a tail is a uuid's when the 8 bytes before it are hex digits that no uuid before
    it took.
    """
    pieces = _TAILS.split(text)
    if len(pieces) == 1:
        return text
    ranks: dict[bytes, int] = {}
    out = []
    carry = pieces[0]  # the text since the end of the last uuid
    hex8 = _HEX8.fullmatch
    for i in range(1, len(pieces), 2):
        size = len(carry)
        if size >= 8 and hex8(carry, size - 8) is not None:
            out.append(carry[:-8])
            rank = ranks.setdefault(carry[-8:] + pieces[i], len(ranks))
            out.append(_RANKS[rank] if rank < len(_RANKS) else b"\x00%d\x00" % rank)
            carry = pieces[i + 1]
        else:
            carry = carry + pieces[i] + pieces[i + 1]
    out.append(carry)
    return b"".join(out)


K = TypeVar("K")
V = TypeVar("V")


class Generations(Generic[K, V]):
    """A bounded memo: new entries go to the young generation; when it is full it becomes the
    old one (the previous old one is dropped); an old entry found again moves back to the young
    one. At most ``2 * size`` entries (~1.3 KB of key each for the adapter's resources). Over
    the entries of 4,000 synthetic cases, 8,192 per generation find 65 % again (an unbounded
    memo 68 %, one dict of 8,192 cleared when full 57 %)."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self.size = size
        self.young: dict[K, V] = {}
        self.old: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        found = self.young.get(key)
        if found is None:
            found = self.old.pop(key, None)
            if found is not None:
                self.put(key, found)
        return found

    def put(self, key: K, value: V) -> None:
        if len(self.young) >= self.size:
            self.old, self.young = self.young, {}
        self.young[key] = value

    def clear(self) -> None:
        self.young.clear()
        self.old.clear()

    def __len__(self) -> int:
        return len(self.young) + len(self.old)


def _relative(issue: Issue, prefix: str) -> Recorded | None:
    where = issue["expression"][0]
    diagnostics = issue["diagnostics"]
    if not where.startswith(prefix) or not diagnostics.startswith(f"{where}: "):
        return None
    return (
        issue["severity"],
        issue["code"],
        where[len(prefix) :],
        diagnostics[len(where) + 2 :],
        issue.get("profile"),
    )


def _issues(recorded: tuple[Recorded, ...], prefix: str, limit: int) -> list[Issue]:
    return [
        make_issue(s, c, prefix + rest, m, p) for s, c, rest, m, p in recorded if RANK[s] <= limit
    ]


class Effects(NamedTuple):
    """What checking one resource recorded, locations relative to the resource (a tuple: made
    for every entry checked without error, a frozen dataclass's ``__init__`` cost more)."""

    structure_issues: tuple[Recorded, ...]
    notes: tuple[tuple[object, str, str], ...]
    run_issues: tuple[Recorded, ...]
    missing: tuple[tuple[str, str, int], ...]
    unevaluable: tuple[tuple[tuple[str, str], str, str, str], ...]
    events: int


class Recording:
    """Fresh containers on a structure walk and a profile run while one resource is checked;
    :meth:`stop` merges them back exactly as one walk would have, and gives the effects when
    the resource has no error and every location is inside it."""

    def __init__(self, structure: Any, run: Any) -> None:
        self.structure, self.run = structure, run
        self.saved = (structure.issues, structure.notes, run.issues, run.missing, run.unevaluable)
        self.required = len(run.required_profiles)
        self.events = run.events
        structure.issues, structure.notes = [], {}
        run.issues, run.missing, run.unevaluable = [], {}, {}

    def stop(self, prefix: str) -> Effects | None:
        structure, run = self.structure, self.run
        issues, notes, run_issues, missing, unevaluable = (
            structure.issues,
            structure.notes,
            run.issues,
            run.missing,
            run.unevaluable,
        )
        (
            structure.issues,
            structure.notes,
            run.issues,
            run.missing,
            run.unevaluable,
        ) = self.saved
        replay(
            structure,
            run,
            issues,
            notes,
            run_issues,
            missing,
            unevaluable,
        )
        if len(run.required_profiles) != self.required:
            return None
        for issue in issues:
            if issue["severity"] == "error":
                return None
        for issue in run_issues:
            if issue["severity"] == "error":
                return None
        recorded = tuple(_relative(i, prefix) for i in issues)
        run_recorded = tuple(_relative(i, prefix) for i in run_issues)
        if None in recorded or None in run_recorded:
            return None
        for where, _ in notes.values():
            if not where.startswith(prefix):
                return None
        for where, _ in missing.values():
            if not where.startswith(prefix):
                return None
        for where, _, _ in unevaluable.values():
            if not where.startswith(prefix):
                return None
        size = len(prefix)
        return Effects(
            recorded,  # type: ignore[arg-type]  # None is not in them (checked above)
            tuple((k, w[size:], m) for k, (w, m) in notes.items()),
            run_recorded,  # type: ignore[arg-type]
            tuple((url, w[size:], count) for url, (w, count) in missing.items()),
            tuple((k, w[size:], name, why) for k, (w, name, why) in unevaluable.items()),
            run.events - self.events,
        )


def replay(
    structure: Any,
    run: Any,
    issues: list[Issue],
    notes: Mapping[object, tuple[str, str]],
    run_issues: list[Issue],
    missing: Mapping[str, list[Any]],
    unevaluable: Mapping[tuple[str, str], tuple[str, str, str]],
) -> None:
    """Add what one resource recorded to the call's containers, as its walk would have."""
    structure.issues.extend(issues)
    for key, note in notes.items():
        structure.notes.setdefault(key, note)
    run.issues.extend(run_issues)
    for url, (where, count) in missing.items():
        run.missing.setdefault(url, [where, 0])[1] += count
    for key, found in unevaluable.items():
        run.unevaluable.setdefault(key, found)


def replay_effects(structure: Any, run: Any, effects: Effects, prefix: str, limit: int) -> None:
    """Replay remembered effects for the resource at ``prefix``, the issues down to severity
    rank ``limit`` (0 errors, 1 warnings, 2 information: the call returns no less severe
    ones, and the notes, unavailable value sets and slices not evaluated are information)."""
    info = limit >= RANK["information"]
    replay(
        structure,
        run,
        _issues(effects.structure_issues, prefix, limit),
        {k: (prefix + rest, m) for k, rest, m in effects.notes} if info else {},
        _issues(effects.run_issues, prefix, limit),
        {url: [prefix + rest, count] for url, rest, count in effects.missing} if info else {},
        {k: (prefix + rest, name, why) for k, rest, name, why in effects.unevaluable}
        if info
        else {},
    )
    run.events += effects.events
