"""Searching an index built with the tiny model: locations, filters, modes, refresh."""
from __future__ import annotations

from pathlib import Path

import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.models import spec_from_folder
from desktop_search.errors import UserFacingError
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import resolve_data_dir
from desktop_search.search.searcher import Searcher
from tests.conftest import make_epub, make_pdf

PAGE_TWO = "Muscle pain is a side effect of statins."


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    root = tmp_path_factory.mktemp("search")
    lib = root / "library"
    (lib / "papers").mkdir(parents=True)
    (lib / "books").mkdir()
    make_pdf(lib / "papers" / "statins.pdf", ["Statins lower cholesterol.", PAGE_TWO], title="Statins Review")
    make_pdf(lib / "papers" / "sleep.pdf", ["Sleep deprivation impairs memory consolidation."])
    make_epub(lib / "books" / "fruit.epub", [("Apples", "Apples grow on trees in orchards."),
                                             ("Pears", "Statins are not found in pears.")])
    paths = resolve_data_dir(root / "data")
    # No title prefix, so a passage's own text embeds to exactly its stored vector.
    options = IndexOptions(model=str(tiny_model), device="cpu", workers=1,
                           chunking=ChunkSettings(max_tokens=64, overlap_tokens=8, title_prefix=False))
    embedder = Embedder(spec_from_folder(tiny_model), device="cpu")
    Indexer(paths, options, embedder=embedder).run([lib])
    return paths, lib, options, embedder


@pytest.fixture
def searcher(indexed, tiny_model: Path):
    paths, _lib, _options, embedder = indexed
    with Searcher(paths, model=str(tiny_model), embedder=embedder) as s:
        yield s


def test_dense_finds_the_passage_with_its_page(searcher: Searcher, indexed) -> None:
    _paths, lib, _o, _e = indexed
    top = searcher.search(PAGE_TWO, top_k=3, mode="dense")[0]
    assert (top.path, top.page, top.text, top.title) == (str(lib / "papers" / "statins.pdf"), 2, PAGE_TWO, "Statins Review")
    assert top.score == pytest.approx(1.0, abs=0.01)
    assert top.rank == 1 and top.location == "p. 2"


def test_every_dense_result_carries_a_page_or_section(searcher: Searcher) -> None:
    results = searcher.search("fruit trees", top_k=10, mode="dense", per_document=0)
    assert len(results) >= 4
    assert [r.rank for r in results] == list(range(1, len(results) + 1))
    assert all(r.page is not None or r.section for r in results)
    epub = [r for r in results if r.kind == "epub"]
    assert {r.section for r in epub} == {"Apples", "Pears"} and all(r.page is None for r in epub)
    assert all(Path(r.path).is_absolute() for r in results)


def test_results_are_documents_carrying_their_further_hits(searcher: Searcher) -> None:
    docs = searcher.search_documents("statins", top_k=10, mode="dense")
    assert [d.rank for d in docs] == [1, 2, 3] and len({d.best.document_id for d in docs}) == 3
    statins = next(d for d in docs if d.best.path.endswith("statins.pdf"))
    # Both pages of the PDF are hits: the best one first, then the other, each with its own page.
    assert sorted(p.page or 0 for p in statins.passages) == [1, 2]
    assert statins.passages[0].passage_score >= statins.passages[1].passage_score
    # Every row of a document carries the document's score and rank.
    assert all(p.score == statins.best.score and p.doc_rank == statins.rank for p in statins.passages)
    # Rows: one document's passages together, rank counting rows.
    rows = searcher.search("statins", top_k=10, mode="dense")
    assert [r.rank for r in rows] == list(range(1, len(rows) + 1)) and len(rows) == sum(len(d.passages) for d in docs)
    doc_ranks = [r.doc_rank for r in rows]
    assert doc_ranks == sorted(doc_ranks) and set(doc_ranks) == {1, 2, 3}


def test_per_document_caps_the_passages_and_top_k_counts_documents(searcher: Searcher) -> None:
    one = searcher.search("statins", top_k=10, mode="dense", per_document=1)
    assert len({r.document_id for r in one}) == len(one) == 3
    assert len(searcher.search_documents("statins", top_k=2, mode="dense", per_document=0)) == 2
    # The cap applies to the further passages; the document order does not change with it.
    assert [d.best.document_id for d in searcher.search_documents("statins", mode="dense", per_document=1)] == \
        [d.best.document_id for d in searcher.search_documents("statins", mode="dense", per_document=3)]


def test_further_passages_must_be_hits_in_their_own_right(searcher: Searcher) -> None:
    # A passage counts only if it ranks among the best top_k * per_document passages on its own.
    docs = searcher.search_documents("statins", top_k=1, mode="keyword", per_document=3)
    assert len(docs) == 1 and all("statin" in p.text.lower() for p in docs[0].passages)


