"""Map the two seed cases to FHIR and read them back, with the library API.

Run:  .venv/bin/python examples/map_seed_cases.py
The same job on the command line:  fhir-ivc map examples/cases/seed-cases.yaml --out out/bundles
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from fhir_ivc import Case, build_bundles, case_from_bundle
from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.validation import validate_bundle

HERE = Path(__file__).resolve().parent


def main() -> int:
    records = yaml.safe_load((HERE / "cases" / "seed-cases.yaml").read_text(encoding="utf-8"))
    for record in records:
        case = Case.model_validate(record)  # raises pydantic.ValidationError on bad input
        bundles = build_bundles(case)
        types = Counter(e["resource"]["resourceType"] for e in bundles.transaction["entry"])
        issues = validate_bundle(bundles.collection)
        back = case_from_bundle(bundles.transaction).case
        print(f"{case.case_id}: {sum(types.values())} resources ({dict(sorted(types.items()))})")
        print(f"  validation errors: {len(issues)}; read back equal: {back == case}")
        inferred = sorted(
            {
                marker["valueString"]
                for entry in bundles.collection["entry"]
                for ext in entry["resource"].get("extension", [])
                if ext["url"] == CASE_ELEMENT_URL
                for marker in ext["extension"]
                if marker["url"] == "inferred"
            }
        )
        print(f"  inferred, not stated in the report: {', '.join(inferred) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
