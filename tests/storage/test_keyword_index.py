"""The full-text tables: stemming, the CJK n-gram index, and rebuilding a word index made with an older tokenizer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_search.storage import Store
from desktop_search.storage.records import ChunkRecord, DocumentRecord
from desktop_search.storage.schema import DocStatus
from tests.storage.conftest import record


def _add(store: Store, folder: Path, name: str, text: str) -> None:
    fid = store.add_folder(str(folder))
    store.commit_documents([
        DocumentRecord(
            path=str(folder / name), folder_id=fid, kind="pdf", size=1, mtime_ns=1, hash=name, title=name,
            author=None, status=DocStatus.INDEXED,
            chunks=[ChunkRecord(ordinal=0, text=text, char_start=0, char_end=len(text), embedding=np.ones(4))],
        )
    ])


def test_word_index_stems_english(tmp_path: Path) -> None:
    with Store(tmp_path / "index.sqlite3") as store:
        _add(store, tmp_path, "a.pdf", "Rankings of retrieval systems were compared.")
        assert len(store.keyword_search('"ranking" AND "compare"', 10)) == 1
        assert store.keyword_search('"rank"', 10)  # stems match, both ways


def test_a_word_index_from_before_stemming_is_rebuilt_by_the_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite3"
    with Store(db) as store:
        _add(store, tmp_path, "a.pdf", "Rankings of retrieval systems were compared.")
        with store.engine.begin() as conn:  # the word index of schema 1 before 2e7a1dc, in a file of no format number
            conn.exec_driver_sql("DROP TABLE chunks_fts")
            conn.exec_driver_sql(
                "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id', "
                "tokenize='unicode61 remove_diacritics 2')"
            )
            conn.exec_driver_sql("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
            conn.exec_driver_sql("PRAGMA user_version = 0")
        assert store.keyword_search('"ranking"', 10) == []

    with Store(db) as store:  # the upgrade rebuilds it from the chunks
        assert len(store.keyword_search('"ranking"', 10)) == 1
        _add(store, tmp_path, "b.pdf", "Ranked lists again.")  # the triggers feed the new table
        assert len(store.keyword_search('"ranking"', 10)) == 2


def test_cjk_ngram_index_follows_inserts_and_deletes(store: Store, folder_id: int, rng) -> None:
    rec = record("/library/ja.pdf", folder_id, 2, rng)
    rec.chunks[0].text, rec.chunks[1].text = "猫は日本で人気がある。", "東京の天気"
    (ids, _v), = store.commit_documents([rec])[0]
    assert [cid for cid, _ in store.gram_search(["日本"], 10)] == [int(ids[0])]
    assert {cid for cid, _ in store.gram_search(["猫", "東京"], 10)} == {int(i) for i in ids}
    assert store.gram_search(["大阪"], 10) == []
    store.commit_documents([record("/library/ja.pdf", folder_id, 1, rng)])  # replaced: old chunks deleted
    assert store.gram_search(["日本"], 10) == []
