"""Hostile input: every reader gives a reject naming file, line, case and reason, never a
traceback, in bounded time and memory, and the good records around it still go through."""

from __future__ import annotations

import codecs
import io
import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhir_ivc.exceptions import ConfigError
from fhir_ivc.io import (
    CaseRecordResult,
    InputLimits,
    Unreadable,
    iter_case_records,
    iter_json_values,
)
from fhir_ivc.io._json import iter_json, iter_ndjson
from fhir_ivc.io.limits import MAX_DEPTH_CEILING, value_problem

DEEP = 100_000


def summary(results: list[CaseRecordResult]) -> list[tuple[str | None, bool]]:
    return [(r.case_id, r.ok) for r in results]


def reject_of(result: CaseRecordResult) -> tuple[str | None, str, str]:
    assert not result.ok
    [error] = result.errors
    return error.case_id, error.path, error.reason


Render = Callable[[list[str]], str]


def as_json(records: list[str]) -> str:
    return "[\n" + ",\n".join(records) + "\n]\n"


def as_ndjson(records: list[str]) -> str:
    return "".join(record + "\n" for record in records)


def as_yaml(records: list[str]) -> str:
    # JSON is YAML (flow style): one document per record
    return "".join(f"--- {record}\n" for record in records)


RENDERS = {"cases.json": as_json, "cases.ndjson": as_ndjson, "cases.yaml": as_yaml}


@pytest.fixture
def sandwich(tmp_path: Path, seed_records: list[dict[str, Any]]) -> Callable[..., Any]:
    """Write ``good, hostile, good`` in one format and read it back."""

    def read(name: str, hostile: str, **limits: int) -> list[CaseRecordResult]:
        first, second = (json.dumps(r) for r in seed_records)
        path = tmp_path / name
        path.write_text(RENDERS[name]([first, hostile, second]), encoding="utf-8")
        return list(iter_case_records(path, limits=InputLimits(**limits)))

    return read


# --- per-record problems, in every format -----------------------------------------------------

HOSTILE_RECORDS = [
    pytest.param('{"case_id": "x", "case_id": "y"}', "", "duplicate key 'case_id'", id="dup-key"),
    pytest.param('{"case_id": "a", "n": 1.0e+999}', "", "", id="overflowing-number"),
    pytest.param('{"n": ' + "9" * 5000 + "}", "", "an integer with more than 40 digits", id="int"),
    pytest.param('{"case_id": "a\\u0000b"}', "case_id", "control character U+0000", id="nul"),
    pytest.param('{"case_id": "\\u001b[2J"}', "case_id", "control character U+001B", id="esc"),
    pytest.param("[[1, 2]]", "", "must be an object", id="array"),
    pytest.param('"a string"', "", "must be an object", id="string"),
    pytest.param("42", "", "must be an object", id="number"),
    pytest.param("[" * 70 + "]" * 70, "", "nested deeper than 64 levels", id="deep-70"),
    pytest.param("[" * 400 + "]" * 400, "", "nested deeper than 64 levels", id="deep-400"),
]


@pytest.mark.parametrize("name", RENDERS)
@pytest.mark.parametrize(("hostile", "path", "reason"), HOSTILE_RECORDS)
def test_hostile_record_is_rejected_alone(sandwich, name, hostile, path, reason):
    results = sandwich(name, hostile)
    assert summary(results)[0] == ("case-1", True)
    assert summary(results)[-1] == ("case-2", True)
    [bad] = results[1:-1]
    _, got_path, got_reason = reject_of(bad)
    assert reason in got_reason
    if path:
        assert got_path == path
    assert bad.source.file.endswith(name)
    assert bad.source.line >= 2


