"""The full-text tables: stemming, the trigram and CJK n-gram indexes, the vocabulary, and rebuilding a word
index made with an older tokenizer."""
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


def test_trigram_index_holds_the_passages_with_cjk_text_through_inserts_and_deletes(store: Store, folder_id: int,
                                                                                    rng) -> None:
    rec = record("/library/mixed.pdf", folder_id, 3, rng)
    rec.chunks[0].text, rec.chunks[1].text, rec.chunks[2].text = "量子コンピュータの研究", "quantum computing", "café 東京駅"
    (ids, _v), = store.commit_documents([rec])[0]
    assert [cid for cid, _ in store.keyword_search('"コンピュータ"', 10, trigram=True)] == [int(ids[0])]
    assert [cid for cid, _ in store.keyword_search('"café"', 10, trigram=True)] == [int(ids[2])]
    assert store.keyword_search('"computing"', 10, trigram=True) == []  # Latin only: the word index has it
    assert [cid for cid, _ in store.keyword_search('"computing"', 10)] == [int(ids[1])]
    store.commit_documents([record("/library/mixed.pdf", folder_id, 1, rng)])  # replaced: old passages deleted
    assert store.keyword_search('"コンピュータ"', 10, trigram=True) == []
    with store.engine.connect() as conn:
        for table in ("chunks_fts", "chunks_tri", "chunks_cjk", "vocab_tri"):
            conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")


def test_vocabulary_finds_the_words_that_hold_a_piece_of_a_word(store: Store, folder_id: int, rng) -> None:
    rec = record("/library/de.pdf", folder_id, 2, rng)
    rec.chunks[0].text = "Die Donaudampfschifffahrtsgesellschaft und die Dampfschifffahrt, 東京タワー im Jahr 1990年."
    rec.chunks[1].text = "Schifffahrt auf dem Rhein; ab " + "QUJD" * 20  # 80 characters of base64: not a word
    store.commit_documents([rec])
    assert store.words_containing('"schifffahrt"', 10) == [
        "schifffahrt", "dampfschifffahrt", "donaudampfschifffahrtsgesellschaft"]  # shortest first
    assert store.words_containing('"schifffahrt"', 2) == ["schifffahrt", "dampfschifffahrt"]
    assert store.words_containing('"tower"', 10) == []
    assert store.words_containing('"東京タ"', 10) == []  # CJK words are the trigram index's
    assert store.words_containing('"199"', 10) == []  # nor words with CJK characters in them
    assert "ab" not in {w for w in store.words_containing('"rhein"', 10)}
    with store.engine.connect() as conn:
        words = [w for (w,) in conn.exec_driver_sql("SELECT word FROM vocab ORDER BY word")]
    assert "ab" not in words and "die" in words  # three characters or more: the trigram index's shortest match
    assert not [w for w in words if w.startswith("qujd")]  # and at most VOCAB_WORD_MAX
    given = record("/library/other.pdf", folder_id, 1, rng)
    given.words = ["worked", "out", "the", "reader"]  # as the extraction workers send them
    store.commit_documents([given])
    assert store.words_containing('"eade"', 10) == ["reader"]
    store.commit_documents([record("/library/de.pdf", folder_id, 1, rng)])  # gone from the passages, kept here
    assert store.words_containing('"schifffahrt"', 1) == ["schifffahrt"]
