"""What extraction produces: text segments that know where they sit."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from desktop_search.failures import FailureCode
from desktop_search.language import Lang, detect

_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# Chinese and Japanese put no spaces between words, and their lines break
# between any two characters: a line end between two of these characters
# (Han, kana, CJK punctuation, full-width forms) is joined with no space.
# Korean separates words with spaces, so Hangul lines are joined with one.
_CJK_NOSPACE = "\u2e80-\u2fff\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_LINE_END = re.compile(f"(?<=[{_CJK_NOSPACE}])\n(?=[{_CJK_NOSPACE}])")


def normalize_text(text: str) -> str:
    """NFKC (so ligatures like "ﬀ" become "ff"), joined lines (no space inside CJK text), kept paragraphs."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\x00", "")
    text = _HYPHEN_BREAK.sub(r"\1", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = _CJK_LINE_END.sub("", text)
    text = _SINGLE_NEWLINE.sub(" ", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


@dataclass
class Segment:
    """A page of a PDF or a spine item of an EPUB, with its location."""

    text: str
    page: int | None = None  # 1-based PDF page number
    page_label: str | None = None  # the PDF's printed label, e.g. "iv"
    section: str | None = None  # EPUB chapter title
    href: str | None = None  # EPUB item href
    ocr: bool = False  # read from the page's picture by OCR, not from a text layer


@dataclass
class ExtractedDocument:
    path: str
    kind: str
    title: str
    author: str | None
    segments: list[Segment] = field(default_factory=list)
    pages: int = 0
    warning: str | None = None  # set when only part of the file could be read
    warning_code: FailureCode | None = None  # why part was left unread, when a later run may read it (failures.py)
    size: int = 0
    mtime_ns: int = 0
    hash: str = ""
    ocr_pages: int = 0  # pages read by OCR
    ocr_seconds: float = 0.0  # time spent rendering and reading them
    lang: Lang | None = None  # main writing system, set by extract_file

    def detect_language(self) -> None:
        """Record the main writing system from a sample of the text (cheap: letters by block)."""
        sample, size = [], 0
        for seg in self.segments:
            sample.append(seg.text)
            size += len(seg.text)
            if size > 20000:
                break
        self.lang = detect("\n".join(sample) or self.title)
