"""The code tables read from ``terminology/codes.toml``: every table has its constant, a coding
is ``[SYSTEM, code, display(, "unverified")]``, local tables end with the local coding."""

import tomllib
from importlib.resources import files

import pytest

from fhir_ivc.terminology import codes as C  # noqa: N812 - as in the mappers
from fhir_ivc.terminology import local as L  # noqa: N812
from fhir_ivc.terminology._tables import Code
from fhir_ivc.terminology.systems import ICD10CM, SNOMED


def _toml() -> dict[str, dict[str, object]]:
    text = files("fhir_ivc.terminology").joinpath("codes.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_every_table_of_codes_toml_is_a_constant_of_codes() -> None:
    built_here = {"ivc-procedure", "fnclcc-grade"}
    assert {t.name for t in C.ALL_TABLES} == set(_toml()) | built_here
    assert len(C.ALL_TABLES) == len({t.name for t in C.ALL_TABLES})


def test_codings_keep_system_order_and_marks() -> None:
    assert C.ORGAN.entries["left-kidney"][0] == Code(
        SNOMED, "18639004", "Left kidney structure (body structure)", verified=False
    )
    assert C.ORGAN.entries["left-kidney"][-1] == L.ORGAN["left-kidney"]
    assert [c.system for c in C.METASTASIS_SITE.entries["lung"]] == [SNOMED, ICD10CM]
    assert [c.system for c in C.METASTASIS_SITE.entries["peritoneum"]] == [ICD10CM]
    assert C.NOT_GIVEN_THERAPY.entries["chemotherapy"][-1] == L.NOT_GIVEN_THERAPY["chemotherapy"]
    assert C.GRAFT_MATERIAL.entries.keys() == L.GRAFT_MATERIAL.concepts.keys()


@pytest.mark.parametrize(
    "item",
    [
        ["SCT", "1", "unknown system name"],
        ["SNOMED", "1", "a mark that is not 'unverified'", "maybe"],
        ["SNOMED", "1", "too many items", "unverified", "x"],
    ],
)
def test_a_bad_coding_is_refused(item: list[str]) -> None:
    with pytest.raises(ValueError, match=r"codes.toml \[t\]"):
        C._coding("t", item)
