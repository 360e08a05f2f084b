"""The store's base: the manifest, read-only mode, and SQLite faults as user errors."""
from __future__ import annotations

from dataclasses import replace

import pytest

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


def test_a_readonly_connection_in_use_stays_open_while_other_threads_connect(data_dir, store: Store, folder_id: int,
                                                                             rng) -> None:
    """The window reads from several threads at once (a search, the vectors loading, the library panel...):
    one thread's connection must not be closed under it when a sixth thread connects."""
    import threading

    store.commit_documents([record("/lib/a.pdf", folder_id, 3, rng)])
    errors: list[BaseException] = []

    def reader(ro: Store) -> None:
        try:
            assert ro.embedding_counts()[1] == 3
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    with Store(data_dir.database, readonly=True) as ro, ro.engine.connect() as in_use:
        assert in_use.exec_driver_sql("SELECT count(*) FROM chunks").scalar() == 3
        for _ in range(8):  # one after another, each a new thread with a connection of its own
            t = threading.Thread(target=reader, args=(ro,))
            t.start()
            t.join(20)
        assert in_use.exec_driver_sql("SELECT count(*) FROM chunks").scalar() == 3
    assert not errors, errors
