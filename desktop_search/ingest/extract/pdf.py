"""PDF text, page by page, with PDFium (through pypdfium2).

PDFium is the engine the preview renders with, so the index and the preview
see the same text; it is also many times faster than pypdf (see
benchmarks/bench_pdf_text.py). PDFium is not thread-safe: it only ever runs
inside one extraction worker process at a time (see :mod:`.pool`).
pypdf remains the fallback for files PDFium refuses to open and for pages on
which PDFium finds no text (see :mod:`.pdf_pypdf`).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from desktop_search.errors import ExtractionError
from desktop_search.failures import FailureCode
from desktop_search.ingest.extract.document import ExtractedDocument, normalize_text
from desktop_search.ingest.extract.ocr import (
    OcrOptions,
    OcrPageError,
    Tesseract,
    install_hint,
    render_page,
    tesseract_for,
)
from desktop_search.ingest.extract.pdf_pages import (
    NO_TEXT,
    NOT_A_PDF,
    OCR_FOUND_NOTHING,
    TOO_BIG,
    PageText,
    partly_read_warning,
)

logger = logging.getLogger(__name__)

# Each page OCR reads restarts the file's clock (see pool.py), so this bounds the
# time a file of thousands of tiny pictures can hold a worker.
MAX_OCR_PAGES = 2000


def needs_tesseract() -> str:
    """The reason for a scanned PDF read without Tesseract (it is read again once Tesseract is there)."""
    return f"no text layer: install Tesseract to read it ({install_hint()})"

# PDFium marks a hyphen it found at a line end with U+FFFE (older builds: U+0002).
_LINE_END_HYPHEN = re.compile(r"[\ufffe\x02]\n?(\w?)")
# Glyphs with no Unicode mapping (a proof's box, a math bracket part) come out as C0 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


def clean_pdfium_text(raw: str) -> str:
    """PDFium's page text as normalised text: CRLF lines, line-end hyphens, unmapped glyphs."""
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    raw = _LINE_END_HYPHEN.sub(lambda m: m.group(1) if m.group(1).islower() else "-" + m.group(1), raw)
    return normalize_text(_CONTROLS.sub(" ", raw))


def _meta(values: dict[str, str], key: str) -> str | None:
    return normalize_text(values.get(key) or "") or None


def extract_pdf(path: Path, data: bytes, ocr: OcrOptions | None = None,
                on_ocr_page: Callable[[], None] | None = None) -> ExtractedDocument:
    """The text of every page; with ``ocr``, pages without a text layer are read by Tesseract.

    ``on_ocr_page`` is called after each page OCR reads (the pool uses it to
    keep a long scanned book from counting as hung).
    """
    import pypdfium2 as pdfium

    if not data.lstrip()[:1024].find(b"%PDF") >= 0:
        raise ExtractionError(NOT_A_PDF)
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        # Refused (a password PDFium will not try empty, a structure it cannot repair): pypdf
        # reads some of these, and names the reason for the rest.
        logger.debug("PDFium refused %s (%s); reading it with pypdf", path, exc)
        from desktop_search.ingest.extract.pdf_pypdf import extract_pdf_pypdf

        return extract_pdf_pypdf(path, data)
    try:
        return _extract(doc, path, data, ocr, on_ocr_page)
    finally:
        doc.close()


