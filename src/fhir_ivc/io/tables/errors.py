"""The one error of a whole table (or set of tables) that cannot be read."""

from __future__ import annotations

__all__ = ["TableFileError"]


class TableFileError(Exception):
    """A table cannot be read at all (unknown table or column, not UTF-8, broken CSV...);
    ``where`` names the file, ``line`` the line of the problem when known."""

    def __init__(self, where: str, reason: str, line: int = 1) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason
        self.line = line
