"""Extraction workers: every path gets a result, and bad files cost only themselves."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop_search.ingest.pool import ExtractorPool, hash_file
from tests.conftest import make_pdf


def test_every_path_yields_one_result_with_hash_and_errors(tmp_path: Path) -> None:
    good = [make_pdf(tmp_path / f"good{i}.pdf", [f"text number {i}"]) for i in range(3)]
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"nonsense" * 100)
    missing = tmp_path / "gone.pdf"
    pool = ExtractorPool(workers=2, timeout_s=60)
    results = {r.path: r for r in pool.imap_unordered([str(p) for p in [*good, junk, missing]])}
    assert set(results) == {str(p) for p in [*good, junk, missing]}
    for p in good:
        doc = results[str(p)].document
        assert doc is not None and doc.hash == hash_file(str(p)) and doc.size == p.stat().st_size
    assert (results[str(junk)].error or "").startswith("not a valid PDF")
    assert results[str(missing)].error == "file disappeared before it could be read"


def test_a_long_scan_is_slow_not_timed_out_while_ocr_reads_page_after_page(tmp_path: Path) -> None:
    """Each page OCR reads restarts the file's clock: 5 pages of 1 s each pass a 4 s file limit."""
    from desktop_search.ingest.extract.ocr import OcrOptions
    from tests.ingest.extract.scans import TextPage, render_grey, write_pdf

    slow = tmp_path / "tesseract"
    slow.write_text('#!/bin/sh\ncat > /dev/null\nsleep 1\necho "a page of the long scan"\n')
    slow.chmod(0o755)
    pictures = render_grey(write_pdf(tmp_path / "src.pdf", [TextPage([f"page {i}"]) for i in range(5)]), 40)
    scan = write_pdf(tmp_path / "scan.pdf", pictures)
    pool = ExtractorPool(workers=1, timeout_s=4, ocr=OcrOptions(tesseract=str(slow), languages="eng", dpi=40))
    [result] = pool.imap_unordered([str(scan)])
    assert result.error is None and result.seconds > 4
    assert result.document is not None and result.document.ocr_pages == 5
    assert [s.page for s in result.document.segments] == [1, 2, 3, 4, 5]


def test_a_pdf_that_kills_its_reader_is_read_again_with_pypdf(tmp_path: Path) -> None:
    """PDFium aborts the process on a page that will not fit in the reader's memory limit;
    the file is then read with pypdf, which refuses that page with a reason, and the pool goes on."""
    from tests.reliability.hostile import write_huge_stream_pdf

    huge = write_huge_stream_pdf(tmp_path / "huge.pdf")
    good = make_pdf(tmp_path / "good.pdf", ["still read"])
    results = {r.path: r for r in ExtractorPool(workers=1, timeout_s=120).imap_unordered([str(huge), str(good)])}
    assert (results[str(huge)].error or "").startswith("too large to read safely")
    assert results[str(good)].document is not None



@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of files in each request the dispatcher sends."""
    from desktop_search.ingest import pool

    sizes: list[int] = []
    next_batch = pool._next_batch

    def spy(*args: Any) -> tuple[str, ...]:
        batch = next_batch(*args)
        sizes.append(len(batch))
        return batch

    monkeypatch.setattr(pool, "_next_batch", spy)
    return sizes


def small_pdfs(folder: Path, n: int) -> list[Path]:
    return [make_pdf(folder / f"good{i:02d}.pdf", [f"text number {i}"]) for i in range(n)]


def test_a_reader_dying_inside_a_batch_costs_only_the_file_that_killed_it(tmp_path: Path, batch_sizes: list[int]) -> None:
    """Fast files go several to a request; when the reader dies, each file of its batch is read again alone."""
    from tests.reliability.hostile import write_huge_stream_pdf

    good = small_pdfs(tmp_path, 24)
    huge = write_huge_stream_pdf(tmp_path / "huge.pdf")  # PDFium aborts the process on it
    order = [*good[:2], huge, *good[2:]]  # the first answers set the pace, then batches
    results = {r.path: r for r in ExtractorPool(workers=1, timeout_s=120).imap_unordered([str(p) for p in order])}
    assert set(results) == {str(p) for p in order}
    assert all(results[str(p)].document is not None for p in good)
    assert (results[str(huge)].error or "").startswith("too large to read safely")
    assert max(batch_sizes) > 1 and len(batch_sizes) < len(order)


def test_a_batch_over_the_timeout_is_read_again_file_by_file(tmp_path: Path, batch_sizes: list[int]) -> None:
    import time

    from tests.reliability.hostile import write_huge_stream_pdf

    good = small_pdfs(tmp_path, 24)
    slow = write_huge_stream_pdf(tmp_path / "slow.pdf", inflated=70 * 10**6)  # not hostile, only slow
    order = [*good[:2], slow, *good[2:]]
    start = time.monotonic()
    results = {r.path: r for r in ExtractorPool(workers=1, timeout_s=2).imap_unordered([str(p) for p in order])}
    assert time.monotonic() - start < 30
    assert all(results[str(p)].document is not None for p in good)
    assert results[str(slow)].error == "timed out: took longer than 2 s to read"  # its own timeout, alone
    assert max(batch_sizes) > 1
