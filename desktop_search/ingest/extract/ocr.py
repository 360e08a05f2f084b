"""Text of scanned pages: PDFium renders the page, Tesseract reads the picture.

Tesseract runs as its own process, one per page (the ``tesseract`` program,
not a Python binding): a page that hangs it is killed at its own time limit,
a page that crashes it costs only that page, and the app needs no compiled
binding, only the program the user installs (or the one their system has).
All of this runs inside an extraction worker process (see :mod:`.pool`).
"""
from __future__ import annotations

import enum
import locale
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from desktop_search.ingest.extract.document import normalize_text

logger = logging.getLogger(__name__)

# 200 dpi: pages scanned at 300 dpi and rendered at 150/200/300 dpi for OCR read
# the same words (SciFact abstracts: word recall 0.999/1.000/1.000; small-print
# German LaTeX: 0.973/0.978/0.973), and 200 dpi took 25% less time per page than 300.
DEFAULT_DPI = 200
DEFAULT_PAGE_TIMEOUT_S = 60.0
# A page bigger than this many pixels is rendered smaller: a poster-sized page
# at 300 dpi would need gigabytes.
MAX_PIXELS = 40_000_000

# The system locale's language -> its Tesseract pack (a few common ones; English is always added).
LOCALE_PACKS = {
    "en": "eng", "de": "deu", "ja": "jpn", "ko": "kor", "fr": "fra", "es": "spa", "it": "ita", "pt": "por",
    "nl": "nld", "sv": "swe", "da": "dan", "nb": "nor", "fi": "fin", "pl": "pol", "cs": "ces", "ru": "rus",
    "uk": "ukr", "zh": "chi_sim", "tr": "tur", "el": "ell",
}

# Where installers put tesseract when it is not on PATH (an app started from
# the Finder or the Start menu sees a short PATH).
_USUAL_PLACES = {
    "win32": [r"C:\Program Files\Tesseract-OCR\tesseract.exe", r"C:\Program Files (x86)\Tesseract-OCR\tesseract.exe"],
    "darwin": ["/opt/homebrew/bin/tesseract", "/usr/local/bin/tesseract", "/opt/local/bin/tesseract"],
}

# Tesseract puts a space between every two Chinese/Japanese characters it reads.
_CJK = r"\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}]) +(?=[{_CJK}])")


class PageFailure(enum.Enum):
    """Why Tesseract gave no text for a page."""

    TIMEOUT = "timed out"
    CRASHED = "crashed"


class OcrPageError(Exception):
    def __init__(self, failure: PageFailure, detail: str = "") -> None:
        super().__init__(f"{failure.value}{': ' + detail if detail else ''}")
        self.failure = failure


@dataclass(frozen=True)
class OcrOptions:
    """What the user chose: crosses into the worker processes, so plain data."""

    enabled: bool = True
    languages: str | None = None  # "eng+jpn"; None: the locale's pack (if installed) plus English
    dpi: int = DEFAULT_DPI
    page_timeout_s: float = DEFAULT_PAGE_TIMEOUT_S
    tesseract: str | None = None  # the program; None: found on PATH or in the usual places
    found: bool | None = None  # False once looked for and missing (see resolve)


def install_hint() -> str:
    """The command (or the place) that installs Tesseract on this platform."""
    if sys.platform == "win32":
        return "winget install UB-Mannheim.TesseractOCR"
    if sys.platform == "darwin":
        return "brew install tesseract tesseract-lang"
    if Path("/etc/fedora-release").exists() or Path("/etc/redhat-release").exists():
        return "sudo dnf install tesseract tesseract-langpack-deu tesseract-langpack-jpn tesseract-langpack-kor"
    return "sudo apt install tesseract-ocr tesseract-ocr-deu tesseract-ocr-jpn tesseract-ocr-kor"


def find_tesseract(configured: str | None = None) -> str | None:
    """The tesseract program to run, or None when it is not installed."""
    if configured:
        return shutil.which(configured)
    found = shutil.which("tesseract")
    if found:
        return found
    for place in _USUAL_PLACES.get(sys.platform, []):
        if os.access(place, os.X_OK):
            return place
    return None


def _env() -> dict[str, str]:
    # One thread per page: the workers already use every core, and Tesseract's
    # OpenMP threads only fight them (it is slower, not faster, on a busy machine).
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def installed_languages(binary: str) -> set[str]:
    try:
        out = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=30, env=_env())
    except (OSError, subprocess.TimeoutExpired):
        logger.debug("tesseract --list-langs failed", exc_info=True)
        return set()
    lines = out.stdout.decode("utf-8", "replace").splitlines()
    return {ln.strip() for ln in lines[1:] if ln.strip() and ln.strip() != "osd"}


