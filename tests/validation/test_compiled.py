"""The validator's compiled shortcuts give the verdicts of the plain code they replace.

Speed work (issue 10) turned some checks into closures built once per profile element; each is
held here to the function it stands for, on arbitrary JSON.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_ivc.validation._profile import compile_pattern, matches_pattern

_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([1.0, 0.5, "a", "b"])
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(pattern=_json, value=_json)
def test_compiled_pattern_is_matches_pattern(pattern: Any, value: Any) -> None:
    assert compile_pattern(pattern)(value) is matches_pattern(pattern, value)


@settings(max_examples=300, deadline=None)
@given(pattern=_json)
def test_a_value_matches_its_own_pattern(pattern: Any) -> None:
    """The property above would hold for two functions that both say False: not these."""
    assert compile_pattern(pattern)(pattern)
