"""Bounded fuzz of the readers (issue 12): any bytes, in any format, under any limits, give
results naming the file, never an exception; valid records around damage still come through.

The ``ci`` Hypothesis profile runs a fixed set of examples (tests/conftest.py), a few seconds
in all; ``HYPOTHESIS_PROFILE=dev`` runs more.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_ivc.io import InputLimits, Unreadable, iter_case_records, iter_json_values

SEED = Path(__file__).resolve().parents[2] / "examples" / "cases" / "seed-cases.yaml"
RECORDS = yaml.safe_load(SEED.read_text(encoding="utf-8"))
NAMES = ["f.json", "f.ndjson", "f.yaml", "f.txt"]
#: pieces that break readers: brackets, escapes, YAML anchors and tags, NUL, BOMs, bad UTF-8
HOSTILE = [
    b"[",
    b"{",
    b"]",
    b"}",
    b'"',
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"NaN",
    b"1e999",
    b"9" * 60,
    b"&a ",
    b"*a",
    b"!!binary ",
    b"!!python/object ",
    b"---\n",
    b"\n",
    b": ",
    b"- ",
    b",",
    b'"case_id": "x", ',
]
LIMITS = st.builds(
    InputLimits,
    max_record_bytes=st.integers(1, 5000),
    max_depth=st.integers(1, 12),
    max_yaml_document_bytes=st.integers(1, 20000),
    max_yaml_values=st.integers(1, 2000),
)


def texts() -> st.SearchStrategy[bytes]:
    """Valid case files of every format, then damaged by splicing hostile pieces into them."""
    lines = [json.dumps(r) for r in RECORDS]
    bases = [
        ("[" + ",\n".join(lines) + "]").encode(),
        "".join(line + "\n" for line in lines).encode(),
        yaml.safe_dump(RECORDS).encode(),
    ]

    @st.composite
    def damaged(draw: st.DrawFn) -> bytes:
        data = draw(st.sampled_from(bases))
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(data)))
            cut = draw(st.integers(0, 3))
            data = data[:at] + draw(st.sampled_from(HOSTILE)) + data[at + cut :]
        return data

    return damaged() | st.binary(max_size=300)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=texts(), name=st.sampled_from(NAMES), limits=LIMITS | st.just(InputLimits()))
def test_case_readers_never_raise(tmp_path, data, name, limits):
    path = tmp_path / name
    path.write_bytes(data)
    results = list(iter_case_records(path, limits=limits))
    assert results
    for result in results:
        assert result.source.file == str(path)
        assert result.source.line >= 1
        assert result.ok or all(error.reason for error in result.errors)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=texts(), name=st.sampled_from(NAMES[:2] + NAMES[3:]), limits=LIMITS)
def test_value_reader_never_raises(tmp_path, data, name, limits):
    path = tmp_path / name
    path.write_bytes(data)
    for source, value in iter_json_values(path, limits=limits):
        assert source.file == str(path)
        if isinstance(value, Unreadable):
            assert value.reason


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.sampled_from(HOSTILE), position=st.integers(0, 1))
def test_damage_in_one_ndjson_line_keeps_the_other(tmp_path, junk, position):
    lines = [json.dumps(r).encode() for r in RECORDS]
    lines[position] = lines[position][:10] + junk + lines[position][10:]
    path = tmp_path / "f.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    results = list(iter_case_records(path))
    survivor = RECORDS[1 - position]["case_id"]
    assert any(r.ok and r.case_id == survivor for r in results)