def test_similar_finds_near_passages_without_the_passage_itself(searcher: Searcher, indexed) -> None:
    _paths, lib, _o, _e = indexed
    start = searcher.chunk_at(str(lib / "papers" / "statins.pdf"), page=2)
    assert start is not None
    assert searcher.chunk_at(str(lib / "papers" / "statins.pdf"), page=9) is None
    docs = searcher.similar(start, top_k=10, per_document=0)
    rows = [p for d in docs for p in d.passages]
    assert rows and start not in {r.chunk_id for r in rows}
    # The vector of a passage is its own query: the most similar passages have scores below 1 but rank in order.
    assert [d.best.score for d in docs] == sorted((d.best.score for d in docs), reverse=True)
    with pytest.raises(UserFacingError):
        searcher.similar(10**9)


def test_type_filter(searcher: Searcher) -> None:
    assert {r.kind for r in searcher.search("statins", mode="dense", kinds=["epub"])} == {"epub"}
    assert {r.kind for r in searcher.search("statins", mode="dense", kinds=["pdf"])} == {"pdf"}


def test_folder_filter(searcher: Searcher, indexed) -> None:
    _paths, lib, _o, _e = indexed
    results = searcher.search("statins", mode="dense", folders=[str(lib / "books")])
    assert results and all(r.path.startswith(str(lib / "books") + "/") for r in results)
    # A prefix of a folder name is not that folder.
    assert searcher.search("statins", mode="dense", folders=[str(lib / "boo")]) == []


def test_keyword_and_hybrid_modes(searcher: Searcher) -> None:
    kw = searcher.search("orchards", mode="keyword")
    assert [r.section for r in kw] == ["Apples"]
    hybrid = searcher.search("orchards", mode="hybrid")
    assert hybrid[0].section == "Apples"


def test_quoted_phrase_must_match(searcher: Searcher) -> None:
    results = searcher.search('"lower cholesterol"', mode="hybrid", per_document=0)
    assert results and all("lower cholesterol" in r.text.lower() for r in results)


def test_empty_query_and_unknown_mode(searcher: Searcher) -> None:
    assert searcher.search("   ", mode="dense") == []
    with pytest.raises(UserFacingError, match="Unknown search mode"):
        searcher.search("x", mode="fuzzy")


def test_to_json_contract(searcher: Searcher) -> None:
    r = searcher.search(PAGE_TWO, top_k=1, mode="dense")[0]
    data = r.to_json()
    assert {"rank", "score", "path", "title", "page", "section", "text", "doc_rank", "chunk_id"} <= set(data)
    assert "query_id" not in data
    r.query_id = "q1"
    assert r.to_json()["query_id"] == "q1"


def test_refresh_sees_documents_indexed_after_opening(indexed, tiny_model: Path) -> None:
    paths, lib, options, embedder = indexed
    s = Searcher(paths, model=str(tiny_model), embedder=embedder)
    try:
        s.search("anything", mode="dense")  # loads the vectors
        text = "Coffee improves alertness in the morning."
        make_pdf(lib / "papers" / "coffee.pdf", [text])
        Indexer(paths, options, embedder=embedder).run()
        top = s.search(text, top_k=1, mode="dense")[0]
        assert top.path == str(lib / "papers" / "coffee.pdf")
    finally:
        s.close()
        (lib / "papers" / "coffee.pdf").unlink()
        Indexer(paths, options, embedder=embedder).run()




def test_searcher_opened_before_first_index_finds_results_later(tiny_model, data_dir, tmp_path):
    """A searcher made while the index is still empty adopts its model once one is recorded."""
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.search.searcher import Searcher
    from desktop_search.storage import Store
    from tests.conftest import make_pdf

    Store(data_dir.database).close()  # an empty index, as the GUI sees it before a first run
    with Searcher(data_dir, model=str(tiny_model)) as searcher:
        assert searcher.search("statins") == []
        lib = tmp_path / "lib"
        lib.mkdir()
        make_pdf(lib / "a.pdf", ["Statins and muscle pain in older adults."])
        Indexer(data_dir, IndexOptions(model=str(tiny_model))).run([lib])
        results = searcher.search("statins muscle pain")
        assert [r.page for r in results] == [1]


def test_prepared_queries_embed_in_one_batch_and_rank_as_single_ones(searcher: Searcher, indexed,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`search --queries` embeds all queries at once; the results are those of one query at a time."""
    queries = ["muscle pain statins", "apples in orchards", "memory and sleep"]
    single = [[(r.chunk_id, round(r.score, 4)) for r in searcher.search(q, mode="dense")] for q in queries]
    _paths, _lib, _o, embedder = indexed
    calls: list[int] = []
    encode = embedder.encode_queries
    monkeypatch.setattr(embedder, "encode_queries", lambda texts: calls.append(len(texts)) or encode(texts))  # type: ignore[func-returns-value]  # note, then encode
    searcher.prepare(queries)
    batched = [[(r.chunk_id, round(r.score, 4)) for r in searcher.search(q, mode="dense")] for q in queries]
    assert calls == [3]  # one forward for the three, none per query
    assert batched == single
    searcher.search(queries[0], mode="dense")
    assert calls == [3, 1]  # a prepared vector is used once
