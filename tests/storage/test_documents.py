"""Documents: per-file commits in one transaction, replacement, moves and failure records."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from desktop_search.storage import Store
from tests.storage.conftest import record


def test_commit_stores_chunks_with_embeddings_and_fts(store: Store, folder_id: int, rng) -> None:
    rec = record("/library/a.pdf", folder_id, 3, rng)
    (ids_vecs,), gone = store.commit_documents([rec])
    ids, vecs = ids_vecs
    assert gone == [] and len(ids) == 3
    rows = store.fetch_chunks(ids)
    assert [rows[int(i)]["page"] for i in ids] == [1, 2, 3]
    assert rows[int(ids[0])]["path"] == "/library/a.pdf"
    # Embeddings round-trip through float16.
    (stored_ids, stored), = list(store.iter_embeddings())
    np.testing.assert_array_equal(stored_ids, ids)
    np.testing.assert_allclose(stored, vecs, atol=2e-3)
    assert [cid for cid, _ in store.keyword_search('"passage"', 10)] != []


def test_recommitting_a_path_replaces_its_chunks_and_never_reuses_ids(store: Store, folder_id: int, rng) -> None:
    ((first, _),), _ = store.commit_documents([record("/library/a.pdf", folder_id, 3, rng)])
    ((second, _),), gone = store.commit_documents([record("/library/a.pdf", folder_id, 2, rng)])
    assert sorted(gone) == sorted(first.tolist())
    assert min(second) > max(first)
    assert store.chunk_count() == 2
    assert sorted(store.tombstones()) == sorted(first.tolist())
    assert len(store.known_documents()) == 1


def test_a_failing_batch_commits_nothing(store: Store, folder_id: int, rng) -> None:
    good = record("/library/good.pdf", folder_id, 2, rng)
    bad = record("/library/bad.pdf", folder_id, 2, rng)
    bad.chunks[1].text = None  # type: ignore[assignment]  # not storable (NOT NULL): the transaction must roll back
    with pytest.raises(IntegrityError):
        store.commit_documents([good, bad])
    assert store.known_documents() == {}
    assert store.chunk_count() == 0


def test_failed_files_are_recorded_with_their_reason(store: Store, folder_id: int, rng) -> None:
    ok = record("/library/ok.pdf", folder_id, 1, rng)
    failed = record("/library/locked.pdf", folder_id, 0, rng, status="failed")
    failed.error = "encrypted: needs a password"
    store.commit_documents([ok, failed])
    stats = store.stats()
    assert stats["documents"] == 1 and stats["chunks"] == 1
    assert stats["failed"] == [{"path": "/library/locked.pdf", "error": "encrypted: needs a password"}]
    assert store.folders()[0]["indexed"] == 1 and store.folders()[0]["failed"] == 1


def test_move_and_touch_keep_chunks(store: Store, folder_id: int, rng) -> None:
    ((ids, _),), _ = store.commit_documents([record("/library/a.pdf", folder_id, 2, rng)])
    doc = store.known_documents()["/library/a.pdf"]
    store.move_document(doc.id, "/library/sub/b.pdf", folder_id, 100, 5)
    store.touch_document(doc.id, 100, 7)
    moved = store.known_documents()["/library/sub/b.pdf"]
    assert (moved.id, moved.mtime_ns) == (doc.id, 7)
    assert {r["path"] for r in store.fetch_chunks(ids).values()} == {"/library/sub/b.pdf"}


def test_many_passages_at_once_are_all_stored_and_in_the_keyword_index(store: Store, folder_id: int, rng) -> None:
    """Passages go in many rows to a statement; every row, its full-text rows and its document must be right."""
    from desktop_search.storage.documents import ROWS_PER_INSERT

    sizes = (2 * ROWS_PER_INSERT + 3, 1, ROWS_PER_INSERT)
    recs = [record(f"/library/{i}.pdf", folder_id, n, rng) for i, n in enumerate(sizes)]
    odd = record("/library/cafe.pdf", folder_id, 2, rng)
    odd.path = "/library/caf\udce9.pdf"  # a name that is not UTF-8: stored as its bytes
    recs.append(odd)
    for rec in recs:
        for c in rec.chunks:
            c.embedding = None  # waiting for the embedding stream, as the indexer commits them
    stored, _ = store.commit_documents(recs)
    assert all(len(ids) == 0 for ids, _ in stored)
    known = store.known_documents()
    assert set(known) == {r.path for r in recs}
    firsts = [r.first_chunk_id for r in recs]
    assert firsts[0] is not None and firsts == [firsts[0] + sum(len(r.chunks) for r in recs[:k]) for k in range(len(recs))]
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, document_id, ordinal, text FROM chunks ORDER BY id").all()
        for table in ("chunks_fts", "chunks_tri", "chunks_cjk"):
            conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    expected = [((r.first_chunk_id or 0) + c.ordinal, known[r.path].id, c.ordinal, c.text) for r in recs for c in r.chunks]
    assert [tuple(row) for row in rows] == expected
    assert len(store.keyword_search('"passage"', 1000)) == len(rows)
    assert len(store.keyword_search('"cafe.pdf"', 10)) == 2
    assert store.keyword_search('"passage"', 10, trigram=True) == []  # no CJK text: not in the trigram index
    assert store.words_containing('"afe"', 10) == ["cafe"]  # but its words are in the vocabulary
