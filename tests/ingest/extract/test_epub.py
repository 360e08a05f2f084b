"""EPUB extraction: spine order, chapter titles, hrefs and clean text."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from desktop_search.errors import ExtractionError
from desktop_search.ingest.extract import extract_file
from tests.conftest import EPUB_ZOO, make_epub


def extract(path: Path):
    return extract_file(path, path.read_bytes())


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return make_epub(
        tmp_path / "book.epub",
        [
            ("The First Chapter", "Opening paragraph about apples.\n\nSecond paragraph about pears."),
            ("The Second Chapter", "Middle text about \ufb01sh and e\ufb00ort."),
            ("The Third Chapter", "Closing words about plums."),
        ],
        title="A Book of Fruit",
        author="Ann Orchard",
    )


def test_chapters_in_spine_order_with_toc_titles_and_hrefs(book: Path) -> None:
    doc = extract(book)
    assert doc.kind == "epub"
    body = [s for s in doc.segments if s.href and s.href.startswith("chap_")]
    assert [(s.section, s.href) for s in body] == [
        ("The First Chapter", "chap_1.xhtml"),
        ("The Second Chapter", "chap_2.xhtml"),
        ("The Third Chapter", "chap_3.xhtml"),
    ]
    assert "apples" in body[0].text and "plums" in body[2].text


def test_scripts_and_styles_are_dropped_and_paragraphs_kept(book: Path) -> None:
    doc = extract(book)
    text = "\n".join(s.text for s in doc.segments)
    assert "do not index me" not in text
    assert "color" not in text
    first = next(s for s in doc.segments if s.href == "chap_1.xhtml").text
    assert "Opening paragraph about apples.\n\nSecond paragraph about pears." in first


def test_ligatures_become_plain_letters(book: Path) -> None:
    doc = extract(book)
    second = next(s for s in doc.segments if s.href == "chap_2.xhtml").text
    assert "fish and effort" in second


def test_title_and_author_from_metadata(book: Path) -> None:
    doc = extract(book)
    assert (doc.title, doc.author) == ("A Book of Fruit", "Ann Orchard")


def test_title_falls_back_to_file_name(tmp_path: Path) -> None:
    made = make_epub(tmp_path / "made.epub", [("One", "Some text here.")])
    untitled = tmp_path / "Untitled Notes.epub"
    with zipfile.ZipFile(made) as src, zipfile.ZipFile(untitled, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".opf"):
                data = re.sub(rb"<dc:title[^>]*>.*?</dc:title>", b"", data)
            dst.writestr(info, data)
    assert extract(untitled).title == "Untitled Notes"


def test_alice_chapters_from_the_real_toc() -> None:
    doc = extract(EPUB_ZOO / "alice.epub")
    assert doc.title == "Alice's Adventures in Wonderland"
    assert doc.author == "Lewis Carroll"
    chapters = [s for s in doc.segments if s.href.startswith("chapter_")]
    assert len(chapters) == 10
    assert [s.href for s in chapters] == [f"chapter_{i:03d}.xhtml" for i in range(1, 11)]
    assert chapters[0].section == "Down The Rabbit-Hole"
    assert chapters[6].section == "A Mad Tea-Party"
    assert "Alice was beginning to get very tired" in chapters[0].text


def test_every_segment_has_a_section_even_without_toc_or_heading() -> None:
    for name in ("Discover_MyPlate_Grains.epub", "Tiny-MathML.epub", "alice_without_cover.epub"):
        doc = extract(EPUB_ZOO / name)
        assert doc.segments, name
        assert all(s.section for s in doc.segments), name


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.epub"
    bad.write_bytes(b"plain text pretending to be an epub" * 10)
    with pytest.raises(ExtractionError, match="not a valid EPUB"):
        extract(bad)


def test_zip_without_container_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "nocontainer.epub"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("hello.xhtml", "<html><body><p>hi</p></body></html>")
    with pytest.raises(ExtractionError, match="container.xml"):
        extract(bad)
