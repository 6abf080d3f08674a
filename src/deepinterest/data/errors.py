"""Errors raised while importing data: they always name the file (and line) at fault."""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """A source file that does not match its declared format."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class UnknownFormatError(ValueError):
    """A format or dataset name that is not registered."""
