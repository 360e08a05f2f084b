"""Extraction workers: every path gets a result, and bad files cost only themselves."""
from __future__ import annotations

import logging
from pathlib import Path

from tests.conftest import make_pdf

from desktop_search.extract.pool import ExtractorPool, hash_file

logger = logging.getLogger(__name__)


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
    assert results[str(junk)].error.startswith("not a valid PDF")
    assert results[str(missing)].error == "file disappeared before it could be read"
