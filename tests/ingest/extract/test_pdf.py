"""PDF extraction: pages, labels, metadata and the reasons files are refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from desktop_search.errors import ExtractionError
from desktop_search.ingest.extract import extract_file
from desktop_search.ingest.extract.pdf import clean_pdfium_text
from desktop_search.ingest.extract.pdf_pages import NEEDS_PASSWORD, NO_TEXT, NOT_A_PDF
from desktop_search.ingest.extract.pdf_pypdf import extract_pdf_pypdf
from tests.conftest import PDF_ZOO, SHARED, make_pdf
from tests.reliability.hostile import write_partly_broken_pdf

RESOURCES = PDF_ZOO / "pypdf-resources"
SAMPLES = PDF_ZOO / "py-pdf-sample-files"


def extract(path: Path):
    return extract_file(path, path.read_bytes())


def refusal(path: Path) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(path)
    return str(info.value)


def test_pages_are_one_based_and_keep_their_text(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "three.pdf", ["alpha page", "", "gamma page"])
    doc = extract(pdf)
    assert doc.kind == "pdf"
    assert doc.pages == 3
    # The empty page yields no segment, but numbering still counts it.
    assert [(s.page, s.text) for s in doc.segments] == [(1, "alpha page"), (3, "gamma page")]


def test_page_labels_are_kept_where_they_differ_from_the_number(tmp_path: Path) -> None:
    from pypdf import PdfWriter
    from pypdf.constants import PageLabelStyle

    plain = make_pdf(tmp_path / "plain.pdf", ["preface text", "more preface", "chapter one text"])
    writer = PdfWriter(clone_from=str(plain))
    writer.set_page_label(0, 1, style=PageLabelStyle.LOWERCASE_ROMAN)  # i, ii
    writer.set_page_label(2, 2, style=PageLabelStyle.DECIMAL, start=1)  # 1
    labelled = tmp_path / "labelled.pdf"
    with open(labelled, "wb") as fh:
        writer.write(fh)
    doc = extract(labelled)
    assert [(s.page, s.page_label) for s in doc.segments] == [(1, "i"), (2, "ii"), (3, "1")]


def test_title_and_author_come_from_metadata(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    pdf = make_pdf(tmp_path / "meta.pdf", ["some text"], title="The Real Title")
    writer = PdfWriter(clone_from=str(pdf))
    writer.add_metadata({"/Author": "Jane Doe"})
    with open(pdf, "wb") as fh:
        writer.write(fh)
    doc = extract(pdf)
    assert (doc.title, doc.author) == ("The Real Title", "Jane Doe")


def test_title_falls_back_to_the_file_name(tmp_path: Path) -> None:
    doc = extract(make_pdf(tmp_path / "My Paper (2021).pdf", ["body"]))
    assert doc.title == "My Paper (2021)"
    assert doc.author is None


@pytest.mark.parametrize("name", ["encryption_r2-empty-password.pdf", "encryption_r4-owner-password.pdf",
                                  "encryption_r6-empty-password.pdf"])
def test_encrypted_with_empty_user_password_opens(name: str) -> None:
    doc = extract(RESOURCES / name)
    assert doc.segments and doc.segments[0].text


@pytest.mark.parametrize("name", ["encryption_r2-user-password.pdf", "encryption_r4-aes-user-password.pdf",
                                  "libreoffice-writer-password.pdf"])
def test_encrypted_needing_a_password_says_so(name: str) -> None:
    assert refusal(RESOURCES / name) == NEEDS_PASSWORD == "encrypted: needs a password"


def test_image_only_pdf_has_no_text_layer() -> None:
    assert refusal(SAMPLES / "019-grayscale-image__grayscale-image.pdf") == NO_TEXT == "no text layer (scanned image?)"


def test_garbage_is_not_a_valid_pdf(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"this is a text file with the wrong extension\n" * 20)
    assert refusal(junk).startswith("not a valid PDF")
    assert refusal(junk) == NOT_A_PDF


def test_truncated_pdf_is_refused_or_partly_read(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", [f"page {i} text" for i in range(5)])
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    try:
        doc = extract(cut)
    except ExtractionError as exc:
        assert str(exc)  # a reason, not a traceback
    else:
        assert doc.segments


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    assert refusal(empty) == "empty file"


def test_every_zoo_pdf_is_read_or_refused_with_a_reason() -> None:
    for pdf in sorted(RESOURCES.glob("*.pdf"))[:25]:
        try:
            doc = extract(pdf)
        except ExtractionError as exc:
            assert str(exc).strip(), pdf
        else:
            assert all(s.text.strip() and s.page >= 1 for s in doc.segments), pdf


GEOTOPO = SAMPLES / "009-pdflatex-geotopo__GeoTopo-komprimiert.pdf"


def test_pdfium_reads_a_long_book_with_its_printed_page_labels() -> None:
    doc = extract(GEOTOPO)
    assert doc.pages == 117 and len(doc.segments) == 117
    # Roman front matter, then the body numbered from 1 on the 4th page.
    assert [(s.page, s.page_label) for s in doc.segments[:5]] == [(1, "i"), (2, "ii"), (3, "iii"), (4, "1"), (5, "2")]
    assert doc.segments[-1].page == 117
    # PDFium keeps the minus signs that pypdf turned into NUL characters.
    assert "−" in doc.segments[10].text and "x2" in doc.segments[10].text
    assert doc.title == "Geometrie und Topologie"


def test_pdfium_text_is_cleaned_of_its_markers() -> None:
    assert clean_pdfium_text("Übungsauf\ufffegaben und\r\nSchwarz\ufffeWeiß") == "Übungsaufgaben und Schwarz-Weiß"
    assert clean_pdfium_text("bewiesen. \x04\r\nBeispiel 1") == "bewiesen. Beispiel 1"
    assert clean_pdfium_text("first\r\n\r\nsecond") == "first\n\nsecond"


def test_a_file_pdfium_refuses_is_read_by_pypdf() -> None:
    # Owner password empty, user password set: PDFium will not open it without one, pypdf does.
    doc = extract(RESOURCES / "encryption_r6-user-password.pdf")
    assert [(s.page, s.text) for s in doc.segments] == [(1, "pdf encryption test password: asdfzxcv")]


def test_a_page_pdfium_shows_blank_but_cannot_be_decoded_is_named(tmp_path: Path) -> None:
    doc = extract(write_partly_broken_pdf(tmp_path / "broken.pdf"))
    assert [s.page for s in doc.segments] == [1, 3]
    assert doc.warning == "partly read: 1 of 3 pages could not be read (pages 2)"


def test_a_title_stored_as_bare_utf8_is_decoded() -> None:
    assert extract(RESOURCES / "bytes.pdf").title == "Microsoft Word - トランスバース社買収電話会議英語Final.docx"


def _outcome(read, path: Path) -> tuple[int, str | None]:
    """(pages with text, failure reason)."""
    try:
        doc = read(path, path.read_bytes())
    except ExtractionError as exc:
        return 0, str(exc)
    return len(doc.segments), None


def test_every_zoo_pdf_ends_as_well_through_pdfium_as_through_pypdf() -> None:
    from desktop_search.ingest.extract.pdf import extract_pdf

    pdfs = sorted(PDF_ZOO.rglob("*.pdf"))
    assert len(pdfs) > 90
    for pdf in pdfs:
        pages, error = _outcome(extract_pdf, pdf)
        old_pages, old_error = _outcome(extract_pdf_pypdf, pdf)
        assert pages >= old_pages, (pdf, pages, old_pages, error)
        if old_error is not None and error is not None:
            assert error == old_error, pdf


def test_japanese_pdf_lines_are_joined_without_spaces_inside_words() -> None:
    """JSQuAD's PDFs break lines between any two characters; joining must not add spaces."""
    import re

    cjk_gap = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff、] [\u3040-\u30ff\u4e00-\u9fff]")
    pages = gapped = 0
    for path in sorted((SHARED / "jsquad" / "library").glob("*.pdf")):
        for seg in extract_file(path, path.read_bytes()).segments:
            pages += 1
            gapped += bool(cjk_gap.search(seg.text))
    assert pages == 457
    # The few left are spaces in the source paragraphs themselves (before: 421 of 457 pages).
    assert gapped <= pages // 40
