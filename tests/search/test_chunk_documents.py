"""The searcher's chunk -> document map: one run of ids per document, caught up as passages are committed."""
from __future__ import annotations

import numpy as np
import pytest

from desktop_search.search.grouping import ChunkDocuments
from desktop_search.storage import Store
from tests.storage.conftest import MANIFEST, record


@pytest.fixture
def store(data_dir):
    with Store(data_dir.database) as s:
        s.check_manifest(MANIFEST)
        yield s


def truth(store: Store) -> dict[int, int]:
    with store.engine.connect() as conn:
        return {int(i): int(d) for i, d in conn.exec_driver_sql("SELECT id, document_id FROM chunks")}


def test_map_holds_a_run_per_document_and_catches_up(store: Store) -> None:
    rng = np.random.default_rng(0)
    fid = store.add_folder("/library")
    store.commit_documents([record(f"/library/{i}.pdf", fid, 3 + i, rng) for i in range(5)])
    docs = ChunkDocuments()
    docs.refresh(store, store.max_chunk_id())
    assert len(docs) == 5  # runs, not passages
    store.commit_documents([record("/library/1.pdf", fid, 2, rng), record("/library/new.pdf", fid, 4, rng)])
    docs.refresh(store, store.max_chunk_id())
    assert len(docs) == 7  # the replaced document's old run lingers; its rows are gone, so it is never shown
    every = truth(store)
    wanted = [*every, 0, -3, 10_000]
    assert docs.lookup(wanted) == every


def test_a_document_whose_ids_are_not_one_run_is_kept_row_by_row(store: Store) -> None:
    rng = np.random.default_rng(1)
    fid = store.add_folder("/library")
    store.commit_documents([record("/library/a.pdf", fid, 2, rng), record("/library/b.pdf", fid, 2, rng)])
    a, b = (store.known_documents()[f"/library/{n}.pdf"].id for n in "ab")
    with store.engine.begin() as conn:  # as another writer could have: a's passages on both sides of b's
        conn.exec_driver_sql("UPDATE chunks SET document_id = ? WHERE id = 4", (a,))
        conn.exec_driver_sql("UPDATE chunks SET document_id = ? WHERE id = 2", (b,))
    docs = ChunkDocuments()
    docs.refresh(store, store.max_chunk_id())
    assert docs.lookup([1, 2, 3, 4]) == {1: a, 2: b, 3: b, 4: a} == truth(store)
