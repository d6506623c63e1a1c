"""The validator suite's examples are goldens of the seed mapping, not hand-written copies.

``tests/validation/valid/<name>.json`` is the resource of the seed case-1 collection bundle
with the element key of :data:`VALID`, its ``urn:uuid:`` references rewritten to relative
``Type/id`` ones so it stands alone (tests/validation/broken/README.md). The broken cases that
depend on a mapping row are derived from it and from the row here (:data:`DERIVED`), so a
changed code or unit regenerates them instead of breaking them. ``pytest tests/mapping
--update-golden`` (``scripts/update_golden.py``) rewrites the files; review the diff like the
golden bundles'. The other broken cases state one hand-made change each; their bases here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fhir_ivc.mappers.measures import MEASURES, OPERATIVE_MEASURE, Measure, unit_constraints
from fhir_ivc.terminology import units

from ._fhir import seed_bundles

SUITE = Path(__file__).resolve().parents[1] / "validation"

#: the measure row of the operative-measure example
BLOOD_LOSS: Measure = next(m for m in MEASURES if m.field == "blood_loss_ml")

#: example name -> element key of the seed case-1 resource it is
VALID: dict[str, str] = {
    "histologic-grade": "pathology.grade",
    "ivc-management-procedure": "surgery.ivc.ligation",
    "operative-measure": f"surgery.{BLOOD_LOSS.key}",
    "primary-cancer-condition": "condition.primary",
    "surgical-margin": "pathology.margin",
    "tumor-size": "pathology.size",
    "tumor": "tumor",
}


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _standalone(bundle: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    relative = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: relative.get(v, v) if k == "reference" else rewrite(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    out: dict[str, Any] = rewrite(resource)
    return out


def valid_examples() -> dict[str, dict[str, Any]]:
    bundle = json.loads(json.dumps(seed_bundles("case-1").collection))
    by_key = {
        r["identifier"][0]["value"].split("/", 1)[1]: r
        for r in (e["resource"] for e in bundle["entry"])
        if r.get("identifier") and "/" in r["identifier"][0]["value"]
    }
    return {name: _standalone(bundle, by_key[key]) for name, key in VALID.items()}


#: a volume unit that is not the row's (the blood-loss unit is a volume)
_OTHER_VOLUME = {units.MILLILITER: units.LITER, units.LITER: units.MILLILITER}


def _wrong_unit(valid: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Blood loss in another volume unit: outside the unit value set, and its invariant fails."""
    wrong = _OTHER_VOLUME[BLOOD_LOSS.unit]
    (invariant,) = [
        c
        for c in unit_constraints()
        if c.system == BLOOD_LOSS.code.system and BLOOD_LOSS.code.code in c.codes
    ]
    resource = copy.deepcopy(valid["operative-measure"])
    resource["valueQuantity"].update(unit=wrong.code, code=wrong.code)
    expected = {
        "description": (
            f"{BLOOD_LOSS.label.capitalize()} in {wrong.code}: not in the required "
            f"ivc-operative-measure-unit value set, and invariant {invariant.key} "
            f"({invariant.unit.code}) fails"
        ),
        "base": "valid/operative-measure.json",
        "profile": OPERATIVE_MEASURE,
        "issues": [
            {
                "severity": "error",
                "code": "code-invalid",
                "expression": "Observation.valueQuantity.code",
            },
            {"severity": "error", "code": "invariant", "expression": "Observation"},
        ],
    }
    return resource, expected


#: broken case name -> (resource, expectation), derived from the valid examples and the rows
DERIVED: dict[str, Callable[[dict[str, dict[str, Any]]], tuple[dict[str, Any], dict[str, Any]]]] = {
    "operative-measure-wrong-unit": _wrong_unit
}


def expected_files() -> dict[Path, str]:
    valid = valid_examples()
    files = {SUITE / "valid" / f"{name}.json": _dump(r) for name, r in valid.items()}
    for name, derive in DERIVED.items():
        resource, expectation = derive(valid)
        files[SUITE / "broken" / f"{name}.json"] = _dump(resource)
        files[SUITE / "broken" / f"{name}.expected.json"] = _dump(expectation)
    return files


FILES = expected_files()


@pytest.mark.parametrize("path", sorted(FILES), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_validation_example_is_current(path: Path, update_golden: bool) -> None:
    if update_golden:
        path.write_text(FILES[path], encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: pytest tests/mapping --update-golden"
    assert path.read_text(encoding="utf-8") == FILES[path], (
        f"{path.relative_to(SUITE)} is stale: pytest tests/mapping --update-golden"
    )


def test_every_valid_example_is_generated() -> None:
    on_disk = set((SUITE / "valid").glob("*.json"))
    assert on_disk == {p for p in FILES if p.parent.name == "valid"}
