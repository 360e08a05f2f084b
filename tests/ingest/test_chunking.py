"""Token-aware chunking with the model's own tokenizer."""
from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

from desktop_search.embed.embedder import load_tokenizer
from desktop_search.embed.models import spec_from_folder
from desktop_search.ingest.chunking import Chunker, ChunkSettings, embedding_text, split_units, strip_overlap
from desktop_search.ingest.extract.document import Segment

SENTENCES = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(60)]
TEXT = " ".join(SENTENCES)


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    return load_tokenizer(spec_from_folder(tiny_model))


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def chunker(tokenizer, max_tokens: int = 64, overlap: int = 16, title_prefix: bool = True) -> Chunker:
    return Chunker(tokenizer, ChunkSettings(max_tokens=max_tokens, overlap_tokens=overlap, title_prefix=title_prefix))


def test_windows_fit_the_budget_and_cover_the_text(tokenizer) -> None:
    c = chunker(tokenizer)
    budget = c.budget(None)
    assert budget == 64 - 2
    chunks = c.chunk_segments([Segment(TEXT, page=1)], budget)
    assert len(chunks) > 5
    for ch in chunks:
        assert n_tokens(tokenizer, ch.text) <= budget
    # Nothing is lost: every sentence appears in some chunk.
    assert all(any(s in ch.text for ch in chunks) for s in SENTENCES)


def test_title_takes_room_from_the_budget(tokenizer) -> None:
    c = chunker(tokenizer)
    title = "A rather long document title"
    assert c.budget(title) == 62 - n_tokens(tokenizer, title)
    assert chunker(tokenizer, title_prefix=False).budget(title) == 62
    # A huge title may take at most half the window.
    assert c.budget("word " * 500) == 62 - 31


def test_consecutive_windows_overlap(tokenizer) -> None:
    chunks = chunker(tokenizer, overlap=16).chunk_segments([Segment(TEXT, page=1)], 62)
    for a, b in pairwise(chunks):
        assert b.char_start < a.char_end, "expected overlap"
        assert b.char_start > a.char_start
        assert n_tokens(tokenizer, TEXT[b.char_start : a.char_end]) <= 16 + 1


def test_no_overlap_when_disabled(tokenizer) -> None:
    chunks = chunker(tokenizer, overlap=0).chunk_segments([Segment(TEXT, page=1)], 62)
    for a, b in pairwise(chunks):
        assert b.char_start >= a.char_end


def test_windows_end_at_sentence_boundaries(tokenizer) -> None:
    chunks = chunker(tokenizer).chunk_segments([Segment(TEXT, page=1)], 62)
    assert all(ch.text.endswith(".") for ch in chunks)
    assert all(ch.text[0].isupper() for ch in chunks)


def test_paragraph_breaks_are_boundaries(tokenizer) -> None:
    text = "first paragraph without a full stop\n\nsecond paragraph also without one"
    assert [text[s:e] for s, e in split_units(text)] == [
        "first paragraph without a full stop",
        "second paragraph also without one",
    ]


def test_long_cjk_text_without_spaces_is_chunked(tokenizer) -> None:
    text = "機械学習は人工知能の一分野であり大量のデータから規則性を見つけ出す技術です" * 20
    assert " " not in text
    chunks = chunker(tokenizer).chunk_segments([Segment(text, section="第一章")], 62)
    assert len(chunks) > 3
    for ch in chunks:
        assert 0 < n_tokens(tokenizer, ch.text) <= 62
        assert ch.text == text[ch.char_start : ch.char_end]
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)


def test_cjk_full_stops_split_sentences(tokenizer) -> None:
    text = "これは最初の文です。これは二番目の文です。"
    assert [text[s:e] for s, e in split_units(text)] == ["これは最初の文です。", "これは二番目の文です。"]


def test_offsets_slice_back_and_locations_are_carried(tokenizer) -> None:
    segments = [
        Segment(TEXT, page=3, page_label="iii"),
        Segment("Short chapter text.", section="Chapter Two", href="c2.xhtml"),
    ]
    chunks = chunker(tokenizer).chunk_segments(segments, 62)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for ch in chunks:
        source = segments[0] if ch.page == 3 else segments[1]
        assert ch.text == source.text[ch.char_start : ch.char_end]
    assert all(c.page_label == "iii" and c.section is None for c in chunks[:-1])
    last = chunks[-1]
    assert (last.page, last.section, last.href, last.text) == (None, "Chapter Two", "c2.xhtml", "Short chapter text.")


def test_one_over_long_sentence_is_cut_at_token_boundaries(tokenizer) -> None:
    text = " ".join(f"word{i}" for i in range(400))  # no sentence ends at all
    chunks = chunker(tokenizer, overlap=0).chunk_segments([Segment(text, page=1)], 62)
    assert len(chunks) > 2
    assert all(n_tokens(tokenizer, c.text) <= 62 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_blank_segments_give_no_chunks(tokenizer) -> None:
    assert chunker(tokenizer).chunk_segments([Segment("   \n\n  ", page=1)], 62) == []


def test_an_over_long_japanese_sentence_is_cut_at_a_clause_or_word_end(tokenizer) -> None:
    """No 。 for hundreds of characters: cut after 、, else where hiragana meets kanji."""
    clause = "機械学習は人工知能の一分野であり大量のデータから規則性を見つけ出す技術で、"
    text = clause * 12 + "終わり。"
    chunks = chunker(tokenizer, overlap=0).chunk_segments([Segment(text, page=1)], 62)
    assert len(chunks) > 3
    assert all(c.text.endswith("、") for c in chunks[:-1])
    assert "".join(c.text for c in chunks) == text

    no_commas = clause.replace("、", "") * 12
    chunks = chunker(tokenizer, overlap=0).chunk_segments([Segment(no_commas, page=1)], 62)
    for c in chunks[:-1]:
        # e.g. "…技術で|機械…", "…一分野であり|大量…", never inside 機械 or 学習.
        nxt = no_commas[c.char_end]
        assert re.match("[\u3040-\u309f]", c.text[-1]) and re.match("[\u4e00-\u9fff\u30a0-\u30ff]", nxt), c.text[-3:] + "|" + nxt


def test_the_title_is_embedded_with_a_passage_unless_it_opens_with_it() -> None:
    title = "Statins and  Muscle Pain"
    assert embedding_text(title, "Myalgia is common.", title_prefix=True) == "Statins and  Muscle Pain\nMyalgia is common."
    # A first page that starts with the title (case and line breaks aside) does not get it twice.
    opening = "STATINS AND MUSCLE\nPAIN\n\nMyalgia is common."
    assert embedding_text(title, opening, title_prefix=True) == opening
    # The title somewhere later in the passage is not an opening.
    later = "Background. Statins and muscle pain are linked."
    assert embedding_text(title, later, title_prefix=True) == title + "\n" + later
    assert embedding_text(title, "Myalgia is common.", title_prefix=False) == "Myalgia is common."
    assert embedding_text(None, "Myalgia is common.", title_prefix=True) == "Myalgia is common."
    assert embedding_text("", "Myalgia is common.", title_prefix=True) == "Myalgia is common."


def test_strip_overlap():
    a = "The first chunk ends with a shared sentence that repeats."
    b = "a shared sentence that repeats. Then new text follows."
    assert strip_overlap(a, b) == " Then new text follows."
    assert strip_overlap("unrelated", b) == b
