"""PDF text, page by page, with pypdf."""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

from desktop_search.errors import ExtractionError
from desktop_search.extract.model import ExtractedDocument, Segment, normalize_text

logger = logging.getLogger(__name__)

# pypdf logs a warning per odd font or broken object; on a real library that
# floods the console and says nothing the user can act on.
logging.getLogger("pypdf").setLevel(logging.ERROR)

NOT_A_PDF = "not a valid PDF (damaged or wrong extension)"
NEEDS_PASSWORD = "encrypted: needs a password"
NO_TEXT = "no text layer (scanned image?)"
DAMAGED = "damaged PDF: it could not be repaired (truncated or corrupt?)"
TOO_BIG = "too large to read safely: its pages exceed the PDF reader's limits"


def _meta_str(value: object) -> str | None:
    if value is None:
        return None
    text = normalize_text(str(value))
    return text or None


def extract_pdf(path: Path, data: bytes) -> ExtractedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError

    warnings.filterwarnings("ignore", module="pypdf")
    if not data.lstrip()[:1024].find(b"%PDF") >= 0:
        raise ExtractionError(NOT_A_PDF)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")  # many "encrypted" PDFs open with no password
            except DependencyError as exc:
                raise ExtractionError(f"encrypted with an unsupported cipher ({exc})") from exc
            if not ok:
                raise ExtractionError(NEEDS_PASSWORD)
        n_pages = len(reader.pages)
    except ExtractionError:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionError(NEEDS_PASSWORD) from exc
    except LimitReachedError as exc:
        raise ExtractionError(TOO_BIG) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, RecursionError) as exc:
        # It starts like a PDF, so "wrong extension" would mislead.
        raise ExtractionError(DAMAGED) from exc

    try:
        labels = list(reader.page_labels)
    except Exception:  # noqa: BLE001 - labels are a nicety; bad ones are common
        labels = []
    title = author = None
    try:
        info = reader.metadata
        if info is not None:
            title, author = _meta_str(info.title), _meta_str(info.author)
    except Exception:  # noqa: BLE001 - malformed metadata must not lose the text
        logger.debug("unreadable metadata in %s", path, exc_info=True)

    segments: list[Segment] = []
    bad_pages: list[int] = []
    too_big = 0  # pages refused by pypdf's decompression limits (PDF bombs)
    for i in range(n_pages):
        try:
            raw = reader.pages[i].extract_text() or ""
        except FileNotDecryptedError as exc:
            raise ExtractionError(NEEDS_PASSWORD) from exc
        except MemoryError:
            raise
        except LimitReachedError:
            bad_pages.append(i + 1)
            too_big += 1
            continue
        except Exception:  # noqa: BLE001 - one broken page must not lose the rest
            logger.debug("page %d of %s unreadable", i + 1, path, exc_info=True)
            bad_pages.append(i + 1)
            continue
        text = normalize_text(raw)
        if text:
            label = labels[i] if i < len(labels) else None
            segments.append(Segment(text=text, page=i + 1, page_label=label if label != str(i + 1) else None))

    if not segments:
        if too_big and len(bad_pages) == n_pages:
            raise ExtractionError(TOO_BIG)
        if bad_pages and len(bad_pages) == n_pages:
            raise ExtractionError(f"damaged PDF: none of its {n_pages} pages could be read")
        raise ExtractionError(NO_TEXT if n_pages else "damaged PDF: it has no pages")
    warning = None
    if bad_pages:
        shown = ", ".join(map(str, bad_pages[:10])) + ("…" if len(bad_pages) > 10 else "")
        warning = f"partly read: {len(bad_pages)} of {n_pages} pages could not be read (pages {shown})"
        if too_big:
            warning += f"; {too_big} of them too large to read safely"
    return ExtractedDocument(
        path=str(path), kind="pdf", title=title or path.stem, author=author,
        segments=segments, pages=n_pages, warning=warning,
    )
