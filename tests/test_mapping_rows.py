"""The mapping table (ELEMENTS rows) covers every clinical field of the case model."""

import subprocess
import sys
from pathlib import Path

from fhir_ivc import mappers
from fhir_ivc.mappers import ELEMENTS
from fhir_ivc.mappers._fields import field_paths
from fhir_ivc.model import Case

ROOT = Path(__file__).resolve().parent.parent


def _covered(path: str, sources: list[str]) -> bool:
    base = path.replace("[]", "")
    for source in sources:
        s = source.replace("[]", "").split(" ")[0]
        if s == base or base.startswith(f"{s}."):
            return True
    return False


def test_every_case_field_has_a_mapping_row():
    sources = [row.source for row in ELEMENTS]
    missing = [p for p in field_paths(Case) if not _covered(p, sources)]
    assert missing == []


def test_rows_name_functions_that_exist():
    modules = [getattr(mappers, name) for name in dir(mappers) if not name.startswith("_")]
    names = {n for m in modules for n in dir(m)}
    from fhir_ivc.bundle import disassemble

    names |= set(dir(disassemble))
    for row in ELEMENTS:
        assert row.to_fhir in names, row
        assert row.from_fhir == "-" or row.from_fhir in names, row


def test_lossy_rows_are_explicit():
    # 'derived' rows are the only ones not read back; each must say why
    for row in ELEMENTS:
        if row.equivalence == "derived":
            assert row.note or row.from_fhir != "-", row


def test_generated_mapping_doc_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_mapping_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