@pytest.mark.parametrize("name", ["cases.json", "cases.ndjson"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(sandwich, name, literal):
    results = sandwich(name, '{"case_id": "a", "n": ' + literal + "}")
    assert summary(results) == [("case-1", True), (None, False), ("case-2", True)]
    assert reject_of(results[1])[2] == f"{literal} is not a JSON number"


def test_yaml_non_finite_floats_are_refused(sandwich):
    results = sandwich("cases.yaml", "{case_id: a, n: .nan, m: .inf}")
    assert summary(results) == [("case-1", True), ("a", False), ("case-2", True)]
    assert reject_of(results[1]) == ("a", "n", "a number that is not finite (NaN or Infinity)")


def test_refused_value_names_its_case(sandwich):
    results = sandwich("cases.ndjson", '{"case_id": "case-9", "x": {"y": "\\ud800"}}')
    assert reject_of(results[1]) == (
        "case-9",
        "x.y",
        "a string holds a lone surrogate (U+D800): not valid Unicode text",
    )


@pytest.mark.parametrize("name", RENDERS)
def test_extreme_strings_are_rejected_by_the_model(sandwich, name, seed_records):
    record = dict(seed_records[0], case_id="case-x", notes="x" * 5000)
    results = sandwich(name, json.dumps(record))
    assert summary(results)[1] == ("case-x", False)
    assert any("notes" in e.path for e in results[1].errors)
    assert all("xxxx" not in e.reason for e in results[1].errors)


# --- deep nesting: the RecursionError found in issue 12 --------------------------------------


@pytest.mark.parametrize("name", ["cases.json", "cases.ndjson"])
def test_100000_deep_array_is_one_reject(sandwich, name):
    started = time.perf_counter()
    results = sandwich(name, "[" * DEEP + "]" * DEEP)
    assert time.perf_counter() - started < 10
    assert summary(results) == [("case-1", True), (None, False), ("case-2", True)]
    assert reject_of(results[1]) == (None, "", "nested deeper than 64 levels (--max-depth)")


def test_100000_deep_json_document(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    [result] = iter_case_records(path)
    assert reject_of(result)[2] == "nested deeper than 64 levels (--max-depth)"


def test_100000_deep_yaml_is_one_file_level_reject(tmp_path, seed_records):
    """libyaml stops at 1000 levels itself; its parser cannot go on after that."""
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump(seed_records[0]) + "---\n" + "[" * DEEP + "]" * DEEP)
    results = list(iter_case_records(path))
    assert summary(results) == [("case-1", True), (None, False)]
    assert reject_of(results[1])[2].startswith("YAML syntax error: exceeded maximum nesting")
    assert results[1].source.line > 1


def test_deep_yaml_block_mapping_is_rejected_alone(tmp_path, seed_records):
    deep = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v\n"
    path = tmp_path / "deep.yaml"
    path.write_text("--- " + json.dumps(seed_records[0]) + "\n---\n" + deep)
    results = list(iter_case_records(path))
    assert summary(results) == [("case-1", True), (None, False)]
    path_in_record, reason = reject_of(results[1])[1:]
    assert reason == "nested deeper than 64 levels (--max-depth)"
    assert path_in_record.startswith("k0.k1.k2")


def test_max_depth_is_a_limit(sandwich):
    results = sandwich("cases.ndjson", '{"a": {"b": {"c": {}}}}', max_depth=3)
    assert reject_of(results[1]) == (None, "a.b.c", "nested deeper than 3 levels (--max-depth)")
    # the seed cases need more than 3 levels
    assert not results[0].ok


def test_limits_are_checked():
    with pytest.raises(ConfigError, match="max_record_bytes"):
        InputLimits(max_record_bytes=0)
    with pytest.raises(ConfigError, match="at most"):
        InputLimits(max_depth=MAX_DEPTH_CEILING + 1)


# --- huge records ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cases.json", "cases.ndjson", "cases.yaml"])
def test_record_over_the_size_limit_is_rejected_alone(sandwich, name):
    hostile = '{"case_id": "big", "notes": "' + "x" * 300_000 + '"}'
    results = sandwich(name, hostile, max_record_bytes=100_000)
    assert summary(results)[0] == ("case-1", True)
    assert summary(results)[-1] == ("case-2", True)
    assert reject_of(results[1])[2] == "a record over 100000 bytes (--max-record-bytes)"


class Endless(io.RawIOBase):
    """The concatenation of ``(chunk, times)`` parts, produced as it is read (never held)."""

    def __init__(self, *parts: tuple[bytes, int]) -> None:
        self._parts = [list(part) for part in parts if part[1]]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._parts:
            return 0
        chunk, times = self._parts[0]
        if len(chunk) > len(buffer):  # hand out a piece of one chunk
            self._parts[0:1] = [[chunk[len(buffer) :], 1], [chunk, times - 1]]
            if times == 1:
                del self._parts[1]
            buffer[: len(buffer)] = chunk[: len(buffer)]
            return len(buffer)
        count = min(times, len(buffer) // len(chunk))
        self._parts[0][1] = times - count
        if not self._parts[0][1]:
            self._parts.pop(0)
        buffer[: count * len(chunk)] = chunk * count
        return count * len(chunk)


GOOD = b'{"case_id": "good"}'
MB = 1024 * 1024


@pytest.mark.parametrize(
    ("reader", "parts"),
    [
        (
            iter_ndjson,
            [(GOOD + b'\n{"notes": "', 1), (b"x" * 1024, 64 * 1024), (b'"}\n' + GOOD, 1)],
        ),
        (
            iter_json,
            [
                (b"[" + GOOD + b',\n{"notes": "', 1),
                (b"x" * 1024, 64 * 1024),
                (b'"},' + GOOD + b"]", 1),
            ],
        ),
        (
            iter_json,
            [
                (b"[" + GOOD + b",\n", 1),
                (b"[" * 1024, 32 * 1024),
                (b"]" * 1024, 32 * 1024),
                (b"," + GOOD + b"]", 1),
            ],
        ),
    ],
    ids=["ndjson-line", "json-element", "json-brackets"],
)
def test_a_64_mb_record_is_skipped_in_bounded_memory(reader, parts):
    """64 MB in one record: passed over chunk by chunk, never held; the next record is read."""
    stream = io.BufferedReader(Endless(*parts))
    limits = InputLimits(max_record_bytes=MB)
    tracemalloc.start()
    try:
        values = [value for _, value in reader(stream, "big", limits)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(values) == 3
    assert values[0] == values[2] == {"case_id": "good"}
    assert isinstance(values[1], Unreadable)
    assert values[1].reason in (
        "a record over 1048576 bytes (--max-record-bytes)",
        "nested deeper than 64 levels (--max-depth)",
    )
    assert peak < 8 * MB


def test_unterminated_deep_array_ends_the_file(tmp_path):
    path = tmp_path / "open.json"
    path.write_bytes(b"[" + GOOD + b",\n" + b"[" * 300_000)
    results = list(iter_case_records(path))
    assert summary(results) == [("good", False), (None, False)]
    assert reject_of(results[1])[2] == "broken JSON: the file ends inside a record"


# --- YAML: aliases and tags ------------------------------------------------------------------

BILLION_LAUGHS = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} ["
    + ", ".join([f"*{chr(96 + i)}" if i else '"lol"'] * 10)
    + "]\n"
    for i in range(10)
)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path, seed_records):
    path = tmp_path / "bomb.yaml"
    path.write_text("---\n" + BILLION_LAUGHS + "---\n" + yaml.safe_dump(seed_records[1]))
    started = time.perf_counter()
    results = list(iter_case_records(path))
    assert time.perf_counter() - started < 5
    assert summary(results) == [(None, False), ("case-2", True)]
    assert reject_of(results[0])[2] == "more than 100000 values once its YAML aliases are expanded"


def test_yaml_recursive_alias_is_refused(tmp_path, seed_records):
    path = tmp_path / "loop.yaml"
    path.write_text("--- &loop {case_id: a, again: *loop}\n---\n" + yaml.safe_dump(seed_records[1]))
    results = list(iter_case_records(path))
    assert summary(results) == [("a", False), ("case-2", True)]
    assert reject_of(results[0])[2] == "nested deeper than 64 levels (--max-depth)"


def test_yaml_aliases_within_the_budget_are_read(tmp_path, seed_records):
    record = dict(seed_records[0])
    text = yaml.safe_dump([record, record])  # PyYAML writes the second one as an alias
    assert "*id" in text
    path = tmp_path / "aliases.yaml"
    path.write_text(text)
    results = list(iter_case_records(path))
    assert summary(results) == [("case-1", True), ("case-1", True)]


@pytest.mark.parametrize(
    ("document", "tag"),
    [
        ("!!python/object/apply:os.system [echo pwned]", "!!python/object/apply:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("{case_id: a, when: !!timestamp 2019-03-14}", "!!timestamp"),
        ("!!set {a: null}", "!!set"),
        ("!custom {a: 1}", "!custom"),
    ],
)
def test_yaml_tags_other_than_the_json_ones_are_refused(tmp_path, seed_records, document, tag):
    path = tmp_path / "tags.yaml"
    path.write_text(f"--- {document}\n---\n" + yaml.safe_dump(seed_records[1]))
    results = list(iter_case_records(path))
    assert summary(results)[1] == ("case-2", True)
    assert reject_of(results[0])[2] == f"the YAML tag {tag} is not accepted (JSON-like YAML)"


def test_yaml_list_items_are_checked_one_by_one(tmp_path, seed_records):
    items = [seed_records[0], {"case_id": "b", "hostile": 1}, seed_records[1]]
    text = yaml.safe_dump(items).replace("hostile: 1", "hostile: !!binary aGVsbG8=")
    path = tmp_path / "list.yaml"
    path.write_text(text)
    results = list(iter_case_records(path))
    assert summary(results) == [("case-1", True), ("b", False), ("case-2", True)]
    assert reject_of(results[1])[1] == "hostile"


def test_yaml_document_over_the_document_limit_ends_the_file(tmp_path, seed_records):
    path = tmp_path / "big.yaml"
    path.write_text(
        yaml.safe_dump(seed_records[0]) + "---\n" + "- " + "x" * 300_000 + "\n" * 2 + "---\n"
    )
    results = list(iter_case_records(path, limits=InputLimits(max_yaml_document_bytes=100_000)))
    assert summary(results) == [("case-1", True), (None, False)]
    assert "a YAML document over 100000 bytes" in reject_of(results[1])[2]


# --- encodings, BOMs, NUL bytes ----------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_utf8_byte_order_mark_is_accepted(tmp_path, seed_records, name):
    path = tmp_path / name
    path.write_bytes(codecs.BOM_UTF8 + RENDERS[name]([json.dumps(seed_records[0])]).encode())
    assert summary(list(iter_case_records(path))) == [("case-1", True)]


@pytest.mark.parametrize("name", ["cases.json", "cases.ndjson"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_json_are_one_clear_reject(tmp_path, seed_records, name, encoding):
    path = tmp_path / name
    path.write_bytes(RENDERS[name]([json.dumps(seed_records[0])]).encode(encoding))
    [result] = iter_case_records(path)
    expected = f"the file is {encoding.upper()} text (byte order mark): save it as UTF-8"
    assert reject_of(result) == (None, "", expected)


def test_utf16_yaml_is_decoded_as_yaml_allows(tmp_path, seed_records):
    path = tmp_path / "cases.yaml"
    path.write_bytes(yaml.safe_dump(seed_records[0]).encode("utf-16"))
    assert summary(list(iter_case_records(path))) == [("case-1", True)]


def test_latin1_yaml_is_one_clear_reject(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_bytes("case_id: caf\xe9\n".encode("latin-1"))
    [result] = iter_case_records(path)
    assert reject_of(result)[2].startswith("YAML syntax error: not valid text at byte")


@pytest.mark.parametrize("name", ["cases.json", "cases.ndjson"])
def test_raw_nul_byte_is_a_reject(tmp_path, seed_records, name):
    path = tmp_path / name
    text = RENDERS[name]([json.dumps(seed_records[0]), '{"case_id": "a\x00"}'])
    path.write_text(text)
    results = list(iter_case_records(path))
    assert summary(results) == [("case-1", True), (None, False)]
    assert reject_of(results[1])[2] == "broken JSON: Invalid control character"
    assert results[1].source.line == (3 if name == "cases.json" else 2)  # after "[\n"
    assert results[1].source.column == 15


def test_raw_nul_byte_in_yaml_is_one_file_level_reject(tmp_path, seed_records):
    """libyaml checks the characters of the stream before it parses them."""
    path = tmp_path / "cases.yaml"
    path.write_text(as_yaml([json.dumps(seed_records[0]), '{"case_id": "a\x00"}']))
    [result] = iter_case_records(path)
    assert reject_of(result)[2].startswith("YAML syntax error: not valid text at byte")


@pytest.mark.parametrize("name", ["cases.json", "cases.ndjson"])
def test_null_record_is_a_reject(sandwich, name):
    results = sandwich(name, "null")
    assert summary(results) == [("case-1", True), (None, False), ("case-2", True)]
    assert reject_of(results[1])[2] == "a case record must be an object (a mapping), not null"


# --- truncated files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_truncated_file_keeps_what_came_before(tmp_path, seed_records, name):
    text = RENDERS[name]([json.dumps(r) for r in seed_records])
    cut = text.index('"case-2"') + 30
    path = tmp_path / name
    path.write_text(text[:cut])
    results = list(iter_case_records(path))
    assert summary(results) == [("case-1", True), (None, False)]
    assert results[1].source.line >= 2


# --- bundles and resources (push --prebuilt, validate) ---------------------------------------


def test_json_values_share_the_limits(tmp_path):
    path = tmp_path / "bundles.ndjson"
    lines = ['{"resourceType": "Bundle"}', "[" * DEEP + "]" * DEEP, '{"a": 1, "a": 2}', "{"]
    path.write_text("\n".join(lines) + "\n")
    values = [(source.line, value) for source, value in iter_json_values(path)]
    assert values[0] == (1, {"resourceType": "Bundle"})
    assert values[1] == (2, Unreadable("nested deeper than 64 levels (--max-depth)"))
    assert values[2] == (3, Unreadable("duplicate key 'a' in an object"))
    assert isinstance(values[3][1], Unreadable)
    assert values[3][1].reason.startswith("broken JSON")


def test_json_values_whole_file_problem(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_bytes('{"resourceType": "Bundle"}'.encode("utf-16"))
    [(source, value)] = iter_json_values(path)
    assert value.whole_file
    assert str(source) == f"{path}:1:1"


def test_json_values_sniff_json_for_other_names(tmp_path):
    path = tmp_path / "bundle.txt"
    path.write_text('[{"resourceType": "Bundle"}, {"resourceType": "Patient"}]')
    values = [value["resourceType"] for _, value in iter_json_values(path)]
    assert values == ["Bundle", "Patient"]


# --- the value check -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, {"b": float("nan")}]}, ("a[1].b", "a number that is not finite")),
        ({1: "x"}, ("", "a key that is not a string but a number")),
        ({"a\x01": 1}, ("", "a key: a string holds the control character U+0001")),
        ({"Jane Doe": "\x07"}, ("<key>", "a string holds the control character U+0007")),
        ({"a": b"bytes"}, ("a", "a value of type bytes, which JSON does not have")),
        ({"a": 10**50}, ("a", "an integer with more than 40 digits")),
        ({"ok": ["\t\n\r", "é", 1.5, None, True]}, None),
    ],
)
def test_value_problem(value, expected):
    problem = value_problem(value)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem[0] == expected[0]
        assert problem[1].startswith(expected[1])
