"""Library folders: removing one removes its documents and tombstones their passages."""
from __future__ import annotations

from desktop_search.storage import Store
from tests.storage.conftest import record


def test_remove_folder_deletes_its_documents_and_tombstones_chunks(store: Store, folder_id: int, rng) -> None:
    other = store.add_folder("/other")
    store.commit_documents([record("/library/a.pdf", folder_id, 2, rng), record("/other/b.pdf", other, 1, rng)])
    n, gone = store.remove_folder("/library")
    assert n == 1 and len(gone) == 2
    assert set(store.known_documents()) == {"/other/b.pdf"}
    assert [f["path"] for f in store.folders()] == ["/other"]
    store.clear_tombstones(max(gone))
    assert store.tombstones() == []
