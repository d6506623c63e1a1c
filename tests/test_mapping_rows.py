"""The mapping table (ELEMENTS rows): it covers every clinical field, and it is the code that runs.

Rows hold the functions themselves: every ``to_fhir`` is one of the mappers ``build_bundles``
runs, and every ``from_fhir`` is really called when the bundles are read back.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from fhir_ivc.bundle import build_bundles, case_from_bundle
from fhir_ivc.mappers import ELEMENTS, MAPPERS, measures
from fhir_ivc.mappers._fields import field_paths
from fhir_ivc.model import Case, Surgery
from fhir_ivc.testing.synth import synthetic_cases
from tests.mapping._fhir import seed_case, seed_case_ids

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


def test_every_row_writes_with_a_mapper_that_runs():
    assert {row.to_fhir for row in ELEMENTS} <= set(MAPPERS)


def test_every_reader_a_row_names_is_called_when_reading_back():
    called: set[object] = set()

    def profile(frame, event, arg):
        if event == "call":
            called.add(frame.f_code)

    cases = [seed_case(c) for c in seed_case_ids()] + list(synthetic_cases(40, seed=11))
    bundles = [build_bundles(case).transaction for case in cases]
    sys.setprofile(profile)
    try:
        for bundle in bundles:
            case_from_bundle(bundle)
    finally:
        sys.setprofile(None)
    readers = {row.from_fhir for row in ELEMENTS if row.from_fhir is not None}
    assert readers
    assert sorted(f.__qualname__ for f in readers if f.__code__ not in called) == []


def test_only_derived_rows_are_not_read_back():
    for row in ELEMENTS:
        if row.from_fhir is None:
            assert row.equivalence == "derived", row.source
            assert row.note, row.source


def test_lossy_rows_are_explicit():
    for row in ELEMENTS:
        if row.equivalence == "derived":
            assert row.note or row.from_fhir is not None, row


@pytest.mark.parametrize("measure", measures.MEASURES, ids=lambda m: m.field)
def test_a_measure_row_names_a_surgery_field(measure):
    assert measure.field in Surgery.model_fields
    assert measure.unit.code
    assert measure.code.code


def test_measure_keys_and_codes_are_unique():
    keys = [m.key for m in measures.MEASURES]
    codes = [(m.code.system, m.code.code) for m in measures.MEASURES]
    assert len(set(keys)) == len(keys)
    assert len(set(codes)) == len(codes)


def test_generated_mapping_doc_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_mapping_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
