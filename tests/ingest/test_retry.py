"""Failure codes: retry policy by code, stored and read back, extensible in one table."""
from __future__ import annotations

import pytest

from desktop_search.failures import FailureCode, parse
from desktop_search.ingest import retry
from desktop_search.ingest.retry import MAX_ATTEMPTS, Policy, Retry, should_retry


def test_every_code_has_a_policy() -> None:
    for code in FailureCode:
        assert isinstance(retry.policy(code), Policy)


@pytest.mark.parametrize("code", [FailureCode.TIMEOUT, FailureCode.READER_DIED, FailureCode.DISAPPEARED])
def test_transient_failures_are_retried_up_to_max_attempts(code: FailureCode) -> None:
    assert should_retry(code, 1)
    assert not should_retry(code, MAX_ATTEMPTS)


@pytest.mark.parametrize("code", [FailureCode.UNREADABLE, FailureCode.NO_TEXT, FailureCode.TOO_LARGE, None])
def test_permanent_or_unknown_failures_are_not_retried(code: FailureCode | None) -> None:
    assert not should_retry(code, 1)


def test_a_code_that_waits_for_a_tool_is_retried_once_the_tool_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape a "Tesseract missing" code takes: retried whatever the attempts, once available."""
    present = {"tool": False}
    table = dict(retry._POLICIES)
    table[FailureCode.NO_TEXT] = Policy(Retry.WHEN_AVAILABLE, available=lambda: present["tool"])
    monkeypatch.setattr(retry, "_POLICIES", table)
    assert not should_retry(FailureCode.NO_TEXT, 1)
    present["tool"] = True
    assert should_retry(FailureCode.NO_TEXT, 50)


def test_stored_values_read_back_and_unknown_ones_are_ignored() -> None:
    assert parse("timeout") is FailureCode.TIMEOUT
    assert parse("from-a-newer-version") is None
    assert parse(None) is None
