"""Opening an index of an older storage format: upgraded in place after a backup, every passage and vector
kept; a newer format, a read-only data dir, a taken lock or a short disk each get a clear message."""
from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections import namedtuple
from contextlib import closing
from pathlib import Path

import pytest

from desktop_search.errors import IndexBusyError, IndexMismatchError, StorageError
from desktop_search.index.library_info import read_library_info
from desktop_search.language import Lang, has_cjk, substring_words
from desktop_search.recipe import TITLE_RULE, opens_with
from desktop_search.storage import Store, upgrade
from desktop_search.storage.lock import WriterLock
from desktop_search.storage.schema import SCHEMA_VERSION, MetaKey
from tests.storage.conftest import MANIFEST, record
from tests.storage.legacy import NAMES, OLD_TITLE_RULE, chunk_rows, copy_fixture, schema_of, user_version

# What a fresh index of the fixture library records per file: (status, lang).
DOCUMENTS = {
    "Down the Rabbit-Hole.pdf": ("indexed", "latin"),
    "The Pool of Tears.pdf": ("indexed", "latin"),
    "A Caucus-Race and a Long Tale.epub": ("indexed", "latin"),
    "羅生門.epub": ("indexed", "ja"),
    "truncated.pdf": ("failed", None),
}


def _format_number(name: str) -> int:
    return int(name.split("-")[1])  # schema-1-unicode61 -> 1


def _fresh_schema(tmp_path: Path) -> list[tuple[str, str, str]]:
    db = tmp_path / "fresh" / "index.sqlite3"
    db.parent.mkdir()
    Store(db).close()
    return schema_of(db)


def _title_openers(db: Path) -> set[int]:
    """The passages whose embedded text the title rule of b91051d changed: those that open with their title."""
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT c.id, d.title, c.text FROM chunks c JOIN documents d ON d.id = c.document_id")
        return {cid for cid, title, text in rows if title and opens_with(text, title)}


