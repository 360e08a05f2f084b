"""Storage fixtures and helpers: documents with random unit embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from desktop_search.storage import Manifest, Store
from desktop_search.storage.records import ChunkRecord, DocumentRecord
from desktop_search.storage.schema import DocStatus

DIM = 8
MANIFEST = Manifest(model_id="tiny", dim=DIM, pooling="mean", max_tokens=128, overlap_tokens=16, title_prefix=True)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def record(path: str, folder_id: int, n_chunks: int, rng: np.random.Generator, status: str = "indexed") -> DocumentRecord:
    vecs = unit(rng, n_chunks)
    return DocumentRecord(
        path=path, folder_id=folder_id, kind="pdf", size=100, mtime_ns=1, hash=f"h-{path}-{n_chunks}",
        title=path.rsplit("/", 1)[-1], author=None, status=DocStatus(status), pages=n_chunks,
        chunks=[
            ChunkRecord(ordinal=i, text=f"{path} passage {i}", char_start=0, char_end=10, page=i + 1, embedding=vecs[i])
            for i in range(n_chunks)
        ],
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def store(data_dir):
    with Store(data_dir.database) as s:
        s.check_manifest(MANIFEST)
        yield s


@pytest.fixture
def folder_id(store: Store) -> int:
    return store.add_folder("/library")
