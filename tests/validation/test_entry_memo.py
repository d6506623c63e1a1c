"""The entry memo (``fhir_ivc.validation._entry_memo``): an entry's resource found without
errors before is replayed, keyed by its JSON with uuids ranked and its references' targets.

Its soundness rests on three claims, each tested here: no R4 primitive regex tells one uuid
from another; the tables and packages the validator reads hold no uuid (so no constant equals
a string with one inside); and the replayed issues are those a fresh walk gives.
"""

from __future__ import annotations

import copy
import string
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_ivc.bundle import build_bundles
from fhir_ivc.testing.synth import synthetic_case
from fhir_ivc.validation import validate_bundle, validator
from fhir_ivc.validation._core import core
from fhir_ivc.validation._entry_memo import (
    _HEX8,
    _REFERENCE,
    _TAIL,
    UUID,
    _ranked,
    _references,
    entry_key,
    uuid_free,
)

_HEX = "0123456789abcdef"
_uuids = st.text(_HEX, min_size=32, max_size=32).map(
    lambda h: f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
)
_pieces = st.text(string.printable + "é ", max_size=12)


@settings(max_examples=300, deadline=None)
@given(before=_pieces, after=_pieces, first=_uuids, second=_uuids)
def test_no_r4_regex_tells_one_uuid_from_another(
    before: str, after: str, first: str, second: str
) -> None:
    """Every primitive regex of the core tables gives the same verdict whichever uuid a string
    holds (the claim the memo key's uuid ranks rest on)."""
    for name, primitive in core().primitives.items():
        if primitive.regex is None:
            continue
        verdicts = {
            primitive.regex.fullmatch(f"{before}{u}{after}") is not None for u in (first, second)
        }
        assert len(verdicts) == 1, name
        for prefix in ("urn:uuid:", "Patient/"):
            verdicts = {
                primitive.regex.fullmatch(f"{prefix}{u}") is not None for u in (first, second)
            }
            assert len(verdicts) == 1, (name, prefix)


def test_the_packaged_definitions_hold_no_uuid() -> None:
    v = validator()
    assert v.normalise_uuids()
    assert uuid_free(b'{"code": "a"}')
    assert not uuid_free(b'{"code": "x-4d93e644-c2f2-50fd-8239-250d694ed7c4"}')


def _targets(found: dict[str, str]) -> Any:
    return found.get


def test_key_ranks_uuids_and_keeps_their_equalities_and_targets() -> None:
    a, b, c = (f"{d * 8}-{d * 4}-{d * 4}-{d * 4}-{d * 12}" for d in "abc")
    one = {"subject": {"reference": f"urn:uuid:{a}"}, "identifier": [{"value": f"{b}/x"}]}
    two = {"subject": {"reference": f"urn:uuid:{c}"}, "identifier": [{"value": f"{a}/x"}]}
    same = {"subject": {"reference": f"urn:uuid:{a}"}, "identifier": [{"value": f"{a}/x"}]}
    targets = {f"urn:uuid:{u}": "Patient" for u in (a, b, c)}
    key = entry_key(one, _targets(targets), True)
    assert key is not None
    assert UUID.search(key) is None
    assert entry_key(two, _targets(targets), True) == key
    assert entry_key(same, _targets(targets), True) != key  # one uuid, not two
    elsewhere = {**targets, f"urn:uuid:{c}": "Specimen"}
    assert entry_key(two, _targets(elsewhere), True) != key  # resolves to another type
    assert entry_key(two, _targets({}), True) != key  # resolves to nothing
    assert entry_key(one, _targets(targets), False) != entry_key(two, _targets(targets), False)
    escaped = {"subject": {"reference": 'urn:uuid:"'}}
    assert entry_key(escaped, _targets(targets), True) is None


def _all(bundle: dict[str, Any]) -> bytes:
    return orjson.dumps(
        [validate_bundle(bundle, min_severity=s) for s in ("error", "warning", "information")]
    )


def test_replayed_issues_are_those_of_a_fresh_walk() -> None:
    """Cold memo vs warm memo, every severity, on bundles whose entries repeat (other cases,
    the collection of the same case), then a broken copy of a remembered entry."""
    bundles = [build_bundles(synthetic_case(i)) for i in range(6)]
    v = validator()
    fresh = []
    for b in bundles:
        for bundle in (b.transaction, b.collection):
            v.clear_memos()
            fresh.append(_all(bundle))
    v.clear_memos()
    warm = [_all(bundle) for b in bundles for bundle in (b.transaction, b.collection)]
    assert warm == fresh
    assert v.entries, "nothing was remembered: the test tests nothing"
    broken = copy.deepcopy(bundles[0].transaction)
    patient = next(e for e in broken["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["resource"]["gender"] = "yes"
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "Condition":
            entry["resource"]["subject"] = {"reference": entry["fullUrl"]}  # a Condition
            break
    found = [i["diagnostics"] for i in validate_bundle(broken)]
    assert any("gender" in d and "not in value set" in d for d in found), found
    assert any("subject.reference: the reference points to a Condition" in d for d in found)
    v.clear_memos()
    assert [i["diagnostics"] for i in validate_bundle(broken)] == found


def _ranked_by_finditer(text: bytes) -> bytes:
    """The key's uuid ranking as first written (one ``_TAIL.finditer``): the oracle of the
    split-based :func:`_ranked`."""
    ranks: dict[bytes, int] = {}
    parts = []
    last = 0
    for found in _TAIL.finditer(text):
        start, end = found.start() - 8, found.end()
        if start < last or _HEX8.fullmatch(text, start, found.start()) is None:
            continue
        parts.append(text[last:start])
        parts.append(b"\x00%d\x00" % ranks.setdefault(text[start:end], len(ranks)))
        last = end
    if not parts:
        return text
    parts.append(text[last:])
    return b"".join(parts)


_uuid_texts = st.lists(
    _uuids
    | st.sampled_from(["-", "--", "abcdef01", "0123456789abcdef", "-0000-", '"', "x"])
    # uuids that share their tail, or their head
    | st.sampled_from([f"{h}-0000-0000-0000-000000000000" for h in ("aaaaaaaa", "bbbbbbbb")])
    | st.sampled_from([f"aaaaaaaa-0000-0000-0000-{t * 12}" for t in "12"])
    | st.text(_HEX + "-", max_size=20)
    | _pieces,
    max_size=12,
).map(lambda parts: "".join(parts).encode())


@settings(max_examples=400, deadline=None)
@given(text=_uuid_texts, repeat=st.booleans())
def test_ranked_is_the_tail_scan(text: bytes, repeat: bool) -> None:
    """:func:`_ranked` gives the bytes of the finditer scan it replaced (adjacent and
    overlapping uuids, hex runs, repeated uuids included)."""
    text = text + text if repeat else text
    assert _ranked(text) == _ranked_by_finditer(text)


_strings = st.text(string.printable + 'é"\\', max_size=10) | st.sampled_from(
    ['"reference":"', 'a"reference":"b', "\\", "urn:uuid:x", ""]
)
_json = st.recursive(
    _strings | st.integers(-(2**63), 2**63 - 1) | st.none(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["reference", "subject", "x", 'reference"']), inner)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(value=_json)
def test_references_are_what_the_pattern_finds(value: Any) -> None:
    """:func:`_references` (``bytes.find``) finds the strings ``_REFERENCE`` finds in orjson's
    output, and refuses the same (a reference with an escape)."""
    text = orjson.dumps(value)
    found = [m.group(1) for m in _REFERENCE.finditer(text)]
    assert _references(text) == (None if any(b"\\" in r for r in found) else found)
