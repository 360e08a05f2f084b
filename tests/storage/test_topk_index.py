"""The top-k index of a big library: built from the store, used only while it holds exactly the store's
passages, caught up or rebuilt by an index run, and never the only place an answer can come from."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from desktop_search.paths import DataPaths
from desktop_search.search.fusion import FusionSettings
from desktop_search.search.keyword import KeywordLeg
from desktop_search.search.query import parse_query
from desktop_search.storage import Store
from desktop_search.storage.records import ChunkRecord, DocumentRecord
from desktop_search.storage.schema import DocStatus
from desktop_search.storage.topk_index import TopKIndex, TopKReader, TopKUpdate, update_topk_index

FILLER = "the study reports results from a cohort of patients over several years".split()


def _doc(folder_id: int, name: str, texts: list[str]) -> DocumentRecord:
    return DocumentRecord(
        path=f"/library/{name}", folder_id=folder_id, kind="pdf", size=1, mtime_ns=1, hash=f"{name}-{texts}",
        title=name, author=None, status=DocStatus.INDEXED,
        chunks=[ChunkRecord(ordinal=i, text=t, char_start=0, char_end=len(t), page=i + 1, embedding=np.ones(8))
                for i, t in enumerate(texts)])


@pytest.fixture
def library(store: Store, folder_id: int) -> dict[str, list[int]]:
    """Forty files of filler; a few words are rare ("magnesium" in one passage) and "cohort" is in all."""
    rng = np.random.default_rng(1)
    ids: dict[str, list[int]] = {}
    for i in range(40):
        texts = [" ".join(rng.choice(FILLER, 12)) + f" volume{i}" for _ in range(3)]
        if i == 7:
            texts[1] += " magnesium intake lowers blood pressure"
        if i == 8:
            texts[0] += " blood pressure rises with salt"
        [(cids, _)] = store.commit_documents([_doc(folder_id, f"f{i}.pdf", texts)])[0]
        ids[f"f{i}.pdf"] = [int(c) for c in cids]
    return ids


def _leg(store: Store, paths: DataPaths) -> KeywordLeg:
    return KeywordLeg(store, TopKReader(paths))


def _ranking(leg: KeywordLeg, query: str, k: int = 10) -> list[int]:
    return [cid for cid, _ in leg.search(parse_query(query), k, FusionSettings()).ranking]


def test_built_index_ranks_as_bm25_does(store: Store, data_dir: DataPaths, library: dict[str, list[int]]) -> None:
    assert update_topk_index(data_dir, store, wanted_from=0) == TopKUpdate.BUILT
    words = TopKReader(data_dir).current(store)
    assert words is not None and words.state.rows == store.chunk_count() == 120
    ranked = words.search(["magnesium", "blood", "pressure"], 10)
    assert ranked is not None
    # The passage with all three words first, then the one with the two, as FTS5 ranks them.
    fts = [cid for cid, _ in store.keyword_search('"magnesium" OR "blood" OR "pressure"', 10)]
    assert [cid for cid, _ in ranked] == fts == [library["f7.pdf"][1], library["f8.pdf"][0]]
    # Stems, case and accents as the full-text index folds them.
    assert [cid for cid, _ in words.search(["Magnésium"], 10) or []] == [library["f7.pdf"][1]]
    assert {cid for cid, _ in words.search(["rising"], 10) or []} == {library["f8.pdf"][0]}
    # A common word ranks every passage holding it: the top k of them.
    assert len(words.search(["cohort"], 50) or []) == 50
    # The keyword leg answers from it: the same ranking as asking it directly.
    assert _ranking(_leg(store, data_dir), "magnesium blood pressure") == fts


def test_a_word_it_would_cut_in_two_goes_to_fts5(store: Store, data_dir: DataPaths, library) -> None:
    update_topk_index(data_dir, store, wanted_from=0)
    words = TopKReader(data_dir).current(store)
    assert words is not None
    assert words.search(["blood_pressure"], 10) is None  # a phrase to FTS5; no positions here
    # FTS5 finds the words side by side, as a phrase.
    assert set(_ranking(_leg(store, data_dir), "blood_pressure")) == {library["f7.pdf"][1], library["f8.pdf"][0]}


def test_a_stale_index_is_not_used_until_a_run_catches_it_up(store: Store, data_dir: DataPaths, folder_id: int,
                                                             library: dict[str, list[int]]) -> None:
    update_topk_index(data_dir, store, wanted_from=0)
    leg = _leg(store, data_dir)
    [(new, _)] = store.commit_documents([_doc(folder_id, "new.pdf", ["potassium also lowers blood pressure"])])[0]
    # Committed after the top-k index: FTS5 answers, so the new passage is found at once.
    assert leg.topk is not None and leg.topk.current(store) is None
    assert _ranking(leg, "potassium") == [int(new[0])]
    assert update_topk_index(data_dir, store, wanted_from=0) == TopKUpdate.CAUGHT_UP
    words = leg.topk.current(store)
    assert words is not None and words.state.max_id == int(new[0])
    assert [cid for cid, _ in words.search(["potassium"], 10) or []] == [int(new[0])]


def test_deleted_passages_leave_it(store: Store, data_dir: DataPaths, folder_id: int,
                                   library: dict[str, list[int]]) -> None:
    update_topk_index(data_dir, store, wanted_from=0)
    store.commit_documents([_doc(folder_id, "f7.pdf", ["no minerals here"])])  # replaced: old passages deleted
    assert update_topk_index(data_dir, store, wanted_from=0) == TopKUpdate.CAUGHT_UP  # from the tombstones
    words = TopKReader(data_dir).current(store)
    assert words is not None and words.search(["magnesium"], 10) == []
    # Deletions the store no longer lists (a vector save cleared them): the count differs, so it is rebuilt.
    reader = TopKReader(data_dir)
    assert reader.current(store) is not None  # a searcher holding the index that is about to be replaced
    store.delete_documents([store.known_documents()["/library/f8.pdf"].id])
    store.clear_tombstones(store.max_chunk_id())
    assert update_topk_index(data_dir, store, wanted_from=0) == TopKUpdate.BUILT
    for words in (TopKReader(data_dir).current(store), reader.current(store)):  # the searcher moves to the new one
        assert words is not None and words.state.rows == store.chunk_count() == 115
        assert words.search(["salt"], 10) == []


def test_an_unchanged_store_keeps_the_index(store: Store, data_dir: DataPaths, library) -> None:
    update_topk_index(data_dir, store, wanted_from=0)
    before = sorted(p.name for p in data_dir.topk.iterdir())
    assert update_topk_index(data_dir, store, wanted_from=0) == TopKUpdate.CURRENT
    assert sorted(p.name for p in data_dir.topk.iterdir()) == before


def test_a_small_library_has_none(store: Store, data_dir: DataPaths, library) -> None:
    update_topk_index(data_dir, store, wanted_from=0)
    assert update_topk_index(data_dir, store, wanted_from=121) == TopKUpdate.NOT_WANTED
    assert not data_dir.topk.exists()
    assert TopKReader(data_dir).current(store) is None
    assert _ranking(_leg(store, data_dir), "magnesium") == [library["f7.pdf"][1]]


@pytest.mark.parametrize("damage", ["pointer", "format", "files", "killed build"])
def test_a_damaged_or_unfinished_index_is_rebuilt(store: Store, data_dir: DataPaths, library, damage: str) -> None:
    update_topk_index(data_dir, store, wanted_from=0)
    pointer = data_dir.topk / "current.json"
    current = data_dir.topk / json.loads(pointer.read_bytes())["dir"]
    if damage == "pointer":
        pointer.write_bytes(b"{not json")
    elif damage == "format":
        pointer.write_bytes(json.dumps({**json.loads(pointer.read_bytes()), "format": 0}).encode())
    elif damage == "files":
        for f in current.iterdir():
            f.write_bytes(b"\0" * 10)
    else:  # killed while writing a new directory: a directory without a pointer to it
        (data_dir.topk / "0123abcd").mkdir()
        (data_dir.topk / "0123abcd" / "half-written").write_bytes(b"x")
    if damage != "killed build":
        assert TopKReader(data_dir).current(store) is None  # never trusted: FTS5 answers meanwhile
        assert _ranking(_leg(store, data_dir), "magnesium") == [library["f7.pdf"][1]]
    expected = TopKUpdate.CURRENT if damage == "killed build" else TopKUpdate.BUILT
    assert update_topk_index(data_dir, store, wanted_from=0) == expected
    assert TopKReader(data_dir).current(store) is not None
    assert sorted(p.name for p in data_dir.topk.iterdir() if p.is_dir()) == [
        json.loads(pointer.read_bytes())["dir"]]  # what a killed or earlier build left is removed
    assert _ranking(_leg(store, data_dir), "magnesium") == [library["f7.pdf"][1]]


def test_indexed_rows_counts_without_counting(store: Store, library) -> None:
    assert store.indexed_rows() == store.chunk_count() == 120
    store.delete_documents([store.known_documents()["/library/f3.pdf"].id])
    assert store.indexed_rows() == store.chunk_count() == 117


def test_open_without_an_index(data_dir: DataPaths, tmp_path: Path) -> None:
    assert TopKIndex.open(data_dir) is None