def default_languages(installed: set[str], locale_name: str | None = None) -> str:
    """The system locale's pack when installed, plus English."""
    if locale_name is None:
        locale_name = locale.getlocale()[0] or os.environ.get("LANG", "")
    pack = LOCALE_PACKS.get(locale_name.split("_")[0].split(".")[0].lower())
    packs = [p for p in (pack, "eng") if p and p in installed]
    return "+".join(dict.fromkeys(packs)) or "eng"


def missing_languages(languages: str, installed: set[str]) -> list[str]:
    return [p for p in languages.split("+") if p and p not in installed]


def normalize_ocr_text(text: str) -> str:
    """Like any extracted text (NFKC, joined lines), minus the spaces Tesseract puts between CJK characters.

    Korean keeps its spaces: they separate words there, and Tesseract reads them.
    """
    return _CJK_SPACE.sub("", normalize_text(text))


@dataclass
class Tesseract:
    """One configured Tesseract: the program, the language packs, the per-page limit."""

    binary: str
    languages: str
    page_timeout_s: float = DEFAULT_PAGE_TIMEOUT_S

    def read(self, image: bytes) -> str:
        """The text of a page image (binary PGM), normalised."""
        try:
            out = subprocess.run(
                [self.binary, "stdin", "stdout", "-l", self.languages, "--psm", "3"],
                input=image, capture_output=True, timeout=self.page_timeout_s, env=_env(),
            )
        except subprocess.TimeoutExpired as exc:  # subprocess.run kills it
            raise OcrPageError(PageFailure.TIMEOUT, f"over {self.page_timeout_s:.0f} s") from exc
        except OSError as exc:
            raise OcrPageError(PageFailure.CRASHED, str(exc)) from exc
        if out.returncode != 0:
            detail = out.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {out.returncode}"]
            raise OcrPageError(PageFailure.CRASHED, detail[0][:200])
        return normalize_ocr_text(out.stdout.decode("utf-8", "replace"))


def resolve(options: OcrOptions, file_timeout_s: float | None = None) -> OcrOptions:
    """The options with the program and the default languages filled in (once, in the parent process).

    A page's limit stays inside the file's: OCR must never be what times a file out.
    """
    if not options.enabled:
        return options
    binary = find_tesseract(options.tesseract)
    languages = options.languages
    if binary is not None and not languages:
        languages = default_languages(installed_languages(binary))
    page_timeout = options.page_timeout_s if file_timeout_s is None else min(options.page_timeout_s, 0.8 * file_timeout_s)
    return replace(options, tesseract=binary or options.tesseract, found=binary is not None, languages=languages,
                   page_timeout_s=page_timeout)


def language_problem(options: OcrOptions) -> str | None:
    """A message when the asked-for language packs are not installed (None when fine or OCR is off)."""
    if not options.enabled or not options.languages:
        return None
    binary = find_tesseract(options.tesseract)
    if binary is None:
        return None  # scanned files are listed with the install hint instead
    installed = installed_languages(binary)
    missing = missing_languages(options.languages, installed)
    if not missing:
        return None
    return (f"OCR language pack(s) not installed: {', '.join(missing)} "
            f"(installed: {', '.join(sorted(installed)) or 'none'}).")


def tesseract_for(options: OcrOptions) -> Tesseract | None:
    """The engine the options ask for, or None when OCR is off or Tesseract is missing."""
    if not options.enabled or options.found is False:
        return None
    binary = find_tesseract(options.tesseract)
    if binary is None:
        return None
    languages = options.languages or default_languages(installed_languages(binary))
    return Tesseract(binary, languages, options.page_timeout_s)


def render_page(page, dpi: int) -> bytes:  # page: pypdfium2.PdfPage
    """The page as a grey binary PGM at ``dpi`` (less for huge pages)."""
    width, height = page.get_size()  # points
    scale = dpi / 72
    pixels = width * height * scale * scale
    if pixels > MAX_PIXELS:
        scale *= (MAX_PIXELS / pixels) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        rows = bitmap.to_numpy()
        return b"P5 %d %d 255\n" % (rows.shape[1], rows.shape[0]) + rows.tobytes()
    finally:
        bitmap.close()
