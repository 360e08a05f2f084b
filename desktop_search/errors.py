"""The two kinds of error the program knows.

``UserFacingError`` and its subclasses are the environment's fault (a bad
file, a busy index, a missing model): they carry a message fit for a person
and are shown without a traceback. Anything else is a bug: front ends log it
with its traceback.
"""
from __future__ import annotations

from desktop_search.failures import FailureCode


class UserFacingError(Exception):
    """An error whose message is meant for the user, not a developer."""


class ModelNotFoundError(UserFacingError):
    """No embedding model could be found locally."""


class IndexMismatchError(UserFacingError):
    """The index was built with another model or other chunking settings."""


class IndexBusyError(UserFacingError):
    """Another process is writing to the index."""


class IndexCorruptError(UserFacingError):
    """The metadata database cannot be read."""


class StorageError(UserFacingError):
    """The data dir cannot be written (full disk, read-only, permissions)."""


class ExtractionError(UserFacingError):
    """A document could not be read; the message is the recorded reason, the code drives retries."""

    def __init__(self, message: str, code: FailureCode = FailureCode.UNREADABLE) -> None:
        super().__init__(message)
        self.code = code
