"""Passages and their vectors: the embedding queue, oldest first, and vectors stored once."""
from __future__ import annotations

import numpy as np

from desktop_search.storage import Store
from tests.storage.conftest import record, unit


def test_vectors_go_only_to_passages_still_waiting_for_one(store: Store, folder_id: int, rng) -> None:
    recs = [record(f"/library/{name}.pdf", folder_id, 3, rng) for name in "ab"]
    for rec in recs:
        for c in rec.chunks:
            c.embedding = None
    store.commit_documents(recs)
    pending = store.pending_chunks(0, 100)
    ids = np.array([p.id for p in pending], dtype=np.int64)
    assert len(ids) == 6 and list(ids) == sorted(ids)
    assert [p.title for p in pending] == ["a.pdf"] * 3 + ["b.pdf"] * 3

    first = unit(rng, 2)
    np.testing.assert_array_equal(store.store_embeddings(ids[:2], first), ids[:2])
    store.commit_documents([record("/library/b.pdf", folder_id, 1, rng)])  # b replaced: its passages are gone
    late = unit(rng, 6)
    took = store.store_embeddings(ids, late)
    np.testing.assert_array_equal(took, ids[2:3])  # a's third; a's first two keep their vectors, b's are deleted
    got_ids, got = next(store.iter_embeddings())
    assert list(got_ids[:3]) == list(ids[:3])
    np.testing.assert_allclose(got[:2], first, atol=2e-3)
    np.testing.assert_allclose(got[2], late[2], atol=2e-3)
    assert store.pending_chunks(0, 100) == []
    assert len(store.store_embeddings(np.zeros(0, dtype=np.int64), np.zeros((0, 8), dtype=np.float32))) == 0
