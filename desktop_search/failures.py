"""Why a file could not be indexed, as a code stored with the failure.

A shared type: extraction raises it, the store keeps it, and the retry policy
(:mod:`desktop_search.ingest.retry`) reads it. Decisions read the code,
never the message wording.

To add a failure: add a member here (its value is what the database stores,
so never rename one) and its row in the retry policy's table.
"""
from __future__ import annotations

import logging
from enum import Enum

logger = logging.getLogger(__name__)


class FailureCode(str, Enum):
    """Stored in ``documents.failure``; the values are a storage contract."""

    UNREADABLE = "unreadable"  # the parser refused it: damaged, encrypted, unsupported
    NO_TEXT = "no_text"  # read, but nothing to index (image-only, empty)
    TOO_LARGE = "too_large"
    NOT_A_FILE = "not_a_file"  # a pipe, device or folder
    PERMISSION = "permission"  # the OS refused to open it
    TIMEOUT = "timeout"  # took longer than the per-file limit
    READER_DIED = "reader_died"  # the worker process crashed or was killed
    DISAPPEARED = "disappeared"  # gone between the crawl and the read
    IO_ERROR = "io_error"  # the OS failed the read
    NEEDS_TESSERACT = "needs_tesseract"  # scanned pages, and no Tesseract to read them


def parse(value: str | None) -> FailureCode | None:
    """The stored value back to a code; unknown values (a newer version's) read as None."""
    if value is None:
        return None
    try:
        return FailureCode(value)
    except ValueError:
        logger.debug("Unknown failure code %r", value)
        return None
