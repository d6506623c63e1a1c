"""Profiles compiled against the R4 core: drop what the structure stage checks already.

An mCODE snapshot repeats every element of its base resource, most of them exactly as the R4
core defines them (same cardinality, types, binding). The structure stage checks those on the
same walk, so the profile stage would only re-check them: :func:`prune` removes, once per
profile, every element node that adds nothing to the core definition (and has no child that
does). What stays is what the profile constrains: cardinalities, narrower types or target
types, fixed and pattern values, other bindings, slicing and slices (kept whole, their
discriminators need them), type profiles. This is what makes the profile stage cost what the
profile says, not what the resource type has.
"""

from __future__ import annotations

from collections.abc import Callable

from fhir_ivc.validation._core import COMPLEX, Child, Table
from fhir_ivc.validation._profile import Node

__all__ = ["prune"]

TargetType = Callable[[str], "str | None"]


def prune(node: Node, table: Table | None, target_type: TargetType) -> None:
    """Remove the children of ``node`` that only repeat the core definition (in place)."""
    if table is None:
        return
    kept = {}
    for name, child in node.children.items():
        core = table.element(name)
        if not core or _needed(child, core, target_type):
            kept[name] = child
    node.children = kept


def _fhir_type(code: str) -> str:
    """Snapshots type ``id`` and ``url`` elements with FHIRPath system types."""
    return "string" if code.startswith("http://hl7.org/fhirpath/System.") else code


def _needed(node: Node, core: list[Child], target_type: TargetType) -> bool:
    first = core[0]
    if node.slices or node.slicing is not None or node.fixed_kind or node.profiles:
        return True
    if node.min != first.min:
        return True
    if node.max is not None and node.max != first.max and not (node.max == 1 and not first.many):
        return True
    if node.types and {_fhir_type(t) for t in node.types} != {c.type for c in core}:
        return True
    binding = node.binding
    if binding is not None and binding.strength in ("required", "extensible"):
        base = first.binding
        if base is None or base[0] != binding.strength or base[1].url != binding.value_set:
            return True
    if node.target_profiles:
        wanted = {target_type(p) for p in node.target_profiles}
        if None in wanted or first.targets is None or wanted != set(first.targets):
            return True
    if node.children:
        sub = first.table if len(core) == 1 and first.kind == COMPLEX else None
        if sub is None:
            return True
        prune(node, sub, target_type)
        return bool(node.children)
    return False
