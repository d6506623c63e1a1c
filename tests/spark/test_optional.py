"""``fhir_ivc.spark`` is optional: the package and the CLI never import pyspark."""

from __future__ import annotations

import subprocess
import sys


def test_import_fhir_ivc_and_the_cli_do_not_import_pyspark() -> None:
    code = (
        "import sys, fhir_ivc, fhir_ivc.cli._app, fhir_ivc.io, fhir_ivc.bundle.checks\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'pandas')"
        " or m.startswith('fhir_ivc.spark'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
