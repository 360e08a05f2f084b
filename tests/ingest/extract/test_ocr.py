"""OCR of scanned PDF pages: Tesseract reads what PDFium renders, page by page."""
from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from desktop_search.errors import ExtractionError
from desktop_search.failures import FailureCode
from desktop_search.ingest.extract import extract_file
from desktop_search.ingest.extract.ocr import OcrOptions, default_languages, normalize_ocr_text
from desktop_search.ingest.extract.pdf import needs_tesseract
from desktop_search.ingest.extract.pdf_pages import NO_TEXT
from tests.conftest import SHARED
from tests.ingest.extract.scans import TextPage, render_grey, scan_pdf, tilt_and_speckle, write_pdf

JAPANESE = SHARED / "jsquad" / "library" / "Google_検索.pdf"
ENGLISH = ["The quick brown fox jumps over", "the lazy dog near the riverbank."]
GERMAN = ["Die Straßenbahn fährt langsam", "über die alte Brücke."]


@pytest.fixture(scope="module")
def tesseract() -> str:
    found = shutil.which("tesseract")
    if found is None:
        pytest.fail("tesseract is not installed (.ci/run installs tesseract-ocr with eng, deu, jpn, kor)")
    return found


def extract(path: Path, **options: Any):
    return extract_file(path, path.read_bytes(), OcrOptions(**options))


def scanned(tmp_path: Path, name: str, pages: list[TextPage], dpi: int = 200, **tilt: Any) -> Path:
    """``pages`` typeset, then turned into an image-only PDF as a scanner would."""
    source = write_pdf(tmp_path / f"{name}-source.pdf", pages)
    return scan_pdf(source, tmp_path / f"{name}.pdf", dpi=dpi, **tilt)


def test_a_scanned_pdf_in_three_languages_is_read_page_by_page(tmp_path: Path, tesseract: str) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    latin = render_grey(write_pdf(tmp_path / "latin.pdf", [TextPage(ENGLISH), TextPage(GERMAN)]), 200)
    japanese = render_grey(JAPANESE, 200, pages=[0])
    for page in latin + japanese:
        page.pixels = tilt_and_speckle(page.pixels, 0.7, 8.0, rng)
    scan = write_pdf(tmp_path / "scan.pdf", latin + japanese)
    with pytest.raises(ExtractionError, match="no text layer"):
        extract(scan, enabled=False)

    doc = extract(scan, languages="eng+deu+jpn")

    assert [(s.page, s.ocr) for s in doc.segments] == [(1, True), (2, True), (3, True)]
    assert doc.ocr_pages == 3 and doc.warning is None
    text = {s.page: s.text for s in doc.segments}
    assert "quick brown fox" in text[1] and "riverbank" in text[1]
    assert "Straßenbahn" in text[2] and "Brücke" in text[2]
    assert "検索エンジン" in text[3] and "ラリー・ペイジ" in text[3]
    assert "検 索" not in text[3]  # no spaces between Japanese characters


def test_only_the_scanned_page_of_a_mixed_pdf_is_read_by_ocr(tmp_path: Path, tesseract: str) -> None:
    picture = render_grey(write_pdf(tmp_path / "p2.pdf", [TextPage(["Photographed handout about otters."])]), 200)
    mixed = write_pdf(tmp_path / "mixed.pdf", [TextPage(["A typed page about beavers."]), *picture])
    doc = extract(mixed, languages="eng")
    assert [(s.page, s.ocr) for s in doc.segments] == [(1, False), (2, True)]
    assert doc.segments[0].text == "A typed page about beavers."
    assert "otters" in doc.segments[1].text
    assert doc.ocr_pages == 1
    assert doc.warning is None and doc.warning_code is None


def test_without_tesseract_a_mixed_pdf_is_partly_read_with_a_code_to_retry(tmp_path: Path) -> None:
    picture = render_grey(write_pdf(tmp_path / "p2.pdf", [TextPage(["Photographed handout about otters."])]), 200)
    mixed = write_pdf(tmp_path / "mixed.pdf", [TextPage(["A typed page about beavers."]), *picture])
    doc = extract(mixed, tesseract=str(tmp_path / "no-such-tesseract"))
    assert [(s.page, s.ocr) for s in doc.segments] == [(1, False)]
    assert doc.warning is not None and "1 scanned pages need Tesseract to be read" in doc.warning
    assert doc.warning_code is FailureCode.NEEDS_TESSERACT


def test_without_tesseract_the_file_is_refused_with_the_install_hint(tmp_path: Path, tesseract: str) -> None:
    scan = scanned(tmp_path, "scan", [TextPage(ENGLISH)])
    with pytest.raises(ExtractionError) as info:
        extract(scan, tesseract=str(tmp_path / "no-such-tesseract"))
    assert str(info.value) == needs_tesseract()
    assert str(info.value).startswith("no text layer: install Tesseract to read it (")
    assert "riverbank" in extract(scan, languages="eng").segments[0].text


def test_no_ocr_keeps_todays_reason(tmp_path: Path) -> None:
    scan = scanned(tmp_path, "scan", [TextPage(ENGLISH)])
    with pytest.raises(ExtractionError) as info:
        extract(scan, enabled=False)
    assert str(info.value) == NO_TEXT


def _fake_tesseract(tmp_path: Path, real: str) -> Path:
    """A tesseract that hangs on its 1st call, crashes on its 2nd and is the real one after that."""
    calls = tmp_path / "calls"
    script = tmp_path / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{calls}"\n'
        f'n=$(wc -l < "{calls}")\n'
        'if [ "$1" = "--list-langs" ]; then exec ' + real + ' "$@"; fi\n'
        'if [ "$n" -eq 1 ]; then exec sleep 600; fi\n'
        'if [ "$n" -eq 2 ]; then kill -SEGV $$; fi\n'
        f'exec {real} "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_a_page_that_hangs_or_crashes_tesseract_costs_only_that_page(tmp_path: Path, tesseract: str) -> None:
    scan = scanned(tmp_path, "three", [TextPage(["first page"]), TextPage(["second page"]),
                                       TextPage(["The third page survives."])])
    fake = _fake_tesseract(tmp_path, tesseract)
    doc = extract(scan, languages="eng", tesseract=str(fake), page_timeout_s=3)
    assert [s.page for s in doc.segments] == [3]
    assert "third page survives" in doc.segments[0].text
    assert doc.warning == ("partly read: 2 of 3 pages could not be read (pages 1, 2); "
                           "OCR timed out on 1 of them; OCR crashed on 1 of them")


def test_default_languages_follow_the_locale_plus_english() -> None:
    installed = {"eng", "deu", "jpn", "kor"}
    assert default_languages(installed, "ja_JP") == "jpn+eng"
    assert default_languages(installed, "de_DE.UTF-8") == "deu+eng"
    assert default_languages(installed, "en_US") == "eng"
    assert default_languages(installed, "fr_FR") == "eng"  # fra not installed
    assert default_languages({"kor"}, "ko_KR") == "kor"


def test_ocr_text_is_normalised_like_other_text() -> None:
    assert normalize_ocr_text("検 索 エ ン ジ ン で\nあ る 。") == "検索エンジンである。"
    assert normalize_ocr_text("ﾃｽﾄ ＡＢＣ") == "テスト ABC"  # NFKC
    assert normalize_ocr_text("한국어 문장 입니다") == "한국어 문장 입니다"  # Korean word spaces stay
    assert normalize_ocr_text("Google 検索") == "Google 検索"
