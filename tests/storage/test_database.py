"""The SQLite store: manifest, per-file commits, deletions and failure records."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from desktop_search.errors import IndexCorruptError, IndexMismatchError, StorageError
from desktop_search.storage import Store
from tests.storage.conftest import MANIFEST, record


def test_manifest_is_recorded_then_a_different_one_is_refused(store: Store) -> None:
    assert store.manifest() == MANIFEST
    store.check_manifest(MANIFEST)  # same settings: fine
    with pytest.raises(IndexMismatchError) as info:
        store.check_manifest(replace(MANIFEST, model_id="other-model", overlap_tokens=0))
    msg = str(info.value)
    assert "model_id: index has 'tiny', requested 'other-model'" in msg
    assert "overlap_tokens" in msg
    assert "--rebuild" in msg


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


def test_remove_folder_deletes_its_documents_and_tombstones_chunks(store: Store, folder_id: int, rng) -> None:
    other = store.add_folder("/other")
    store.commit_documents([record("/library/a.pdf", folder_id, 2, rng), record("/other/b.pdf", other, 1, rng)])
    n, gone = store.remove_folder("/library")
    assert n == 1 and len(gone) == 2
    assert set(store.known_documents()) == {"/other/b.pdf"}
    assert [f["path"] for f in store.folders()] == ["/other"]
    store.clear_tombstones(max(gone))
    assert store.tombstones() == []


def test_readonly_store_of_a_missing_index_says_what_to_do(tmp_path) -> None:
    with pytest.raises(StorageError, match="desktop-search index"):
        Store(tmp_path / "nothing.sqlite3", readonly=True)


def test_damaged_database_is_a_clear_error(tmp_path) -> None:
    db = tmp_path / "index.sqlite3"
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        Store(db)


def test_readonly_store_cannot_write(data_dir, store: Store, folder_id: int, rng) -> None:
    with Store(data_dir.database, readonly=True) as ro:
        with pytest.raises(StorageError):
            ro.commit_documents([record("/library/a.pdf", folder_id, 1, rng)])


def test_cjk_ngram_index_follows_inserts_and_deletes(store: Store, folder_id: int, rng) -> None:
    rec = record("/library/ja.pdf", folder_id, 2, rng)
    rec.chunks[0].text, rec.chunks[1].text = "猫は日本で人気がある。", "東京の天気"
    (ids, _v), = store.commit_documents([rec])[0]
    assert [cid for cid, _ in store.gram_search(["日本"], 10)] == [int(ids[0])]
    assert {cid for cid, _ in store.gram_search(["猫", "東京"], 10)} == {int(i) for i in ids}
    assert store.gram_search(["大阪"], 10) == []
    store.commit_documents([record("/library/ja.pdf", folder_id, 1, rng)])  # replaced: old chunks deleted
    assert store.gram_search(["日本"], 10) == []


def test_an_index_from_before_the_ngram_index_gets_it_on_open(data_dir, folder_id: int, store: Store, rng) -> None:
    rec = record("/library/ko.pdf", folder_id, 1, rng)
    rec.chunks[0].text = "신씨는 서울에 산다"
    store.commit_documents([rec])
    with store.engine.begin() as conn:  # as an older version left it
        conn.exec_driver_sql("DROP TRIGGER chunks_cjk_ai")
        conn.exec_driver_sql("DROP TRIGGER chunks_cjk_ad")
        conn.exec_driver_sql("DROP TABLE chunks_cjk")
        conn.exec_driver_sql("ALTER TABLE documents DROP COLUMN lang")
    store.close()
    with Store(data_dir.database, readonly=True) as reader:
        assert [n for _cid, n in reader.gram_search(["신씨"], 10)] == [1.0]  # scan fallback
        assert reader.language_counts() == {}
    with Store(data_dir.database) as upgraded:
        assert len(upgraded.gram_search(["신씨"], 10)) == 1
        assert upgraded.language_counts() == {None: 1}


def test_language_counts_per_document(store: Store, folder_id: int, rng) -> None:
    from desktop_search.language import Lang

    for i, lang in enumerate([Lang.JAPANESE, Lang.JAPANESE, Lang.LATIN]):
        rec = record(f"/library/{i}.pdf", folder_id, 1, rng)
        rec.lang = lang
        store.commit_documents([rec])
    assert store.language_counts() == {Lang.JAPANESE: 2, Lang.LATIN: 1}
