"""The hnswlib cache: rebuilt and caught up from SQLite, never re-embedded."""
from __future__ import annotations

import json
import threading

import numpy as np

from desktop_search.storage import Store, VectorIndex, vectors
from tests.storage.conftest import DIM, record, unit


def commit(store: Store, folder_id: int, rng, names: list[str], n: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    added, _ = store.commit_documents([record(f"/library/{name}", folder_id, n, rng) for name in names])
    return dict(zip(names, added, strict=True))


def top_id(index: VectorIndex, vec: np.ndarray) -> int:
    ids, scores = index.search(vec, 1)
    return int(ids[0])


def test_open_builds_from_stored_embeddings_and_finds_each_vector(data_dir, store, folder_id, rng) -> None:
    docs = commit(store, folder_id, rng, ["a.pdf", "b.pdf"])
    index = VectorIndex.open(data_dir, store, DIM)
    assert index.live_count == store.chunk_count() == 6
    for ids, vecs in docs.values():
        for i, v in zip(ids, vecs, strict=True):
            got, scores = index.search(v, 1)
            assert int(got[0]) == int(i) and scores[0] > 0.99
    assert data_dir.vectors.exists() and data_dir.vectors_meta.exists()


def test_deleted_hnsw_file_is_rebuilt_from_sqlite(data_dir, store, folder_id, rng) -> None:
    docs = commit(store, folder_id, rng, ["a.pdf", "b.pdf"])
    VectorIndex.open(data_dir, store, DIM)
    data_dir.vectors.unlink()
    index = VectorIndex.open(data_dir, store, DIM)
    assert index.live_count == 6
    ids, vecs = docs["b.pdf"]
    assert top_id(index, vecs[2]) == int(ids[2])


def test_garbage_hnsw_file_is_rebuilt(data_dir, store, folder_id, rng) -> None:
    commit(store, folder_id, rng, ["a.pdf"])
    VectorIndex.open(data_dir, store, DIM)
    data_dir.vectors.write_bytes(b"\0garbage" * 50)
    assert VectorIndex.open(data_dir, store, DIM).live_count == 3


def test_sidecar_that_disagrees_with_the_file_forces_a_rebuild(data_dir, store, folder_id, rng) -> None:
    commit(store, folder_id, rng, ["a.pdf"])
    VectorIndex.open(data_dir, store, DIM)
    info = json.loads(data_dir.vectors_meta.read_text())
    info["count"] += 5  # as if the process died between writing the file and its sidecar
    data_dir.vectors_meta.write_text(json.dumps(info))
    assert VectorIndex.open(data_dir, store, DIM).live_count == 3


def test_a_sidecar_from_before_its_format_key_is_read_and_a_newer_format_rebuilt(data_dir, store, folder_id, rng,
                                                                                  caplog) -> None:
    from desktop_search.storage.vectors import FILE_FORMAT

    commit(store, folder_id, rng, ["a.pdf"])
    VectorIndex.open(data_dir, store, DIM)
    info = json.loads(data_dir.vectors_meta.read_text())
    assert info["format"] == FILE_FORMAT
    del info["format"]  # every version before it wrote the same layout without saying so
    data_dir.vectors_meta.write_text(json.dumps(info))
    assert VectorIndex._load(data_dir, DIM) is not None
    data_dir.vectors_meta.write_text(json.dumps({**info, "format": FILE_FORMAT + 1, "ef": 99}))
    assert VectorIndex._load(data_dir, DIM) is None  # a newer version's pair is not read as this one understands it
    with caplog.at_level("INFO"):
        assert VectorIndex.open(data_dir, store, DIM).live_count == 3
    assert "newer than this version" in caplog.text
    assert json.loads(data_dir.vectors_meta.read_text())["format"] == FILE_FORMAT


def test_stale_file_catches_up_with_new_and_deleted_chunks(data_dir, store, folder_id, rng) -> None:
    docs = commit(store, folder_id, rng, ["a.pdf", "b.pdf"])
    VectorIndex.open(data_dir, store, DIM)  # saved with a and b
    # After the save, as if a crash followed: a is deleted, c is added.
    a_id = store.known_documents()["/library/a.pdf"].id
    store.delete_documents([a_id])
    new = commit(store, folder_id, rng, ["c.pdf"])
    index = VectorIndex.open(data_dir, store, DIM)
    assert index.live_count == store.chunk_count() == 6
    c_ids, c_vecs = new["c.pdf"]
    assert top_id(index, c_vecs[0]) == int(c_ids[0])
    a_ids, a_vecs = docs["a.pdf"]
    got, _ = index.search(a_vecs[0], 6)
    assert not set(got.tolist()) & set(a_ids.tolist())
    assert store.tombstones() == []  # applied and saved, so cleared


def test_read_only_open_catches_up_without_writing(data_dir, store, folder_id, rng) -> None:
    commit(store, folder_id, rng, ["a.pdf"])
    VectorIndex.open(data_dir, store, DIM)
    before = data_dir.vectors.stat().st_mtime_ns
    commit(store, folder_id, rng, ["b.pdf"])
    index = VectorIndex.open(data_dir, store, DIM, writable=False)
    assert index.live_count == 6
    assert data_dir.vectors.stat().st_mtime_ns == before


def test_mark_deleted_hides_ids_and_counts_once(rng) -> None:
    index = VectorIndex(DIM, capacity=16)
    vecs = unit(rng, 5)
    index.add(np.arange(1, 6), vecs)
    index.mark_deleted([2, 2, 99])  # repeated and unknown ids are ignored
    assert index.live_count == 4
    got, _ = index.search(vecs[1], 4)
    assert 2 not in got.tolist()
    assert index.max_id == 5


def test_add_grows_past_capacity(rng) -> None:
    index = VectorIndex(DIM, capacity=16)
    vecs = unit(rng, 100)
    index.add(np.arange(1, 101), vecs)
    assert index.live_count == 100
    assert top_id(index, vecs[77]) == 78


def test_a_bigger_graph_is_searched_with_a_wider_beam(rng, monkeypatch) -> None:
    """Recall at a fixed ef falls as a graph grows: past VECTORS_PER_EF x the searcher's ef, ef grows with it."""
    assert vectors.search_ef(500, 10_000) == 1000 and vectors.search_ef(500, 1_000_000) == 5000
    monkeypatch.setattr(vectors, "VECTORS_PER_EF", 2)  # 400 vectors: ef 200, over the 2 x 10 a query asks
    monkeypatch.setattr(vectors, "EF_SEARCH", 8)
    index = VectorIndex(DIM, capacity=16)
    vecs = unit(rng, 400)
    index.add(np.arange(1, 201), vecs[:200])
    index.search(vecs[0], 10)
    assert index._index.ef == 100
    index.add(np.arange(201, 401), vecs[200:])
    index.search(vecs[0], 10)
    assert index._index.ef == 200


def test_search_on_an_empty_index_returns_nothing() -> None:
    ids, scores = VectorIndex(DIM).search(np.ones(DIM, dtype=np.float32) / DIM**0.5, 10)
    assert len(ids) == 0 and len(scores) == 0


def test_a_file_built_with_other_graph_parameters_loads_as_it_is(data_dir, store, folder_id, rng, monkeypatch) -> None:
    """The vectors are a cache, but a million of them take an hour to insert again: a file built with an
    older ef_construction (or M) is used and grown with its own, which hnswlib keeps in the file."""
    from desktop_search.storage import vectors

    docs = commit(store, folder_id, rng, ["a.pdf"])
    monkeypatch.setattr(vectors, "EF_CONSTRUCTION", 200)
    VectorIndex.open(data_dir, store, DIM)
    monkeypatch.undo()
    before = data_dir.vectors.stat().st_mtime_ns
    index = VectorIndex.open(data_dir, store, DIM, writable=False)
    assert data_dir.vectors.stat().st_mtime_ns == before  # not rebuilt
    assert index._index.ef_construction == 200 != vectors.EF_CONSTRUCTION
    ids, vecs = docs["a.pdf"]
    assert top_id(index, vecs[1]) == int(ids[1])
    info = json.loads(data_dir.vectors_meta.read_text())
    assert (info["M"], info["ef_construction"]) == (vectors.M, 200)


def test_a_big_file_changed_by_a_few_vectors_is_not_rewritten(data_dir, store, folder_id, rng, monkeypatch) -> None:
    """Saving rewrites the whole file (1.8 GB at a million passages): a run that changed a few vectors of a
    big file leaves it, and the next open catches them up from SQLite, deletions included."""
    from desktop_search.storage import vectors

    monkeypatch.setattr(vectors, "DEFER_SAVE_MAX", 10)
    monkeypatch.setattr(vectors, "DEFER_SAVE_SHARE", 0.25)  # a file of 30 vectors may lag by 7 changes
    commit(store, folder_id, rng, [f"{i}.pdf" for i in range(10)])
    VectorIndex.open(data_dir, store, DIM).save(data_dir)
    before = data_dir.vectors.stat().st_mtime_ns
    index = VectorIndex.open(data_dir, store, DIM)  # nothing changed: not saved again
    assert data_dir.vectors.stat().st_mtime_ns == before
    gone = store.delete_documents([store.known_documents()["/library/0.pdf"].id])
    index.mark_deleted(gone)
    new = commit(store, folder_id, rng, ["new.pdf"])
    index.add(*new["new.pdf"])
    assert not index.save_if_due(data_dir, store)  # 6 changes
    assert data_dir.vectors.stat().st_mtime_ns == before and store.tombstones() == sorted(gone)
    del index  # the next open loads the file
    reopened = VectorIndex.open(data_dir, store, DIM, writable=False)
    assert reopened.live_count == store.chunk_count() == 30
    ids, vecs = new["new.pdf"]
    assert top_id(reopened, vecs[0]) == int(ids[0])
    got, _ = reopened.search(vecs[0], 30)
    assert not set(got.tolist()) & set(gone)
    reopened.add(*commit(store, folder_id, rng, ["more.pdf"])["more.pdf"])
    assert reopened.save_if_due(data_dir, store)  # 9 changes: due
    assert data_dir.vectors.stat().st_mtime_ns != before and store.tombstones() == []



def test_one_index_per_data_dir_in_a_process(data_dir, store, folder_id, rng) -> None:
    """The window's searcher and its index runs share the loaded index: one copy in memory, and what
    either of them catches up or marks deleted, both see."""
    docs = commit(store, folder_id, rng, ["a.pdf"])
    searching = VectorIndex.open(data_dir, store, DIM, writable=False)
    indexing = VectorIndex.open(data_dir, store, DIM)
    assert indexing is searching
    new = commit(store, folder_id, rng, ["b.pdf"])
    assert searching.catch_up(store, apply_tombstones=False) == 3
    assert indexing.catch_up(store) == 0  # in already
    ids, vecs = new["b.pdf"]
    assert top_id(indexing, vecs[2]) == int(ids[2])
    gone = store.delete_documents([store.known_documents()["/library/a.pdf"].id])
    indexing.mark_deleted(gone)
    got, _ = searching.search(docs["a.pdf"][1][0], 6)
    assert searching.live_count == 3 and not set(got.tolist()) & set(gone)
    del searching, indexing
    assert VectorIndex.open(data_dir, store, DIM).live_count == 3  # loaded again once nobody held it


def test_a_passage_deleted_while_a_catch_up_adds_it_stays_deleted(data_dir, store, folder_id, rng, monkeypatch) -> None:
    """The window's searcher catches the shared index up from SQLite while its index run adds the same
    vectors. A passage a commit deletes after the catch-up read it stays deleted: hnswlib brings a deleted
    id back when it is added again, so the run's add and its deletion must not let the catch-up's add in
    between."""
    commit(store, folder_id, rng, ["a.pdf"])
    index = VectorIndex.open(data_dir, store, DIM)
    ids, vecs = commit(store, folder_id, rng, ["b.pdf"])["b.pdf"]  # stored, not yet in the index
    read, go = threading.Event(), threading.Event()
    iter_embeddings = store.iter_embeddings

    def paused(*args, **kwargs):  # the catch-up has read the rows, and has yet to add them
        blocks = list(iter_embeddings(*args, **kwargs))
        read.set()
        go.wait(10)
        yield from blocks

    monkeypatch.setattr(store, "iter_embeddings", paused)
    catching_up = threading.Thread(target=index.catch_up, args=(store,), kwargs={"apply_tombstones": False})
    catching_up.start()
    assert read.wait(10)
    gone = store.delete_documents([store.known_documents()["/library/b.pdf"].id])
    index.mark_deleted(gone)  # as the commit does: not in the index yet, so nothing to mark
    adding = threading.Thread(target=index.add_then_delete, args=(ids, vecs, lambda: gone))
    adding.start()
    adding.join(0.5)  # it waits for the catch-up; were it to finish first, the catch-up's add would undo it
    go.set()
    catching_up.join(10)
    adding.join(10)
    assert sorted(gone) == sorted(ids.tolist())
    assert all(index.vector(int(i)) is None for i in ids) and index.live_count == 3
