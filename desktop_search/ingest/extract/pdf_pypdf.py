"""PDF text with pypdf: the fallback for what PDFium cannot read.

PDFium (see :mod:`.pdf`) reads almost every PDF faster and as well or
better. pypdf still opens a few files PDFium refuses (owner-password-only
R5/R6 files whose empty password PDFium rejects), and it notices a page whose
content cannot be decoded, where PDFium shows a blank page. So a file PDFium
refuses is read here whole, and a page PDFium finds no text on is asked again
here before it counts as having no text layer.
"""
from __future__ import annotations

import enum
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from desktop_search.errors import ExtractionError
from desktop_search.ingest.extract.document import ExtractedDocument, normalize_text
from desktop_search.ingest.extract.pdf_pages import DAMAGED, NEEDS_PASSWORD, NO_TEXT, TOO_BIG, PageText, partly_read_warning

logger = logging.getLogger(__name__)

# pypdf logs a warning per odd font or broken object; on a real library that
# floods the console and says nothing the user can act on.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PageFault(enum.Enum):
    """Why pypdf could not read a page."""

    BROKEN = "broken"
    TOO_BIG = "too big"  # refused by pypdf's decompression limits (PDF bombs)


@dataclass
class PypdfPage:
    text: str = ""
    fault: PageFault | None = None


def _meta_str(value: object) -> str | None:
    if value is None:
        return None
    text = normalize_text(str(value))
    return text or None


def _open(data: bytes):  # -> pypdf.PdfReader
    """A decrypted reader, or ExtractionError with the reason."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError

    warnings.filterwarnings("ignore", module="pypdf")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")  # many "encrypted" PDFs open with no password
            except DependencyError as exc:
                raise ExtractionError(f"encrypted with an unsupported cipher ({exc})") from exc
            if not ok:
                raise ExtractionError(NEEDS_PASSWORD)
        len(reader.pages)
    except ExtractionError:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionError(NEEDS_PASSWORD) from exc
    except LimitReachedError as exc:
        raise ExtractionError(TOO_BIG) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, RecursionError) as exc:
        # It starts like a PDF, so "wrong extension" would mislead.
        raise ExtractionError(DAMAGED) from exc
    return reader


def read_pages(data: bytes, pages: list[int]) -> dict[int, PypdfPage]:
    """pypdf's text of the given 0-based pages; {} when pypdf cannot open the file either."""
    try:
        reader = _open(data)
    except ExtractionError:
        return {}
    return {i: _page(reader, i) for i in pages if i < len(reader.pages)}


def _page(reader, i: int) -> PypdfPage:
    from pypdf.errors import FileNotDecryptedError, LimitReachedError

    try:
        return PypdfPage(text=normalize_text(reader.pages[i].extract_text() or ""))
    except FileNotDecryptedError as exc:
        raise ExtractionError(NEEDS_PASSWORD) from exc
    except MemoryError:
        raise
    except LimitReachedError:
        return PypdfPage(fault=PageFault.TOO_BIG)
    except Exception:  # one broken page must not lose the rest
        logger.debug("page %d unreadable by pypdf", i + 1, exc_info=True)
        return PypdfPage(fault=PageFault.BROKEN)


def _metadata(reader) -> tuple[str | None, str | None]:
    try:
        info = reader.metadata
        if info is not None:
            return _meta_str(info.title), _meta_str(info.author)
    except Exception:  # malformed metadata must not lose the text
        logger.debug("unreadable metadata", exc_info=True)
    return None, None


def read_metadata(data: bytes) -> tuple[str | None, str | None]:
    """(title, author) as pypdf decodes them.

    PDFium decodes a title stored as bare UTF-8 (Word's exporter does that,
    against the spec) as PDFDocEncoding mojibake; pypdf recognises it.
    """
    try:
        return _metadata(_open(data))
    except ExtractionError:
        return None, None


def extract_pdf_pypdf(path: Path, data: bytes) -> ExtractedDocument:
    """The whole file through pypdf (for files PDFium refuses to open)."""
    reader = _open(data)
    n_pages = len(reader.pages)
    try:
        labels = list(reader.page_labels)
    except Exception:  # noqa: BLE001 - labels are a nicety; bad ones are common
        labels = []
    title, author = _metadata(reader)

    pages = []
    for i in range(n_pages):
        got = _page(reader, i)
        pages.append(PageText(index=i, text=got.text, label=labels[i] if i < len(labels) else None,
                              fault=got.fault is not None, too_big=got.fault is PageFault.TOO_BIG))
    segments = [p.segment() for p in pages if p.text]
    bad = [p for p in pages if p.fault]
    if not segments:
        if bad and len(bad) == n_pages:
            if all(p.too_big for p in bad):
                raise ExtractionError(TOO_BIG)
            raise ExtractionError(f"damaged PDF: none of its {n_pages} pages could be read")
        raise ExtractionError(NO_TEXT if n_pages else "damaged PDF: it has no pages")
    return ExtractedDocument(
        path=str(path), kind="pdf", title=title or path.stem, author=author,
        segments=segments, pages=n_pages, warning=partly_read_warning(pages),
    )
