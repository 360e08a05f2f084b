"""The progress line: counts and rates a person can read."""
from __future__ import annotations

from desktop_search.index.progress import Phase, Progress


def test_the_line_shows_ocr_pages_only_when_there_are_some() -> None:
    plain = Progress(Phase.INDEXING, files_done=1, files_total=4, chunks_done=10)
    assert "OCR" not in plain.line()
    scanning = Progress(Phase.INDEXING, files_done=1, files_total=4, chunks_done=10, ocr_pages=12, ocr_pages_per_s=0.4)
    assert scanning.line().endswith("| OCR 12 pages 0.4 pages/s")