def _extract(doc, path: Path, data: bytes, ocr: OcrOptions | None,  # doc: pypdfium2.PdfDocument
             on_ocr_page: Callable[[], None] | None) -> ExtractedDocument:
    n_pages = len(doc)
    pages = _text_layer(doc, path, data)
    unread_scans, ocr_seconds = 0, 0.0  # scanned pages left unread for want of Tesseract
    if ocr is not None and ocr.enabled:
        unread_scans, ocr_seconds = _read_scans(doc, pages, ocr, on_ocr_page)

    segments = [p.segment() for p in pages if p.text]
    if not segments:
        bad = [p for p in pages if p.fault]
        if unread_scans:
            raise ExtractionError(needs_tesseract(), FailureCode.NEEDS_TESSERACT)
        if bad and len(bad) == n_pages:
            if any(p.too_big for p in bad):
                raise ExtractionError(TOO_BIG)
            if (first := bad[0].ocr_failure) is not None and all(p.ocr_failure for p in bad):
                raise ExtractionError(f"OCR failed on all of its {n_pages} pages ({first.value})")
            raise ExtractionError(f"damaged PDF: none of its {n_pages} pages could be read")
        if any(p.ocr for p in pages):
            raise ExtractionError(OCR_FOUND_NOTHING)
        raise ExtractionError(NO_TEXT if n_pages else "damaged PDF: it has no pages")
    warning = partly_read_warning(pages)
    if unread_scans:
        note = f"{unread_scans} scanned pages need Tesseract to be read ({install_hint()})"
        warning = f"{warning}; {note}" if warning else f"partly read: {note}"
    meta = doc.get_metadata_dict()
    title, author = _meta(meta, "Title"), _meta(meta, "Author")
    if not f"{title or ''}{author or ''}".isascii():
        from desktop_search.ingest.extract.pdf_pypdf import read_metadata

        title, author = read_metadata(data)
    return ExtractedDocument(
        path=str(path), kind="pdf", title=title or path.stem, author=author,
        segments=segments, pages=n_pages, warning=warning,
        warning_code=FailureCode.NEEDS_TESSERACT if unread_scans else None,
        ocr_pages=sum(1 for p in pages if p.ocr), ocr_seconds=ocr_seconds,
    )


def _text_layer(doc, path: Path, data: bytes) -> list[PageText]:
    """Every page's text from PDFium; pages it finds blank are asked again of pypdf."""
    import pypdfium2 as pdfium

    pages: list[PageText] = []
    for i in range(len(doc)):
        page = PageText(index=i)
        try:
            page.label = doc.get_page_label(i) or None
            pdf_page = doc[i]
            try:
                textpage = pdf_page.get_textpage()
                page.text = clean_pdfium_text(textpage.get_text_range())
                textpage.close()
            finally:
                pdf_page.close()
        except pdfium.PdfiumError:
            logger.debug("page %d of %s unreadable by PDFium", i + 1, path, exc_info=True)
            page.fault = True
        pages.append(page)
    blank = [p.index for p in pages if not p.text]
    if blank:
        # PDFium shows an undecodable page as blank; pypdf tells it apart (and reads a few PDFium misses).
        from desktop_search.ingest.extract.pdf_pypdf import PageFault, read_pages

        for i, got in read_pages(data, blank).items():
            pages[i].text, pages[i].fault = got.text, got.fault is not None
            pages[i].too_big = got.fault is PageFault.TOO_BIG
    return pages


def _read_scans(doc, pages: list[PageText], ocr: OcrOptions,
                on_ocr_page: Callable[[], None] | None) -> tuple[int, float]:
    """OCR of the pages that draw something but have no text: (pages left unread for want of Tesseract, seconds)."""
    scanned = [p for p in pages if not p.text and not p.fault and _has_content(doc, p.index)]
    if not scanned:
        return 0, 0.0
    engine = tesseract_for(ocr)
    if engine is None:
        return len(scanned), 0.0
    t0 = time.perf_counter()
    for page in scanned[MAX_OCR_PAGES:]:
        page.fault = True  # counted in the "partly read" warning
    for page in scanned[:MAX_OCR_PAGES]:
        _ocr_page(doc, page, engine, ocr.dpi)
        if on_ocr_page is not None:
            on_ocr_page()
    return 0, time.perf_counter() - t0


def _has_content(doc, index: int) -> bool:
    """Whether the page draws anything (a scan); an empty page is not worth OCR."""
    page = doc[index]
    try:
        return next(iter(page.get_objects(max_depth=1)), None) is not None
    finally:
        page.close()


def _ocr_page(doc, page: PageText, engine: Tesseract, dpi: int) -> None:
    import pypdfium2 as pdfium

    pdf_page = doc[page.index]
    try:
        image = render_page(pdf_page, dpi)
    except pdfium.PdfiumError:
        logger.debug("page %d could not be rendered for OCR", page.index + 1, exc_info=True)
        page.fault = True
        return
    finally:
        pdf_page.close()
    try:
        page.text = engine.read(image)
        page.ocr = True
    except OcrPageError as exc:
        logger.debug("OCR of page %d failed: %s", page.index + 1, exc)
        page.fault, page.ocr_failure = True, exc.failure
