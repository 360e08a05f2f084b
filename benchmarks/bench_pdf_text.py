"""PDF text extraction speed: PDFium (the app's reader) against pypdf (the baseline), pages per second.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_pdf_text.py [--books 3] [--repeat 3]

Two sets, each read by both readers in the same run (best of --repeat):
- the PDF zoo's text PDFs (every zoo PDF pypdf reads text from);
- long "proceedings" made here and not kept: SciFact abstracts typeset by Qt's
  PDF writer, 100 pages each, with the TrueType font DejaVu Serif embedded
  (as a subset, as real papers carry theirs).
Both readers go through the app's own functions, so normalisation and
per-page handling are included. Target (issue 11): PDFium at least 10x pypdf.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import library_files, machine_note
from desktop_search.errors import ExtractionError
from desktop_search.ingest.extract.pdf import extract_pdf
from desktop_search.ingest.extract.pdf_pypdf import extract_pdf_pypdf
from tests.conftest import PDF_ZOO

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
PAGES_PER_BOOK = 100


def abstracts(n: int) -> list[str]:
    """Text of the first SciFact PDFs (read with PDFium: only the words matter here)."""
    out = []
    for p in library_files(None):
        if p.suffix == ".pdf":
            out.append("\n\n".join(s.text for s in extract_pdf(p, p.read_bytes()).segments))
            if len(out) == n:
                break
    return out


def make_book(path: Path, texts: list[str]) -> int:
    """Typeset ``texts`` until the book has PAGES_PER_BOOK pages; returns the page count."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QPageSize, QPdfWriter, QTextDocument

    _app = QGuiApplication.instance() or QGuiApplication([])  # fonts need an application
    family = QFontDatabase.applicationFontFamilies(QFontDatabase.addApplicationFont(str(FONT)))[0]
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setResolution(72)  # layout in points
    writer.setTitle(path.stem)
    doc = QTextDocument()
    doc.setDefaultFont(QFont(family, 10))
    doc.setPageSize(writer.pageLayout().paintRectPixels(72).size().toSizeF())
    chosen: list[str] = []
    while doc.pageCount() < PAGES_PER_BOOK:
        chosen.extend(texts[len(chosen) % len(texts):][:20] or texts[:20])
        doc.setPlainText("\n\n".join(chosen))
    while doc.pageCount() > PAGES_PER_BOOK:
        chosen.pop()
        doc.setPlainText("\n\n".join(chosen))
    doc.print_(writer)
    del writer
    return doc.pageCount()


def pages_per_second(read, files: list[Path], repeat: int) -> tuple[float, int]:
    best = float("inf")
    pages = 0
    for _ in range(repeat):
        pages = 0
        t0 = time.perf_counter()
        for f in files:
            data = f.read_bytes()
            try:
                pages += read(f, data).pages
            except ExtractionError:
                pass
        best = min(best, time.perf_counter() - t0)
    return pages / best, pages


def zoo_text_pdfs() -> list[Path]:
    out = []
    for f in sorted(PDF_ZOO.rglob("*.pdf")):
        try:
            extract_pdf_pypdf(f, f.read_bytes())
        except ExtractionError:
            continue
        out.append(f)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(machine_note())
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        texts = abstracts(PAGES_PER_BOOK * 3)
        books = []
        for b in range(args.books):
            path = Path(tmp) / f"proceedings-{b}.pdf"
            n = make_book(path, texts[b * 7:] + texts[: b * 7])
            books.append(path)
        print(f"made {len(books)} proceedings of {n} pages each (DejaVu Serif embedded; "
              f"{sum(p.stat().st_size for p in books) / len(books) / 1e6:.1f} MB each)")
        sets = {"zoo text PDFs": zoo_text_pdfs(), "100-page proceedings": books}
        for name, files in sets.items():
            base, pages = pages_per_second(extract_pdf_pypdf, files, args.repeat)
            fast, pages2 = pages_per_second(extract_pdf, files, args.repeat)
            print(f"{name}: {len(files)} files, {pages} pages | pypdf {base:7.1f} pages/s | PDFium {fast:7.1f} pages/s "
                  f"| ratio {fast / base:5.1f}x (target >= 10x)" + ("" if pages == pages2 else f" [page counts {pages2}]"))
    print(machine_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
