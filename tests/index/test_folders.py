"""folders.remove_folder: the core of `remove` in both front ends."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_search.errors import UserFacingError
from desktop_search.index.folders import remove_folder
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.search.searcher import Searcher
from desktop_search.storage import Store, VectorIndex, topk_index
from desktop_search.storage.topk_index import TopKReader
from tests.conftest import make_pdf


def _index_two_folders(tmp_path, data_dir, tiny_model) -> tuple[Path, Path]:
    """Index a folder to keep (a.pdf, about rivers) and one to remove (b.pdf, about mountains)."""
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    keep.mkdir()
    drop.mkdir()
    make_pdf(keep / "a.pdf", ["alpha text about rivers"])
    make_pdf(drop / "b.pdf", ["beta text about mountains"])
    Indexer(data_dir, IndexOptions(model=str(tiny_model), device="cpu")).run([str(keep), str(drop)])
    return keep, drop


def test_remove_folder_drops_documents_and_vectors(tmp_path, data_dir, tiny_model):
    keep, drop = _index_two_folders(tmp_path, data_dir, tiny_model)
    assert remove_folder(data_dir, str(drop)) == 1
    with Store(data_dir.database) as store:
        assert [f["path"] for f in store.folders()] == [str(keep)]
        manifest = store.manifest()
        assert manifest is not None
        vectors = VectorIndex.open(data_dir, store, manifest.dim, writable=False)
        assert vectors.live_count == store.chunk_count() > 0
    with Searcher(data_dir, model=str(tiny_model), device="cpu") as searcher:
        assert all("drop" not in r.path for r in searcher.search("mountains", mode="keyword"))
    with pytest.raises(UserFacingError, match="not in the library"):
        remove_folder(data_dir, str(drop))


def test_remove_folder_keeps_a_topk_index_current(tmp_path, data_dir, tiny_model, monkeypatch):
    monkeypatch.setattr(topk_index, "TOPK_FROM", 1)  # every library counts as big
    keep, drop = _index_two_folders(tmp_path, data_dir, tiny_model)
    before = json.loads((data_dir.topk / "current.json").read_bytes())["dir"]
    remove_folder(data_dir, str(drop))
    with Store(data_dir.database, readonly=True) as store:
        index = TopKReader(data_dir).current(store)
        assert index is not None and index.state.rows == store.chunk_count()
        assert index.search(["mountains"], 10) == [] and index.search(["rivers"], 10)
    assert index.directory.name == before  # the removed passages deleted from it, not a rebuild
