"""The synthetic case generator: deterministic, distinct, valid and varied."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys

import pytest

from fhir_ivc.model import Case, item_keys
from fhir_ivc.testing.synth import DEFAULT_SOURCE_SYSTEM, synthetic_case, synthetic_cases

N = 400


@pytest.fixture(scope="module")
def many() -> list[Case]:
    return list(synthetic_cases(N))


def test_same_seed_same_cases() -> None:
    assert list(synthetic_cases(25, seed=3)) == list(synthetic_cases(25, seed=3))


def test_a_case_does_not_depend_on_the_others() -> None:
    # random access: case 17 alone equals case 17 of the series
    assert synthetic_case(17, seed=5) == list(synthetic_cases(18, seed=5))[17]


def test_seeds_make_different_series() -> None:
    series = [list(synthetic_cases(20, seed=seed)) for seed in (0, 1)]
    assert [c.case_id for c in series[0]] == [c.case_id for c in series[1]]
    assert sum(a != b for a, b in zip(*series, strict=True)) >= 18


def test_same_cases_in_another_process() -> None:
    # string seeds go through sha512, not hash(): PYTHONHASHSEED must not matter
    code = (
        "from fhir_ivc.testing.synth import synthetic_case;"
        "print(synthetic_case(5, seed=9).model_dump_json())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert Case.model_validate_json(out) == synthetic_case(5, seed=9)


def test_case_ids_are_distinct_and_numbered(many: list[Case]) -> None:
    ids = [c.case_id for c in many]
    assert ids[:3] == ["synth-000000", "synth-000001", "synth-000002"]
    assert len(set(ids)) == N
    assert all(re.fullmatch(r"synth-\d{6}", i) for i in ids)
    assert synthetic_case(1_234_567).case_id == "synth-1234567"


def test_patient_identifiers_are_distinct(many: list[Case]) -> None:
    values = [(i.system, i.value) for c in many for i in c.patient.identifiers]
    assert len(values) == len(set(values)) > N // 2


def test_source_system_is_a_parameter() -> None:
    case = synthetic_case(3, source_system="urn:oid:1.2.3.4")
    assert case.source_system == "urn:oid:1.2.3.4"
    assert synthetic_case(3).source_system == DEFAULT_SOURCE_SYSTEM


def test_all_cases_are_valid_and_round_trip(many: list[Case]) -> None:
    for case in many:
        assert Case.model_validate(case.model_dump(mode="json")) == case
        assert Case.model_validate_json(case.model_dump_json()) == case
        json.loads(case.model_dump_json())  # plain JSON


def test_dated_cases_have_no_relative_times(many: list[Case]) -> None:
    for case in many:
        points = case.time_points()
        dated = case.surgery is None or case.surgery.date is not None
        if dated:
            assert all(tp.date is not None for tp in points), case.case_id
        else:
            assert all(tp.relative is not None for tp in points), case.case_id


def test_negative_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="index must be >= 0"):
        synthetic_case(-1)
    with pytest.raises(ValueError, match="n must be >= 0"):
        next(synthetic_cases(-1))


def test_cases_vary(many: list[Case]) -> None:
    seen: collections.Counter[str] = collections.Counter()
    for case in many:
        surgery = case.surgery
        seen[f"segments {'+'.join(case.diagnosis.ivc_segments)}"] += 1
        seen["dated"] += surgery is None or surgery.date is not None
        seen["no surgery"] += surgery is None
        seen["metastases"] += bool(case.metastases)
        seen["explicit keys"] += any(f.key for f in case.follow_up)
        seen["inferred"] += '"inferred":["' in case.model_dump_json()
        seen["dead"] += case.follow_up[-1].vital_status == "dead"
        seen["intraluminal"] += bool(case.diagnosis.intraluminal_extension)
        seen["no presentation"] += case.presentation is None
        for tp in case.time_points():
            if tp.relative:
                seen[f"unit {tp.relative.unit}"] += 1
                seen[f"relation {tp.relative.relation}"] += 1
            else:
                seen[f"date length {len(tp.date or '')}"] += 1
        if surgery:
            seen[f"extent {surgery.resection_extent}"] += 1
            for step in surgery.approach:
                seen[f"approach {step.kind}"] += 1
            for management in surgery.ivc_management:
                seen[f"ivc {management.method}"] += 1
                seen[f"graft {management.graft_material}"] += 1
            seen["complications"] += bool(surgery.complications)
        if case.pathology:
            seen[f"grade {case.pathology.grade}"] += 1
            seen[f"margin {case.pathology.margin_status}"] += 1
        for metastasis in case.metastases:
            seen[f"site {metastasis.site}"] += 1
        for therapy in case.systemic_therapy:
            seen[f"setting {therapy.setting}"] += 1
            seen.update(f"agent {a}" for a in therapy.agents)
        for keyed in (case.metastases, case.systemic_therapy, case.follow_up):
            keys = item_keys(keyed)
            assert len(set(keys)) == len(keys)

    assert 0.12 * N < seen["dated"] < 0.32 * N  # about 1 in 5
    assert 0 < seen["no surgery"] < 0.1 * N
    assert 0.3 * N < seen["metastases"] < 0.65 * N
    for always in ("explicit keys", "inferred", "dead", "intraluminal", "no presentation"):
        assert seen[always] > 0, always
    wanted = [
        *(f"segments {s}" for s in ("upper", "middle", "lower", "middle+lower", "upper+middle")),
        *(f"unit {u}" for u in ("d", "wk", "mo", "a")),
        "relation before",
        "relation after",
        *(f"date length {n}" for n in (4, 7, 10)),
        *(f"extent {e}" for e in ("partial", "circumferential", None)),
        "approach laparotomy",
        "approach median-sternotomy",
        "approach cardiopulmonary-bypass",
        "approach total-hepatic-vascular-exclusion",
        *(f"ivc {m}" for m in ("ligation", "primary-repair", "patch-cavoplasty")),
        *(f"ivc {m}" for m in ("graft-replacement", "anastomosis")),
        *(f"graft {g}" for g in ("ptfe", "dacron", "aortic-allograft", "bovine-pericardium")),
        *(f"grade {g}" for g in ("low", "intermediate", "high")),
        *(f"margin {m}" for m in ("uninvolved", "involved", "cannot-be-assessed")),
        *(f"site {s}" for s in ("lung", "liver", "bone")),
        *(f"setting {s}" for s in ("neoadjuvant", "adjuvant", "metastatic")),
        *(f"agent {a}" for a in ("doxorubicin", "gemcitabine", "trabectedin", "pazopanib")),
        "complications",
    ]
    missing = [name for name in wanted if seen[name] == 0]
    assert missing == []


def test_sizes_are_tenths(many: list[Case]) -> None:
    for case in many:
        sizes = [s for i in case.imaging for s in i.dimensions_cm]
        sizes += case.pathology.size_cm if case.pathology else []
        assert all(float(repr(s)) == s and round(s, 1) == s for s in sizes)


def test_every_measure_row_gets_synthetic_values():
    """A new row in fhir_ivc.mappers.measures needs a generator here too (no silent gap)."""
    from fhir_ivc.mappers.measures import MEASURES

    surgeries = [c.surgery for c in synthetic_cases(60) if c.surgery is not None]
    for measure in MEASURES:
        assert any(getattr(s, measure.field) is not None for s in surgeries), measure.field