@pytest.mark.parametrize("name", NAMES)
def test_every_released_format_is_upgraded_in_place(name: str, tmp_path: Path) -> None:
    fx = copy_fixture(name, tmp_path / "copy")
    before, before_schema = chunk_rows(fx.db), schema_of(fx.db)
    vector_files = fx.paths.vectors.read_bytes(), fx.paths.vectors_meta.read_bytes()

    with Store(fx.db) as store:
        manifest = store.manifest()
        assert manifest is not None and manifest.schema_version == SCHEMA_VERSION
        assert manifest.model_id == "sentence-transformers/all-MiniLM-L6-v2" and manifest.title_prefix
        rabbit = store.keyword_search('"rabbit"', 10)
        assert len(rabbit) == 4 and store.keyword_search('"rabbits"', 10) == rabbit  # the word index, stemmed
        assert store.gram_search(["下人"], 10)  # the CJK n-gram index
        migrations = json.loads(store.get_meta(MetaKey.MIGRATIONS) or "[]")
        assert store.get_meta(MetaKey.TITLE_RULE) == str(int(TITLE_RULE))
        assert store.reembed_waiting() == (3 if name in OLD_TITLE_RULE else 0)

    assert user_version(fx.db) == SCHEMA_VERSION
    assert schema_of(fx.db) == _fresh_schema(tmp_path)
    assert chunk_rows(fx.db) == before  # ids (hnsw labels), texts and float16 vectors, byte for byte
    assert (fx.paths.vectors.read_bytes(), fx.paths.vectors_meta.read_bytes()) == vector_files
    with closing(sqlite3.connect(fx.db)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        for fts in ("chunks_fts", "chunks_tri", "chunks_cjk", "vocab_tri"):  # kept, or rebuilt: they match the passages
            con.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")
        # The trigram index holds the passages with CJK text (羅生門's), the vocabulary every passage's words.
        assert con.execute("SELECT count(*) FROM chunks_tri_docsize").fetchone()[0] == sum(
            has_cjk(t) for (t,) in con.execute("SELECT text FROM chunks")) == 2
        vocab = {w for (w,) in con.execute("SELECT word FROM vocab")}
        assert vocab == substring_words(t for (t,) in con.execute("SELECT text FROM chunks"))
        docs = {Path(os.fsdecode(p)).name: (s, lang) for p, s, lang in con.execute("SELECT path, status, lang FROM documents")}
        queued = {r[0] for r in con.execute("SELECT chunk_id FROM reembed WHERE state = 'waiting'")}
        seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()[0]
    assert docs == DOCUMENTS
    assert seq == max(r[0] for r in before)
    # Formats before b91051d embedded "title\n" + passage everywhere: exactly the title-opening passages are queued.
    assert queued == (_title_openers(fx.db) if name in OLD_TITLE_RULE else set())

    number = _format_number(name)
    backup = fx.db.with_name(f"index.sqlite3.bak-schema-{number}")
    numbered = number >= upgrade.NUMBERED_FROM and user_version(backup) == number  # 4 on: PRAGMA user_version
    assert user_version(backup) == (number if numbered else 0)
    assert schema_of(backup) == before_schema and chunk_rows(backup) == before
    assert [m["to"] for m in migrations] == [s.to_version for s in upgrade.STEPS if s.from_version >= (number if numbered else 0)]
    assert migrations[0]["from"] == f"format {number}" if numbered else migrations[0]["from"].startswith(f"schema {number}")
    assert migrations[0]["backup"] == backup.name

    with Store(fx.db) as again:  # the next open finds the current format: nothing more happens
        assert json.loads(again.get_meta(MetaKey.MIGRATIONS) or "[]") == migrations


def test_the_window_s_first_look_at_an_older_index_upgrades_it(tmp_path: Path) -> None:
    fx = copy_fixture("schema-2", tmp_path)
    info = read_library_info(fx.paths)  # a reader, as the window's library panel and `status` are
    assert (info.documents, info.chunks, info.embedded, len(info.failed)) == (4, 9, 9, 1)
    assert user_version(fx.db) == SCHEMA_VERSION


def test_a_current_index_opens_without_an_upgrade(data_dir, rng) -> None:
    with Store(data_dir.database) as store:
        store.check_manifest(MANIFEST)
        store.commit_documents([record("/library/a.pdf", store.add_folder("/library"), 2, rng)])
    with Store(data_dir.database) as store, Store(data_dir.database, readonly=True) as reader:
        assert store.get_meta(MetaKey.MIGRATIONS) is None and reader.chunk_count() == 2
    assert user_version(data_dir.database) == SCHEMA_VERSION
    assert not list(data_dir.root.glob("*.bak-*"))


@pytest.mark.parametrize("where", ["user_version", "manifest"])
def test_a_newer_format_is_refused_and_left_alone(where: str, data_dir) -> None:
    with Store(data_dir.database) as store:
        store.check_manifest(MANIFEST)
    with closing(sqlite3.connect(data_dir.database)) as con, con:
        if where == "user_version":
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        else:
            con.execute("UPDATE meta SET value = json_set(value, '$.schema_version', ?) WHERE key = 'manifest'",
                        (SCHEMA_VERSION + 1,))
    before = data_dir.database.read_bytes()
    for readonly in (False, True):
        with pytest.raises(IndexMismatchError, match=f"newer version of desktop-search .*format {SCHEMA_VERSION + 1}.*"
                                                     f"knows formats up to {SCHEMA_VERSION}.*--rebuild"):
            Store(data_dir.database, readonly=readonly)
    assert data_dir.database.read_bytes() == before


def test_a_reader_upgrades_an_older_index_when_it_can_take_the_lock(tmp_path: Path) -> None:
    fx = copy_fixture("schema-1", tmp_path)
    with Store(fx.db, readonly=True) as reader:
        assert reader.readonly and len(reader.keyword_search('"marmalade"', 10)) == 1
    assert user_version(fx.db) == SCHEMA_VERSION
    assert not WriterLock.held(fx.paths.lock)  # taken for the upgrade only


def test_a_writer_upgrades_under_the_lock_it_holds(tmp_path: Path) -> None:
    fx = copy_fixture("schema-2-pre-cjk", tmp_path)
    with WriterLock(fx.paths.lock), Store(fx.db) as store:
        assert store.gram_search(["下人"], 10)
        assert WriterLock.held(fx.paths.lock)


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_an_older_index_whose_lock_another_process_holds_is_busy_not_broken(tmp_path: Path) -> None:
    import fcntl

    fx = copy_fixture("schema-1", tmp_path)
    before = fx.db.read_bytes()
    fd = os.open(fx.paths.lock, os.O_RDWR | os.O_CREAT)  # as another process's WriterLock holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for readonly in (True, False):
            with pytest.raises(IndexBusyError, match="older version of desktop-search .*another desktop-search is "
                                                     "writing to it. Try again"):
                Store(fx.db, readonly=readonly)
    finally:
        os.close(fd)
    assert fx.db.read_bytes() == before and not list(fx.paths.root.glob("*.bak-*"))


def test_an_older_index_in_a_read_only_data_dir_says_how_to_upgrade_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fx = copy_fixture("schema-1-unicode61", tmp_path)
    before = fx.db.read_bytes()
    monkeypatch.setattr(upgrade, "_writable", lambda path: False)  # as a read-only folder (root may write any)
    with pytest.raises(StorageError, match=r"older version of desktop-search \(schema 1 \(1a.*read-only.*"
                                           r"`desktop-search index` or open the window"):
        Store(fx.db, readonly=True)
    assert fx.db.read_bytes() == before


def test_too_little_disk_space_for_the_upgrade_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fx = copy_fixture("schema-2", tmp_path)
    before = fx.db.read_bytes()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(upgrade.shutil, "disk_usage", lambda path: usage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    with pytest.raises(StorageError, match="needs about 17 MB free on its disk .*rewrite its passages.*1 MB is free"):
        Store(fx.db)
    assert fx.db.read_bytes() == before and not list(fx.paths.root.glob("*.bak-*"))


def test_an_unreleased_layout_is_upgraded_by_what_it_lacks(data_dir, rng) -> None:
    """A branch build's schema 3 without the CJK index and documents.lang: detected by structure, not number."""
    with Store(data_dir.database) as store:
        store.check_manifest(MANIFEST)
        rec = record("/library/ko.pdf", store.add_folder("/library"), 1, rng)
        rec.chunks[0].text = "신씨는 서울에 산다"
        store.commit_documents([rec])
        with store.engine.begin() as conn:  # as that build left it
            conn.exec_driver_sql("DROP TRIGGER chunks_cjk_ai")
            conn.exec_driver_sql("DROP TRIGGER chunks_cjk_ad")
            conn.exec_driver_sql("DROP TABLE chunks_cjk")
            conn.exec_driver_sql("DROP TABLE reembed")
            conn.exec_driver_sql("ALTER TABLE documents DROP COLUMN lang")
            conn.exec_driver_sql("DELETE FROM meta WHERE key = 'title_rule'")
            conn.exec_driver_sql("UPDATE meta SET value = json_set(value, '$.schema_version', 3) WHERE key = 'manifest'")
            conn.exec_driver_sql("PRAGMA user_version = 0")
    with Store(data_dir.database) as upgraded:
        assert len(upgraded.gram_search(["신씨"], 10)) == 1
        assert upgraded.language_counts() == {Lang.KOREAN: 1}  # told from its stored passages
        first = json.loads(upgraded.get_meta(MetaKey.MIGRATIONS) or "[]")[0]
    assert first["from"] == "schema 3 (a layout no release wrote: porter word index, documents.attempts, chunks.ocr, " \
                            "documents.failure, nullable embedding, pending index)"
    assert user_version(data_dir.database) == SCHEMA_VERSION
