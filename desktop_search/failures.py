"""Why a file could not be indexed, as a code stored with the failure.

Retry decisions read the code, never the message wording. Each code has one
retry policy, kept here in one table: ``NEVER`` (the file must change first),
``TRANSIENT`` (may not recur: retried on later runs, up to ``MAX_ATTEMPTS``),
or ``WHEN_AVAILABLE`` (retried once a missing tool shows up, whatever the
attempts; the check is a cheap callable, e.g. ``shutil.which``).

To add a failure: add a member (its value is what the database stores, so
never rename one) and its row in ``_POLICIES``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


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


class Retry(Enum):
    NEVER = "never"
    TRANSIENT = "transient"
    WHEN_AVAILABLE = "when_available"


@dataclass(frozen=True)
class Policy:
    retry: Retry
    available: Callable[[], bool] | None = None  # for WHEN_AVAILABLE: is the missing piece there now?


_POLICIES: dict[FailureCode, Policy] = {
    FailureCode.UNREADABLE: Policy(Retry.NEVER),
    FailureCode.NO_TEXT: Policy(Retry.NEVER),
    FailureCode.TOO_LARGE: Policy(Retry.NEVER),
    FailureCode.NOT_A_FILE: Policy(Retry.NEVER),
    FailureCode.PERMISSION: Policy(Retry.NEVER),
    FailureCode.TIMEOUT: Policy(Retry.TRANSIENT),
    FailureCode.READER_DIED: Policy(Retry.TRANSIENT),
    FailureCode.DISAPPEARED: Policy(Retry.TRANSIENT),
    FailureCode.IO_ERROR: Policy(Retry.TRANSIENT),
    FailureCode.NEEDS_TESSERACT: Policy(Retry.WHEN_AVAILABLE, available=lambda: _tesseract_installed()),
}


def _tesseract_installed() -> bool:
    from desktop_search.extract.ocr import find_tesseract

    return find_tesseract() is not None


def policy(code: FailureCode) -> Policy:
    return _POLICIES[code]


def parse(value: str | None) -> FailureCode | None:
    """The stored value back to a code; unknown values (a newer version's) read as None."""
    if value is None:
        return None
    try:
        return FailureCode(value)
    except ValueError:
        logger.debug("Unknown failure code %r", value)
        return None


def should_retry(code: FailureCode | None, attempts: int) -> bool:
    """Whether an unchanged file that failed with ``code`` is worth reading again."""
    if code is None:
        return False
    p = _POLICIES[code]
    if p.retry is Retry.TRANSIENT:
        return attempts < MAX_ATTEMPTS
    if p.retry is Retry.WHEN_AVAILABLE:
        return p.available is not None and p.available()
    return False
