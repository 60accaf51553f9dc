"""Errors raised for bad input. Each names the file, line or field and the expected form."""

from __future__ import annotations


class SemserError(Exception):
    """Base class of the package's user-facing errors."""


class ConfigError(SemserError, ValueError):
    """A configuration field is unknown, of the wrong type or out of range."""


class DataError(SemserError, ValueError):
    """A data file cannot be read.

    Args:
        message: what is wrong and the expected form.
        path: the file concerned.
        line: 1-based line number, if the problem is on one line.
    """

    def __init__(self, message: str, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line
