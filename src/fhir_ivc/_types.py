"""Types shared by packages that otherwise have nothing in common."""

from __future__ import annotations

from types import TracebackType
from typing import TypeAlias

__all__ = ["ExcInfo"]

#: what ``__exit__`` receives: ``def __exit__(self, *exc_info: Unpack[ExcInfo]) -> None``
ExcInfo: TypeAlias = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
