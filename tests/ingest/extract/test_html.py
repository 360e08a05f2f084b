"""XHTML to text: paragraph breaks kept, scripts and styles gone."""
from __future__ import annotations

from desktop_search.ingest.extract.html import html_to_text


def test_blocks_become_paragraphs_and_inline_text_joins() -> None:
    text, heading, title = html_to_text(
        b"<html><head><title>Doc</title><style>p{color:red}</style></head>"
        b"<body><h2>Intro</h2><p>One <em>two</em> three.</p><div>Four</div><script>alert(1)</script>"
        b"<ul><li>five</li><li>six</li></ul></body></html>"
    )
    assert text == "Intro\n\nOne two three.\n\nFour\n\nfive\n\nsix"
    assert heading == "Intro"
    assert title == "Doc"


def test_line_wraps_inside_a_paragraph_are_joined() -> None:
    text, _, _ = html_to_text("<p>a line\nwrapped here</p><p>next</p>")
    assert text == "a line wrapped here\n\nnext"


def test_broken_markup_still_gives_text() -> None:
    text, _, _ = html_to_text(b"<p>unclosed <b>bold <i>deep")
    assert "unclosed bold deep" in text


def test_deep_nesting_loses_no_text() -> None:
    # libxml2 stops building the tree at depth 256; the text below must survive.
    markup = "<p>before</p>" + "<div>" * 5000 + "deep text" + "</div>" * 5000 + "<p>after</p>"
    text, _, _ = html_to_text(markup)
    assert "before" in text and "deep text" in text and "after" in text


def test_japanese_source_line_wraps_and_ruby_readings_do_not_split_words() -> None:
    text, _, _ = html_to_text(
        '<html><head><meta charset="utf-8"/></head><body>'
        "<p>東京は<ruby>日本<rp>(</rp><rt>にほん</rt><rp>)</rp></ruby>の\n首都である。</p></body></html>".encode()
    )
    assert text == "東京は日本の首都である。"
