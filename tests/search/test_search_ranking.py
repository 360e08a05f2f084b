"""Ranking with the tiny random model: keyword paths (German, Japanese), quoted phrases, stopwords, grouping."""
from __future__ import annotations

from pathlib import Path

import pytest

from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.search.fusion import FusionSettings
from desktop_search.search.searcher import Searcher
from tests.conftest import make_epub, make_pdf

GERMAN = (
    "Die Straßenbahn fährt über die Brücke in die Altstadt. "
    "Die Übersetzung des Donaudampfschifffahrtsgesellschaftskapitäns wurde geprüft."
)
JAPANESE = "東京大学の研究者は新しい量子コンピュータの設計を発表した。猫は日本で人気があります。"
ENGLISH = [
    ("Mitochondria", "Mitochondria produce most of the chemical energy needed by the cell. "
                     "The inner membrane holds the respiratory chain."),
    ("Glaciers", "Glaciers form where snow accumulates faster than it melts. "
                 "Moving ice carves valleys and deposits moraines."),
    ("Volcanoes", "Volcanoes erupt when magma reaches the surface. "
                  "Lava flows cool into basalt, and ash clouds can ground aircraft."),
]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    """A small indexed library: English PDFs, one long PDF, German and Japanese EPUBs."""
    root = tmp_path_factory.mktemp("lib")
    for title, text in ENGLISH:
        make_pdf(root / f"{title.lower()}.pdf", [text], title=title)
    # One document with many passages that all mention "energy": it must not
    # fill the result list on its own.
    pages = [f"Page {i} is about energy storage in batteries, energy grids and energy prices." for i in range(12)]
    make_pdf(root / "energy-handbook.pdf", pages, title="Energy handbook")
    make_epub(root / "deutsch.epub", [("Kapitel eins", GERMAN)], title="Deutsch")
    make_epub(root / "nihongo.epub", [("第一章", JAPANESE)], title="日本語")
    data = tmp_path_factory.mktemp("data")
    from desktop_search.paths import resolve_data_dir

    paths = resolve_data_dir(data)
    report = Indexer(paths, IndexOptions(model=str(tiny_model), workers=1)).run([root])
    assert not report.failed
    with Searcher(paths, model=str(tiny_model)) as searcher:
        yield searcher


def names(results) -> list[str]:
    return [Path(r.path).name for r in results]


@pytest.mark.parametrize("query, expected", [
    ("Straßenbahn", "deutsch.epub"),
    ("strassenbahn fahrt", "deutsch.epub"),  # no diacritics typed, ß spelled out is not folded: fährt is
    ("Übersetzung", "deutsch.epub"),
    ("ubersetzung", "deutsch.epub"),  # diacritics removed
    ("dampfschifffahrt", "deutsch.epub"),  # inside a compound: the vocabulary's words that hold it
    ("gesellschaftskapitäns", "deutsch.epub"),  # its end
    ("übersetz", "deutsch.epub"),  # a word begun
    ("量子コンピュータ", "nihongo.epub"),  # trigram index
    ("東京大学", "nihongo.epub"),
    ("猫", "nihongo.epub"),  # one character: too short for trigrams
    ("日本", "nihongo.epub"),
])
def test_keyword_finds_german_and_japanese(library: Searcher, query: str, expected: str) -> None:
    results = library.search(query, mode="keyword", top_k=3)
    assert results, query
    assert names(results)[0] == expected


def test_a_cjk_query_s_other_words_find_passages_without_cjk_text(library: Searcher) -> None:
    """The trigram index holds only passages with CJK text; the query's Latin words search the word index."""
    found = names(library.search("東京大学 magma", mode="keyword", top_k=5))
    assert set(found) == {"nihongo.epub", "volcanoes.pdf"}
    assert names(library.search("量子コンピュータ", mode="keyword", top_k=5)) == ["nihongo.epub"]


def test_keyword_ranks_matching_document_first(library: Searcher) -> None:
    assert names(library.search("magma lava basalt", mode="keyword"))[0] == "volcanoes.pdf"
    assert names(library.search("how do glaciers carve valleys", mode="keyword"))[0] == "glaciers.pdf"


def test_stopwords_option(library: Searcher, monkeypatch: pytest.MonkeyPatch) -> None:
    # By default function words are dropped: only the document with "moraines" matches.
    assert names(library.search("the moraines of", mode="keyword")) == ["glaciers.pdf"]
    # ...with them kept, every word counts ("the" and "of" are in every English text).
    monkeypatch.setattr(library, "fusion", FusionSettings(stopwords=False))
    assert len(library.search("the moraines of", mode="keyword")) > 1
    # A query of nothing but stopwords still searches with them.
    monkeypatch.setattr(library, "fusion", FusionSettings(stopwords=True))
    assert library.search("the", mode="keyword")


def test_quoted_phrase_must_match_exactly(library: Searcher) -> None:
    for mode in ("keyword", "hybrid", "dense"):
        results = library.search('"inner membrane"', mode=mode)
        assert names(results) == ["mitochondria.pdf"], mode
        # The same words, not as a phrase: no passage has "membrane inner".
        assert library.search('"membrane inner"', mode=mode) == [], mode


def test_exact_phrase_finds_its_document_first(library: Searcher) -> None:
    # The tiny model is random, so dense ranks nonsense; the exact phrase still wins.
    for mode in ("keyword", "hybrid"):
        results = library.search("ash clouds can ground aircraft", mode=mode)
        assert names(results)[0] == "volcanoes.pdf", mode


def test_one_document_does_not_crowd_out_others(library: Searcher) -> None:
    for mode in ("keyword", "hybrid", "dense"):
        docs = [d.best for d in library.search_documents("energy", mode=mode, top_k=5)]
        assert len(names(docs)) == len(set(names(docs))), mode
        assert "mitochondria.pdf" in names(docs), mode  # "chemical energy" is still found
    # The handbook's many passages stay on its one card (at most three), under its best one.
    grouped = library.search_documents("energy", mode="keyword", top_k=5)
    handbook = next(d for d in grouped if d.best.path.endswith("energy-handbook.pdf"))
    assert 1 < len(handbook.passages) <= 3
    uncapped = library.search_documents("energy", mode="keyword", top_k=5, per_document=0)
    assert len(next(d for d in uncapped if d.best.path.endswith("energy-handbook.pdf")).passages) == 12
