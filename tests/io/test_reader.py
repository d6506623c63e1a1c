"""fhir_ivc.io.reader: formats, per-record rejects with paths and positions, whole-file problems."""

from __future__ import annotations

import copy
import io
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fhir_ivc.io import (
    CaseRecordResult,
    InputFormat,
    InputLimits,
    RecordSource,
    Unreadable,
    finish_record,
    iter_case_records,
    iter_inputs,
    iter_pending_inputs,
)
from fhir_ivc.io._json import iter_json as _iter_json
from fhir_ivc.io._json import iter_ndjson


def read(path: Path, **kwargs: Any) -> list[CaseRecordResult]:
    return list(iter_case_records(path, **kwargs))


def only_error(result: CaseRecordResult) -> tuple[str | None, str, str]:
    assert not result.ok
    assert len(result.errors) == 1, result.errors
    err = result.errors[0]
    return err.case_id, err.path, err.reason


def broken(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``record`` with dotted-path changes (``None`` deletes the key)."""
    record = copy.deepcopy(record)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target: Any = record
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return record


# --- formats ----------------------------------------------------------------------------------


def test_json_single_object(tmp_path, seed_records):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(seed_records[0], indent=2))
    [result] = read(path)
    assert result.ok
    assert result.case is not None
    assert result.case.case_id == "case-1"
    assert result.source == RecordSource(str(path), 1)


def test_json_array_streams_every_element_with_line_and_index(tmp_path, seed_records):
    path = tmp_path / "cases.json"
    text = json.dumps(seed_records, indent=2)
    path.write_text(text)
    results = read(path)
    assert [r.case_id for r in results] == ["case-1", "case-2"]
    assert all(r.ok for r in results)
    lines = text.splitlines()
    for result in results:
        assert lines[result.source.line - 1].strip() == "{"
    assert [r.source.index for r in results] == [0, 1]


def test_json_empty_array_is_zero_records_not_an_error(tmp_path):
    path = tmp_path / "none.json"
    path.write_text(" [ ]\n")
    assert read(path) == []


def test_ndjson_and_jsonl(tmp_path, seed_records, ndjson_text):
    for name in ("cases.ndjson", "cases.jsonl"):
        path = tmp_path / name
        path.write_text("\n" + ndjson_text(seed_records) + "\n\n")  # blank lines are skipped
        results = read(path)
        assert [(r.case_id, r.ok, str(r.source)) for r in results] == [
            ("case-1", True, f"{path}:2"),
            ("case-2", True, f"{path}:3"),
        ]


def test_ndjson_with_byte_order_mark(tmp_path, seed_records, ndjson_text):
    path = tmp_path / "bom.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + ndjson_text(seed_records).encode())
    assert [r.ok for r in read(path)] == [True, True]


def test_yaml_single_case_and_list(tmp_path, seed_records):
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(seed_records[0]))
    [result] = read(one)
    assert result.ok
    assert result.source.line == 1

    listed = tmp_path / "seed.yml"
    listed.write_text(yaml.safe_dump(seed_records))
    results = read(listed)
    assert [r.case_id for r in results] == ["case-1", "case-2"]
    assert [r.source.index for r in results] == [0, 1]
    assert listed.read_text().splitlines()[results[1].source.line - 1].startswith("- ")


def test_yaml_multi_document_stream_skips_empty_documents(tmp_path, seed_records):
    path = tmp_path / "stream.yaml"
    docs = [yaml.safe_dump(seed_records[0]), "# nothing here\n", yaml.safe_dump(seed_records[1])]
    path.write_text("".join(f"---\n{doc}" for doc in docs) + "---\n")
    results = read(path)
    assert [r.case_id for r in results] == ["case-1", "case-2"]
    assert all(r.ok for r in results)
    assert results[0].source.line == 2


def test_yaml_dates_stay_strings(tmp_path, seed_records):
    """``date: 2019-03-14`` unquoted is the FHIR date string, not a datetime.date."""
    path = tmp_path / "dated.yaml"
    text = yaml.safe_dump(seed_records[0]).replace("surgery:\n", "surgery:\n  date: 2019-03-14\n")
    path.write_text(text)
    [result] = read(path)
    assert result.case is not None, result.errors
    assert result.case.surgery is not None
    assert result.case.surgery.date == "2019-03-14"


@pytest.mark.parametrize(
    ("render", "expected"),
    [
        (lambda recs: json.dumps(recs, indent=1), InputFormat.JSON),
        (lambda recs: json.dumps(recs[0], indent=1), InputFormat.JSON),
        (lambda recs: "".join(json.dumps(r) + "\n" for r in recs), InputFormat.NDJSON),
        (lambda recs: yaml.safe_dump(recs), InputFormat.YAML),
    ],
)
def test_other_names_are_sniffed(tmp_path, seed_records, render, expected):
    from fhir_ivc.io.reader import _sniff

    text = render(seed_records)
    assert _sniff(text.encode()) is expected
    path = tmp_path / "cases.txt"
    path.write_text(text)
    assert all(r.ok for r in read(path))


def test_input_format_overrides_the_extension(tmp_path, seed_records):
    path = tmp_path / "cases.data"
    path.write_text(yaml.safe_dump(seed_records))
    assert len(read(path, input_format=InputFormat.YAML)) == 2


def test_stdin_is_ndjson(seed_records, ndjson_text):
    stdin = io.BytesIO(ndjson_text(seed_records).encode() + b"not json\n")
    results = list(iter_case_records("-", stdin=stdin))
    assert [r.ok for r in results] == [True, True, False]
    assert str(results[2].source) == "<stdin>:3:1"


def test_iter_inputs_chains_files(tmp_path, seed_records, ndjson_text):
    a = tmp_path / "a.ndjson"
    a.write_text(ndjson_text(seed_records[:1]))
    b = tmp_path / "b.json"
    b.write_text(json.dumps(seed_records[1:]))
    results = list(iter_inputs([a, b]))
    assert [(r.source.file, r.case_id) for r in results] == [
        (str(a), "case-1"),
        (str(b), "case-2"),
    ]


def test_pending_records_are_finished_elsewhere_into_the_same_results(
    tmp_path, seed_records, ndjson_text
):
    """``map -j N``: the NDJSON lines stay bytes until a worker finishes them (pickled there and
    back); the results are those of iter_inputs, problems and positions included."""
    a = tmp_path / "a.ndjson"
    a.write_text(ndjson_text(seed_records) + '{"case_id": "case-9", broken\n[1]\n')
    b = tmp_path / "b.json"
    b.write_text(json.dumps([seed_records[1], {"case_id": "x"}]))
    pending = list(iter_pending_inputs([a, b]))
    assert [type(p.raw) for p in pending[:4]] == [bytes] * 4  # type: ignore[union-attr]
    finished = [finish_record(pickle.loads(pickle.dumps(p))) for p in pending]

    def seen(results: list[CaseRecordResult]) -> list[tuple[Any, ...]]:
        errors = [[(e.case_id, e.path, e.reason) for e in r.errors] for r in results]
        return [(r.source, r.case, e) for r, e in zip(results, errors, strict=True)]

    assert seen(finished) == seen(list(iter_inputs([a, b])))
    assert [str(r.source) for r in finished][2:4] == [f"{a}:3:23", f"{a}:4"]
    assert [r.ok for r in finished] == [True, True, False, False, True, False]


# --- records that do not fit the model --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        pytest.param(
            {"surgery__blood_loss_ml": "a lot"},
            "surgery.blood_loss_ml",
            "Input should be a valid number, unable to parse string as a number",
            id="wrong-type",
        ),
        pytest.param(
            {"surgery__blood_loss_ml": -5},
            "surgery.blood_loss_ml",
            "Input should be greater than or equal to 0",
            id="out-of-range",
        ),
        pytest.param(
            {"surgery__ivc_management__0__graft_material": "goretex"},
            "surgery.ivc_management[0].graft_material",
            "Input should be 'ptfe', 'dacron', 'aortic-allograft', 'venous-allograft', "
            "'autologous-vein', 'bovine-pericardium' or 'autologous-pericardium' (got 'goretex')",
            id="unknown-enum-value",
        ),
        pytest.param({"patient": None}, "patient", "Field required", id="missing-required"),
        pytest.param(
            {"surgery__bloodloss": 3},
            "surgery.bloodloss",
            "Extra inputs are not permitted",
            id="unknown-extra-field",
        ),
        pytest.param(
            {"follow_up__0__when": {"date": "2020", "relative": {"offset": 1, "unit": "d"}}},
            "follow_up[0].when",
            "Value error, give exactly one of 'date' or 'relative'",
            id="model-validator",
        ),
    ],
)
def test_invalid_record_gives_path_and_reason(tmp_path, seed_records, changes, path, reason):
    bad = broken(seed_records[1], **changes)
    file = tmp_path / "cases.ndjson"
    file.write_text(json.dumps(bad) + "\n")
    [result] = read(file)
    assert only_error(result) == ("case-2", path, reason)
    assert str(result.source) == f"{file}:1"


def test_every_error_of_a_record_is_reported(tmp_path, seed_records):
    bad = broken(seed_records[0], surgery__blood_loss_ml=-1, patient__sex="f", extra=1)
    file = tmp_path / "c.json"
    file.write_text(json.dumps(bad))
    [result] = read(file)
    assert sorted(e.path for e in result.errors) == [
        "extra",
        "patient.sex",
        "surgery.blood_loss_ml",
    ]
    assert result.case_id == "case-1"


def test_reasons_never_quote_free_text_input(tmp_path, seed_records):
    secret = "Jane Doe, MRN 0012345"
    bad = broken(
        seed_records[0],
        patient__identifiers=[{"system": "not a uri", "value": secret}],
        patient__name=secret,
        patient__age_at_diagnosis_years=secret,
    )
    file = tmp_path / "c.json"
    file.write_text(json.dumps(bad))
    [result] = read(file)
    assert len(result.errors) == 3
    assert all(secret not in e.reason and "Jane" not in str(e) for e in result.errors)


@pytest.mark.parametrize(
    ("case_id", "expected"),
    [("case-7", "case-7"), (7, "7"), ("bad id with spaces", "bad id with spaces"), ("", None)],
)
def test_case_id_comes_from_the_raw_record(tmp_path, seed_records, case_id, expected):
    bad = broken(seed_records[0], case_id=case_id, surgery__blood_loss_ml=-1)
    file = tmp_path / "c.json"
    file.write_text(json.dumps(bad))
    [result] = read(file)
    assert result.case_id == expected


def test_record_that_is_not_an_object(tmp_path, seed_records):
    file = tmp_path / "mixed.json"
    file.write_text(json.dumps([seed_records[0], 42, ["x"]]))
    results = read(file)
    assert results[0].ok
    assert only_error(results[1]) == (
        None,
        "",
        "a case record must be an object (a mapping), not a number",
    )
    assert only_error(results[2])[2].endswith("not an array")


def test_broken_ndjson_line_rejects_that_line_only(tmp_path, seed_records):
    file = tmp_path / "cases.ndjson"
    lines = [
        json.dumps(seed_records[0]),
        '{"case_id": "case-9", broken',
        json.dumps(seed_records[1]),
    ]
    file.write_text("\n".join(lines) + "\n")
    results = read(file)
    assert [r.ok for r in results] == [True, False, True]
    assert only_error(results[1])[:2] == (None, "")
    reason = only_error(results[1])[2]
    assert reason.startswith("broken JSON: ")
    assert str(results[1].source) == f"{file}:2:23"


def test_ndjson_line_that_is_not_utf8(tmp_path, seed_records):
    file = tmp_path / "cases.ndjson"
    file.write_bytes(b'{"case_id": "\xff"}\n' + json.dumps(seed_records[0]).encode() + b"\n")
    results = read(file)
    assert [r.ok for r in results] == [False, True]
    assert only_error(results[0])[2] == "not UTF-8 text at byte 14 of the line"
    assert str(results[0].source) == f"{file}:1:14"


def test_yaml_document_with_an_unsafe_tag_is_rejected_alone(tmp_path, seed_records):
    file = tmp_path / "cases.yaml"
    text = "--- !!python/object:os.system {}\n---\n" + yaml.safe_dump(seed_records[0])
    file.write_text(text)
    results = read(file)
    assert [r.ok for r in results] == [False, True]
    assert only_error(results[0])[:2] == (None, "")
    reason = only_error(results[0])[2]
    assert reason == "the YAML tag !!python/object:os.system is not accepted (JSON-like YAML)"


# --- whole-file problems ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        *[(name, "") for name in ("e.json", "e.ndjson", "e.yaml", "e.txt")],
        *[(name, "  \n\n") for name in ("e.json", "e.ndjson", "e.yaml", "e.txt")],
        ("e.yaml", "# only a comment\n---\n"),
        ("e.txt", "# only a comment\n"),
    ],
)
def test_empty_file(tmp_path, name, content):
    file = tmp_path / name
    file.write_text(content)
    [result] = read(file)
    assert only_error(result) == (None, "", "empty file: no case records")
    assert result.source.file == str(file)


def test_broken_json_document_names_line_and_column(tmp_path):
    file = tmp_path / "case.json"
    file.write_text('{\n  "case_id": "case-1",\n  "patient": {"sex": "female",}\n}\n')
    [result] = read(file)
    case_id, path, reason = only_error(result)
    assert (case_id, path) == (None, "")
    assert reason == "broken JSON: Expecting property name enclosed in double quotes"
    assert str(result.source) == f"{file}:3:31"  # as json.loads counts


def test_truncated_json_array_keeps_the_records_before_the_break(tmp_path, seed_records):
    file = tmp_path / "cases.json"
    text = json.dumps(seed_records, indent=2)
    cut = text.index('"case-2"') + 20
    file.write_text(text[:cut])
    results = read(file)
    assert [r.ok for r in results] == [True, False]
    assert only_error(results[1])[2].startswith("broken JSON: ")
    assert results[1].source.line > results[0].source.line


def test_json_array_without_comma(tmp_path, seed_records):
    file = tmp_path / "cases.json"
    file.write_text("[\n" + json.dumps(seed_records[0]) + "\n" + json.dumps(seed_records[1]) + "]")
    results = read(file)
    assert [r.ok for r in results] == [True, False]
    assert only_error(results[1])[2] == (
        "broken JSON: expected ',' or ']' after an array element, found '{'"
    )
    assert str(results[1].source) == f"{file}:3:1"


def test_ndjson_named_json_says_so(tmp_path, seed_records, ndjson_text):
    file = tmp_path / "cases.json"
    file.write_text(ndjson_text(seed_records))
    [result] = read(file)
    reason = only_error(result)[2]
    assert "more data after the first JSON value" in reason
    assert ".ndjson" in reason
    assert str(result.source) == f"{file}:2:1"


def test_json_that_is_not_utf8(tmp_path):
    file = tmp_path / "latin1.json"
    file.write_bytes('[{"case_id": "caf\xe9"}]'.encode("latin-1"))
    [result] = read(file)
    assert only_error(result)[2].startswith("not UTF-8 text")


def test_yaml_syntax_error_names_line_and_column(tmp_path, seed_records):
    file = tmp_path / "cases.yaml"
    file.write_text(yaml.safe_dump(seed_records[0]) + "---\nfoo: [1, 2\nbar: baz\n")
    results = read(file)
    assert [r.ok for r in results] == [True, False]
    assert only_error(results[1])[:2] == (None, "")
    reason = only_error(results[1])[2]
    assert reason.startswith("YAML syntax error: ")
    assert results[1].source.column is not None
    assert results[1].source.line > results[0].source.line


def test_yaml_reason_does_not_quote_the_source_line(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("patient: {name: Jane Doe\n")
    [result] = read(file)
    assert "Jane" not in only_error(result)[2]


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "nope.json")


# --- streaming --------------------------------------------------------------------------------


class CountingReader(io.BytesIO):
    """A stream that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.handed_out += len(data)
        return data


def test_json_array_is_read_incrementally(seed_records):
    data = json.dumps(seed_records * 50).encode()
    stream = CountingReader(data)
    records = _iter_json(stream, "big.json", chunk_bytes=4096)
    next(records)
    assert stream.handed_out < len(data) // 10


def test_ndjson_is_read_line_by_line(seed_records):
    class OneLine(io.BytesIO):
        def readline(self, size: int | None = -1) -> bytes:
            if self.tell():
                raise AssertionError("read past the first record")
            return super().readline(size)

    stream = OneLine((json.dumps(seed_records[0]) + "\n").encode() * 2)
    first = next(iter_ndjson(stream, "gen"))
    assert first[0] == RecordSource("gen", 1)


# text without control characters and lone surrogates, which the readers refuse
plain_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | plain_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(plain_text.filter(lambda t: len(t) <= 5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    values=st.lists(json_values, max_size=6),
    indent=st.sampled_from([None, 0, 2]),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_streamed_array_equals_json_loads(values, indent, chunk):
    text = json.dumps(values, indent=indent, ensure_ascii=False)
    parsed = list(_iter_json(io.BytesIO(text.encode()), "x.json", chunk_bytes=chunk))
    assert [value for _, value in parsed] == values
    assert [source.index for source, _ in parsed] == list(range(len(values)))
    lines = text.split("\n")  # JSON lines end at \n only (str.splitlines also splits at \x85)
    for source, value in parsed:
        assert (
            json.dumps(value, indent=indent, ensure_ascii=False).splitlines()[0]
            in lines[source.line - 1]
        )


@given(
    values=st.lists(json_values, min_size=1, max_size=6),
    limit=st.integers(min_value=2, max_value=60),
    chunk=st.integers(min_value=1, max_value=16),
)
def test_records_over_the_limit_are_skipped_and_the_others_kept(values, limit, chunk):
    """The skipper follows strings, escapes and brackets exactly, across any chunk boundary."""
    texts = [json.dumps(v, ensure_ascii=False) for v in values]
    data = ("[" + ", ".join(texts) + "]").encode()
    limits = InputLimits(max_record_bytes=limit)
    parsed = [value for _, value in _iter_json(io.BytesIO(data), "x", limits, chunk_bytes=chunk)]
    expected = [
        Unreadable(f"a record over {limit} bytes (--max-record-bytes)") if len(t) > limit else v
        for t, v in zip(texts, values, strict=True)
    ]
    assert parsed == expected
