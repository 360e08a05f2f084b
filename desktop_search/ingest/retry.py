"""Whether a file that failed is worth reading again, by its failure code.

Retry decisions read the code (:class:`~desktop_search.failures.FailureCode`),
never the message wording. Each code has one retry policy, kept here in one
table: ``NEVER`` (the file must change first), ``TRANSIENT`` (may not recur: retried on later runs, up to ``MAX_ATTEMPTS``),
or ``WHEN_AVAILABLE`` (retried once a missing tool shows up, whatever the
attempts; the check is a cheap callable, e.g. ``shutil.which``).

To add a failure: add a member to ``FailureCode`` and its row in ``_POLICIES``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from desktop_search.failures import FailureCode

MAX_ATTEMPTS = 3


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
    from desktop_search.ingest.extract.ocr import find_tesseract

    return find_tesseract() is not None


def policy(code: FailureCode) -> Policy:
    return _POLICIES[code]


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
