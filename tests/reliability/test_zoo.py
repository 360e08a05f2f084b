"""The real awkward files of the PDF and EPUB zoos: each indexed, or failed with a reason a person understands."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.ingest.crawl import crawl
from tests.conftest import EPUB_ZOO, PDF_ZOO
from tests.reliability.conftest import store_state

UNDERSTANDABLE = [
    r"^encrypted: needs a password$",
    r"^no text layer \(scanned image\?\)$",
    r"^no text layer, and OCR found no words on its pages$",
    r"^not a valid (PDF|EPUB) \(damaged or wrong extension\)",
    r"^damaged (PDF|EPUB)",
    r"^too large",
    r"^timed out: took longer than \d+ s to read$",
]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    from desktop_search.paths import resolve_data_dir

    if not PDF_ZOO.is_dir() or not EPUB_ZOO.is_dir():
        pytest.fail(f"the shared corpora are missing: {PDF_ZOO}, {EPUB_ZOO}")
    paths = resolve_data_dir(tmp_path_factory.mktemp("zoo") / "data")
    report = Indexer(paths, IndexOptions(model=str(tiny_model), timeout_s=60)).run([PDF_ZOO, EPUB_ZOO])
    return paths, report


def test_every_zoo_file_is_indexed_or_failed_with_a_reason(zoo) -> None:
    paths, report = zoo
    docs = store_state(paths.root)["documents"]
    found = {f.path for root in (PDF_ZOO, EPUB_ZOO) for f in crawl(root)}
    assert set(docs) == found
    for path, (status, error) in docs.items():
        if status == "failed":
            assert any(re.search(p, error or "") for p in UNDERSTANDABLE), (path, error)
    indexed = [p for p, (s, _) in docs.items() if s == "indexed"]
    assert len(indexed) >= 0.7 * len(found)
    assert all(docs[str(EPUB_ZOO / n)][0] == "indexed" for n in ("alice.epub", "alice_without_cover.epub"))


def test_known_zoo_failures_carry_the_right_reason(zoo) -> None:
    paths, _ = zoo
    docs = store_state(paths.root)["documents"]
    samples = PDF_ZOO / "py-pdf-sample-files"
    resources = PDF_ZOO / "pypdf-resources"
    assert docs[str(samples / "005-libreoffice-writer-password__libreoffice-writer-password.pdf")] == (
        "failed", "encrypted: needs a password")
    assert docs[str(resources / "encryption_r4-aes-user-password.pdf")] == ("failed", "encrypted: needs a password")
    # A photo of a figurine: OCR reads it and finds no words.
    assert docs[str(samples / "019-grayscale-image__grayscale-image.pdf")] == (
        "failed", "no text layer, and OCR found no words on its pages")
    # A scanned patent page (the only zoo image with words) is read by OCR.
    assert docs[str(resources / "encrypted_doc_no_id.pdf")] == ("indexed", None)
    status, error = docs[str(samples / "017-unreadable-meta-data__unreadablemetadata.pdf")]
    assert status == "failed" and error.startswith("damaged PDF")
    # An owner-password-only PDF opens without a password and is indexed.
    assert docs[str(resources / "encryption_r6-owner-password.pdf")][0] == "indexed"
