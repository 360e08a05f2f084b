"""Text extraction with locations: pages for PDFs, chapters for EPUBs.

``extract_file`` runs inside worker processes (see :mod:`.pool`); it raises
:class:`~desktop_search.errors.ExtractionError` with a reason a person
understands for any file it cannot read.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop_search.errors import ExtractionError
from desktop_search.ingest.extract.document import ExtractedDocument, Segment
from desktop_search.ingest.extract.ocr import OcrOptions

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".epub": "epub"}


def kind_of(path: str | Path) -> str | None:
    """'pdf' or 'epub' by case-insensitive suffix; None for anything else."""
    return SUPPORTED_SUFFIXES.get(Path(path).suffix.lower())


def extract_file(path: str | Path, data: bytes, ocr: OcrOptions | None = None,
                 on_ocr_page: Callable[[], None] | None = None, careful: bool = False) -> ExtractedDocument:
    """Extract ``data`` (the bytes of ``path``) into located segments (scanned PDF pages by OCR with ``ocr``).

    ``careful``: a PDF is read by pypdf alone, which refuses what would not fit
    in memory, where PDFium aborts the whole process (a second try after a
    reader died on the file).
    """
    kind = kind_of(path)
    if not data:
        raise ExtractionError("empty file")
    if kind == "pdf":
        if careful:
            from desktop_search.ingest.extract.pdf_pypdf import extract_pdf_pypdf

            doc = extract_pdf_pypdf(Path(path), data)
        else:
            from desktop_search.ingest.extract.pdf import extract_pdf

            doc = extract_pdf(Path(path), data, ocr, on_ocr_page)
    elif kind == "epub":
        from desktop_search.ingest.extract.epub import extract_epub

        doc = extract_epub(Path(path), data)
    else:
        raise ExtractionError(f"unsupported file type {Path(path).suffix!r}")
    doc.detect_language()
    return doc


__all__ = ["ExtractedDocument", "ExtractionError", "Segment", "extract_file", "kind_of", "SUPPORTED_SUFFIXES"]
