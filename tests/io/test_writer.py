"""fhir_ivc.io.writer: per-case files and NDJSON, atomic and byte-identical on re-runs."""

from __future__ import annotations

import json
import os
import pickle
import stat
from dataclasses import dataclass, field
from typing import Any

import pytest

from fhir_ivc.io import (
    BundleDirWriter,
    BundleEncoder,
    BundleKind,
    NdjsonBundleWriter,
    RejectsWriter,
    atomic_write_bytes,
)

BOTH = (BundleKind.TRANSACTION, BundleKind.COLLECTION)


@dataclass(frozen=True)
class Bundles:
    case_id: str
    transaction: dict[str, Any] = field(
        default_factory=lambda: {"resourceType": "Bundle", "type": "transaction", "entry": []}
    )
    collection: dict[str, Any] = field(
        default_factory=lambda: {"resourceType": "Bundle", "type": "collection", "entry": []}
    )


def listing(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_dir_writer_writes_one_pretty_file_per_kind(tmp_path):
    out = tmp_path / "out" / "bundles"
    with BundleDirWriter(out, BOTH) as writer:
        assert writer.write(Bundles("case-1")) == 2
    files = listing(out)
    assert sorted(files) == ["case-1.collection.json", "case-1.transaction.json"]
    text = files["case-1.transaction.json"].decode()
    assert text.startswith('{\n  "resourceType": "Bundle",')  # builder's key order kept
    assert text.endswith("}\n")
    assert json.loads(text) == Bundles("case-1").transaction


def test_dir_writer_rewrites_identical_bytes_and_leaves_no_temp_files(tmp_path):
    with BundleDirWriter(tmp_path, BOTH) as writer:
        writer.write(Bundles("case-1"))
    first = listing(tmp_path)
    with BundleDirWriter(tmp_path, BOTH) as writer:
        writer.write(Bundles("case-1"))
    assert listing(tmp_path) == first


def test_dir_writer_one_kind(tmp_path):
    with BundleDirWriter(tmp_path, (BundleKind.COLLECTION,)) as writer:
        assert writer.write(Bundles("c")) == 1
    assert list(listing(tmp_path)) == ["c.collection.json"]


@pytest.mark.parametrize("case_id", ["../evil", "", ".hidden", "a/b", "x" * 65])
def test_dir_writer_refuses_unsafe_file_names(tmp_path, case_id):
    with BundleDirWriter(tmp_path, BOTH) as writer, pytest.raises(ValueError, match="file name"):
        writer.write(Bundles(case_id))


def test_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path):
    with BundleDirWriter(tmp_path, BOTH) as writer:
        writer.write(Bundles("case-1"))
    before = listing(tmp_path)
    unserialisable = Bundles("case-1", transaction={"resourceType": "Bundle", "x": {1, 2}})
    with BundleDirWriter(tmp_path, BOTH) as writer, pytest.raises(TypeError):
        writer.write(unserialisable)
    assert listing(tmp_path) == before


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "f.json", b"{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o640


def test_ndjson_writer_one_bundle_per_line(tmp_path):
    path = tmp_path / "bundles.ndjson"
    with NdjsonBundleWriter(path, BOTH) as writer:
        writer.write(Bundles("a"))
        writer.write(Bundles("b"))
        assert not path.exists()  # appears only when complete
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["transaction", "collection"] * 2
    assert all(b"\n" not in line and b"  " not in line for line in lines)


def test_ndjson_writer_failure_keeps_the_previous_file(tmp_path):
    path = tmp_path / "bundles.ndjson"
    path.write_bytes(b"old\n")

    def interrupted_run() -> None:
        with NdjsonBundleWriter(path, BOTH) as writer:
            writer.write(Bundles("a"))
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted_run()
    assert path.read_bytes() == b"old\n"
    assert listing(tmp_path) == {"bundles.ndjson": b"old\n"}


def test_ndjson_writer_to_stdout(capsysbinary):
    with NdjsonBundleWriter("-", (BundleKind.TRANSACTION,)) as writer:
        writer.write(Bundles("a"))
    out = capsysbinary.readouterr().out
    assert json.loads(out) == Bundles("a").transaction


def test_writers_refuse_use_outside_with(tmp_path):
    writer = NdjsonBundleWriter(tmp_path / "x.ndjson", BOTH)
    with pytest.raises(RuntimeError, match="outside its 'with' block"):
        writer.write(Bundles("a"))


@pytest.mark.parametrize("folder", [True, False])
def test_write_encoded_writes_what_write_writes(tmp_path, folder):
    """``map -j N`` serialises in its workers with the writer's (pickled) encoder and writes
    the bytes: the same files as ``write``."""
    trees = []
    for how in ("write", "encoded"):
        where = tmp_path / how
        where.mkdir()
        writer = BundleDirWriter(where, BOTH) if folder else NdjsonBundleWriter(where / "b", BOTH)
        with writer:
            encode = pickle.loads(pickle.dumps(writer.encoder))
            for case_id in ("a", "b"):
                bundles = Bundles(case_id)
                if how == "write":
                    assert writer.write(bundles) == 2
                else:
                    assert writer.write_encoded(case_id, encode(bundles)) == 2
        trees.append(listing(where))
    assert trees[0] == trees[1]
    assert writer.encoder == BundleEncoder(BOTH, pretty=folder)


def test_write_encoded_refuses_a_document_per_kind_missing(tmp_path):
    lines = NdjsonBundleWriter(tmp_path / "b.ndjson", BOTH)
    for writer in (lines, BundleDirWriter(tmp_path, BOTH)):
        with writer, pytest.raises(ValueError, match="a: 1 bundles for 2 kinds"):
            writer.write_encoded("a", [b"{}\n"])


def test_rejects_writer(tmp_path):
    path = tmp_path / "rejects.ndjson"
    with RejectsWriter(path) as rejects:
        rejects.write("case-7", "surgery.blood_loss_ml", "Input should be >= 0", "c.ndjson:12")
        rejects.write(None, "", "broken JSON: x", "c.ndjson:13:2")
    assert rejects.count == 2
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {
            "case_id": "case-7",
            "path": "surgery.blood_loss_ml",
            "reason": "Input should be >= 0",
            "source": "c.ndjson:12",
        },
        {"case_id": None, "path": "", "reason": "broken JSON: x", "source": "c.ndjson:13:2"},
    ]


def test_rejects_file_is_written_even_when_empty(tmp_path):
    path = tmp_path / "rejects.ndjson"
    path.write_text("stale rejects of an earlier run\n")
    with RejectsWriter(path):
        pass
    assert path.read_bytes() == b""
