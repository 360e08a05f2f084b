"""The re-embed queue: a new vector replaces the old one in SQLite and, even across a crash, in the hnsw file."""
from __future__ import annotations

import numpy as np

from desktop_search.storage import Store, VectorIndex
from desktop_search.storage.schema import ReembedReason, ReembedState
from tests.storage.conftest import DIM, record, unit


def _vector(index: VectorIndex, cid: int) -> np.ndarray:
    vec = index.vector(cid)
    assert vec is not None
    return vec


def _queue(store: Store, *ids: int) -> None:
    with store.engine.begin() as conn:
        for cid in ids:
            conn.exec_driver_sql("INSERT INTO reembed (chunk_id, reason, state) VALUES (?, ?, ?)",
                                 (cid, ReembedReason.TITLE_RULE, ReembedState.WAITING))


def test_a_new_vector_stored_before_the_hnsw_file_was_saved_reaches_it_when_next_opened(
        data_dir, store: Store, folder_id: int, rng) -> None:
    (ids, old), = store.commit_documents([record("/library/a.pdf", folder_id, 3, rng)])[0]
    VectorIndex.open(data_dir, store, DIM)  # the saved file holds the old vectors
    _queue(store, int(ids[0]), int(ids[1]))
    assert [c.id for c in store.stale_chunks(0, 10)] == [int(ids[0]), int(ids[1])]
    assert [c.id for c in store.stale_chunks(int(ids[0]), 10)] == [int(ids[1])]

    new = unit(rng, 1)
    assert store.replace_embeddings(ids[:1], new).tolist() == [int(ids[0])]
    assert store.reembed_waiting() == 1
    # A kill -9 here: SQLite has the new vector, the saved hnsw file the old one.
    reader = VectorIndex.open(data_dir, store, DIM, writable=False)
    assert np.allclose(_vector(reader, int(ids[0])), new[0], atol=1e-3)
    assert np.allclose(_vector(reader, int(ids[1])), old[1], atol=1e-3)  # still waiting: its old vector serves
    assert reader.live_count == 3

    VectorIndex.open(data_dir, store, DIM)  # a writer saves the file with it, and the row is done
    saved = VectorIndex._load(data_dir, DIM)
    assert saved is not None and np.allclose(_vector(saved, int(ids[0])), new[0], atol=1e-3)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT chunk_id, state FROM reembed").all() == [(int(ids[1]), "waiting")]


def test_a_queued_passage_that_is_deleted_leaves_the_queue(store: Store, folder_id: int, rng) -> None:
    rec = record("/library/a.pdf", folder_id, 2, rng)
    (ids, _), = store.commit_documents([rec])[0]
    _queue(store, *map(int, ids))
    store.commit_documents([record("/library/a.pdf", folder_id, 1, rng)])  # the file changed: its passages replaced
    assert store.reembed_waiting() == 0
    assert store.replace_embeddings(ids, unit(rng, 2)).tolist() == []
