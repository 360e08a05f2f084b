"""The pure parts of the GUI: highlighting, snippets, locating a passage on a PDF page."""
from __future__ import annotations

from typing import Any

from desktop_search.gui.preview import context_html, find_passage
from desktop_search.gui.results import citation, highlight_html, snippet
from desktop_search.gui.workers import watch_dirs
from desktop_search.search.results import SearchResult
from desktop_search.search.terms import format_location, highlight_terms


def _result(**kw) -> SearchResult:
    base: dict[str, Any] = dict(rank=1, score=0.5, path="/books/bio notes.pdf", title="Bio", page=3, section=None,
                text="Cells divide by mitosis.", ordinal=4)
    base.update(kw)
    return SearchResult(**base)


def test_query_terms_drop_stop_words():
    assert highlight_terms("What is the role of Mitochondria?") == ["mitochondria", "role"]


def test_one_location_format():
    assert format_location(12) == "p. 12" and format_location(12, "xii") == "p. xii (12)"
    assert format_location(12, "12") == "p. 12" and format_location(None, None, "Soil") == "ch. Soil"
    assert _result(page=None, section="Soil").location == "ch. Soil"


def test_highlight_escapes_and_marks_word_starts():
    out = highlight_html("<b>Proteins</b> & protein folding", ["protein"])
    assert "&lt;b&gt;" in out and "&amp;" in out
    assert out.count("<span") == 2 and ">Proteins</span>" in out


def test_snippet_centres_on_the_first_match():
    text = " ".join(["filler"] * 200) + " the key finding is here " + " ".join(["tail"] * 200)
    s = snippet(text, ["key"], width=120)
    assert "key finding" in s and s.startswith("… ") and s.endswith(" …") and len(s) <= 130


def test_citation_names_file_and_page():
    c = citation(_result())
    assert c.startswith("“Cells divide by mitosis.”") and "bio notes.pdf" in c and "p. 3" in c
    assert "ch. Intro" in citation(_result(page=None, section="Intro"))


def test_context_marks_the_hit_and_page_changes():
    r = _result(ordinal=1)
    rows = [{"ordinal": 0, "text": "Before.", "page": 2, "section": None},
            {"ordinal": 1, "text": "Cells divide by mitosis.", "page": 3, "section": None},
            {"ordinal": 2, "text": "After.", "page": 3, "section": None}]
    html = context_html(r, rows, ["mitosis"])
    assert html.index("p. 2") < html.index("Before.") < html.index("p. 3") < html.index('name="hit"')
    assert ">mitosis</span>" in html


def test_find_passage_ignores_layout_whitespace():
    page = "Title\nThe quick brown\nfox jumps over   the lazy dog.\nNext para."
    span = find_passage(page, "quick brown fox jumps over the lazy dog.")
    assert span is not None
    start, end = span
    assert page[start:end].startswith("quick") and page[start:end].endswith("dog.")
    assert find_passage(page, "not on this page at all") is None


def test_watch_dirs_skips_hidden_and_caps(tmp_path):
    for d in ("a/b", "c", ".hidden/x"):
        (tmp_path / d).mkdir(parents=True)
    dirs = watch_dirs([str(tmp_path), str(tmp_path / "missing")])
    assert str(tmp_path / "a" / "b") in dirs and not any(".hidden" in d for d in dirs)
    assert len(watch_dirs([str(tmp_path)], limit=2)) == 2


def test_a_passage_read_by_ocr_says_so_on_its_card():
    from desktop_search.gui.results import card_html

    assert "read by OCR" in card_html(_result(ocr=True), ["mitosis"], "#777")
    assert "read by OCR" not in card_html(_result(), ["mitosis"], "#777")


def test_the_progress_panel_counts_pages_read_by_ocr(qtbot):
    from desktop_search.gui.progress_panel import ProgressPanel
    from desktop_search.index.progress import Phase, Progress

    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.show_progress(Progress(Phase.INDEXING, files_done=1, files_total=3, ocr_pages=7, ocr_pages_per_s=0.5))
    assert "7 pages by OCR (0.5/s)" in panel.label.text()
    panel.show_progress(Progress(Phase.INDEXING, files_done=1, files_total=3))
    assert "OCR" not in panel.label.text()


def test_latest_request_lets_the_worker_skip_superseded_searches():
    from desktop_search.gui.workers import LatestRequest

    latest = LatestRequest()
    first, second = latest.next(), latest.next()
    assert not latest.is_latest(first) and latest.is_latest(second)
