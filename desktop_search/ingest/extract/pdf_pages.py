"""What the two PDF readers share: a page on its way to a segment, and the reasons a file is refused.

PDFium (:mod:`.pdf`) reads first and pypdf (:mod:`.pdf_pypdf`) reads what
it refuses; both report pages and reasons in these words, so a file is
described the same whichever reader gave up on it.
"""
from __future__ import annotations

from dataclasses import dataclass

from desktop_search.ingest.extract.document import Segment
from desktop_search.ingest.extract.ocr import PageFailure

NOT_A_PDF = "not a valid PDF (damaged or wrong extension)"
NEEDS_PASSWORD = "encrypted: needs a password"
NO_TEXT = "no text layer (scanned image?)"
DAMAGED = "damaged PDF: it could not be repaired (truncated or corrupt?)"
TOO_BIG = "too large to read safely: its pages exceed the PDF reader's limits"
OCR_FOUND_NOTHING = "no text layer, and OCR found no words on its pages"


@dataclass
class PageText:
    """One page on its way to a segment: its text, or the fact that it could not be read."""

    index: int  # 0-based
    text: str = ""
    label: str | None = None
    fault: bool = False  # the page could not be read
    too_big: bool = False  # ... because it exceeds the reader's limits
    ocr: bool = False  # the text was read by OCR
    ocr_failure: PageFailure | None = None  # ... or OCR failed on it

    def segment(self) -> Segment:
        number = self.index + 1
        label = self.label if self.label and self.label != str(number) else None
        return Segment(text=self.text, page=number, page_label=label, ocr=self.ocr)


def partly_read_warning(pages: list[PageText]) -> str | None:
    bad = [p.index + 1 for p in pages if p.fault]
    if not bad:
        return None
    shown = ", ".join(map(str, bad[:10])) + ("…" if len(bad) > 10 else "")
    warning = f"partly read: {len(bad)} of {len(pages)} pages could not be read (pages {shown})"
    too_big = sum(1 for p in pages if p.too_big)
    if too_big:
        warning += f"; {too_big} of them too large to read safely"
    for failure in PageFailure:
        n = sum(1 for p in pages if p.ocr_failure is failure)
        if n:
            warning += f"; OCR {failure.value} on {n} of them"
    return warning
