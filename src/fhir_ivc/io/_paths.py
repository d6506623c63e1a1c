"""Field paths in error messages: ``surgery.ivc_management[0].graft_material``."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["format_loc"]


def format_loc(loc: Iterable[str | int]) -> str:
    """Join a pydantic error ``loc`` into a dotted path with ``[i]`` list indexes."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path
