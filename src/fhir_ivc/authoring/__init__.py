"""The project's FHIR package (profiles/), authored as typed Python data.

Sources of truth, so nothing here can drift from what the mappers emit:

* ``fhir_ivc.terminology.local.LOCAL_CODE_SYSTEMS``: one CodeSystem (content complete, with
  definitions) and one ValueSet with all of its codes per local code system
  (:mod:`.terminology`);
* the mapping rows: the operative measure profile, its value sets and unit invariants come from
  ``fhir_ivc.mappers.measures.MEASURES``; every canonical URL (extension and profile) and every
  fixed code is imported from the mappers, never retyped;
* ``fhir_ivc.mappers.ELEMENTS``: the "case element" column of docs/profiles.md (:mod:`.doc`);
* this package: the extension and profile definitions as *differential* StructureDefinitions
  (:mod:`.extensions`, :mod:`.profiles`; one function each, one line per constraint).

Authoring route: JSON differentials from Python, not FSH/SUSHI. SUSHI needs hl7.fhir.r4.core
4.0.1 and the mCODE dependency chain (hl7.fhir.us.core 6.1.0, ...) in a FHIR package cache that
cannot be filled offline here. Writing the differentials in Python keeps one toolchain, lets the
profiles import the mappers' codes and URLs, runs under ``mypy --strict``, and gives a
byte-stable output that the tests compare with the committed files.

``scripts/build_profiles.py`` writes the files (``package_files()`` and ``render_doc()``) into
profiles/ and docs/profiles.md, checks them (``--check``) and packs the tarball (``--tgz``).
"""

from fhir_ivc.authoring.doc import render_doc
from fhir_ivc.authoring.package import package_files, resources, write_tgz
from fhir_ivc.authoring.terminology import FOLLOW_UP_FINDINGS, OPERATIVE_MEASURES

__all__ = [
    "FOLLOW_UP_FINDINGS",
    "OPERATIVE_MEASURES",
    "package_files",
    "render_doc",
    "resources",
    "write_tgz",
]
