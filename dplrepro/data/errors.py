"""Exceptions raised by the data layer.

Every error names the file or variable involved and what was expected, so a user can
fix the input without reading the code.
"""

from __future__ import annotations


class DataError(Exception):
    """Base class for all input-data problems."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A required data file or folder does not exist."""


class DataFormatError(DataError, ValueError):
    """A file exists but its content does not match the expected layout or schema."""


class UnknownSiteError(DataError, KeyError):
    """A requested basin or cell id is not in the dataset."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ChecksumError(DataError):
    """A downloaded archive does not match its published SHA-256 hash."""
