"""Fetching result rows a slice at a time must not change what a search returns."""
from __future__ import annotations

import logging

import pytest

from conftest import make_epub, make_pdf
from desktop_search import search as search_mod
from desktop_search.indexing import IndexOptions, Indexer
from desktop_search.search import Searcher

logger = logging.getLogger(__name__)

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


@pytest.fixture(scope="module")
def indexed(tiny_model, tmp_path_factory):
    from desktop_search.paths import resolve_data_dir

    tmp_path = tmp_path_factory.mktemp("fetch")
    data_dir = resolve_data_dir(tmp_path / "data")
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(8):
        # Many pages per document: the first candidates crowd into few documents.
        pages = [" ".join(WORDS[(i * 3 + j + k) % len(WORDS)] for k in range(30)) + "." for j in range(12)]
        make_pdf(lib / f"doc{i}.pdf", pages, title=f"Paper {i}")
    for i in range(3):
        make_epub(lib / f"book{i}.epub", [(f"Chapter {j}", " ".join(WORDS[(i + j) % 16 :] + WORDS)) for j in range(4)])
    Indexer(data_dir, IndexOptions(model=str(tiny_model), device="cpu")).run(add=[lib])
    searcher = Searcher(data_dir, device="cpu")
    yield searcher
    searcher.close()


@pytest.mark.parametrize("mode,kwargs", [
    ("dense", {"top_k": 5, "per_document": 1}),
    ("dense", {"top_k": 3, "per_document": 2}),
    ("hybrid", {"top_k": 4, "per_document": 1, "kinds": ["epub"]}),
    ("keyword", {"top_k": 50, "per_document": 0}),
])
def test_sliced_fetch_returns_what_a_full_fetch_returns(indexed, monkeypatch, mode, kwargs):
    query = "gamma delta epsilon"
    sliced = indexed.search(query, mode=mode, **kwargs)
    monkeypatch.setattr(search_mod, "FETCH_FIRST", 10_000)  # everything in one fetch, as before
    full = indexed.search(query, mode=mode, **kwargs)
    assert [r.to_json() for r in sliced] == [r.to_json() for r in full]
    assert sliced, "the query should match something"
    if kwargs.get("per_document") == 1:
        assert len({r.path for r in sliced}) == len(sliced)
    if kwargs.get("kinds"):
        assert {r.kind for r in sliced} == {"epub"}


def test_filters_that_drop_most_candidates_still_fill_the_page(indexed, monkeypatch):
    monkeypatch.setattr(search_mod, "FETCH_FIRST", 1)  # force several slices
    results = indexed.search("alpha beta", mode="dense", top_k=8, per_document=1)
    assert len(results) == 8
    assert len({r.document_id for r in results}) == 8
