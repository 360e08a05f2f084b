"""The index a run makes is the one the plain way makes: same passages, same vectors, same keyword hits.

The pipeline hands the model the ids the extraction workers made and writes rows many to a statement; the
plain way reads and chunks each file here, tokenizes each passage's embedding text and embeds it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder, Precision
from desktop_search.embed.models import spec_from_folder
from desktop_search.embed.tokenizer import FastTokenizer, load_model_tokenizer
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.ingest.chunking import Chunker, ChunkSettings, embedding_text
from desktop_search.ingest.pool import read_and_extract
from desktop_search.language import substring_words
from desktop_search.storage import Store, VectorIndex
from tests.conftest import SCIFACT, SHARED


def sample_library(folder: Path) -> Path:
    files = sorted((SCIFACT / "library").rglob("*.*"))[:40] + sorted((SHARED / "jsquad" / "library").iterdir())[:8]
    if not files:
        pytest.skip("the shared corpora are not checked out")
    folder.mkdir()
    for i, f in enumerate(files):
        os.symlink(f, folder / f"{i:02d} {f.name}")
    return folder


def test_an_index_run_stores_what_the_plain_way_makes(tiny_model: Path, data_dir, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lib = sample_library(tmp_path / "lib")
    spec = spec_from_folder(tiny_model)
    embedder = Embedder(spec, device="cpu", precision=Precision.FP32)
    tokenized: list[object] = []  # texts the main process tokenizes during the run (the workers' do not count)
    call = FastTokenizer.__call__

    def spy(self: FastTokenizer, text: Any, **kwargs: Any) -> dict[str, Any]:
        tokenized.append(text)
        return call(self, text, **kwargs)

    monkeypatch.setattr(FastTokenizer, "__call__", spy)
    options = IndexOptions(model=str(tiny_model), device="cpu", batch_chunks=48, workers=2)
    report = Indexer(data_dir, options, embedder=embedder).run(add=[lib])
    monkeypatch.undo()
    assert report.added == 48 and not report.failed and tokenized == []

    with Store(data_dir.database) as store, store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT d.path, c.ordinal, c.text, c.page, c.section, c.char_start, c.char_end, c.embedding, c.id "
            "FROM chunks c JOIN documents d ON d.id = c.document_id").all()
        # The full-text rows are exactly those of the stored passages.
        for table in ("chunks_fts", "chunks_tri", "chunks_cjk", "vocab_tri"):
            conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
        stored = {(r.path, r.ordinal): r for r in rows}
        chunker = Chunker(load_model_tokenizer(spec.path), ChunkSettings(min(ChunkSettings.max_tokens, spec.max_tokens)))
        plain_texts, stored_vecs, ids = [], [], []
        want = set()
        for f in sorted(lib.iterdir()):
            doc = read_and_extract(str(f))
            for c in chunker.chunk_document(doc.title, doc.segments, spec.passage_prefix):
                r = stored[(str(f), c.ordinal)]
                assert (r.text, r.page, r.section, r.char_start, r.char_end) == (
                    c.text, c.page, c.section, c.char_start, c.char_end)
                plain_texts.append(embedding_text(doc.title, c.text, True))
                stored_vecs.append(np.frombuffer(r.embedding, dtype=np.float16).astype(np.float32))
                ids.append(r.id)
                want.add((str(f), c.ordinal))
        assert want == set(stored)
        plain = embedder.encode_passages(plain_texts)
        got = np.stack(stored_vecs)
        cosine = (got * plain).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(plain, axis=1)
        assert cosine.min() >= 0.9999

        for word in ("ある。", "された"):  # the trigram index: every passage with CJK text
            hits = {cid for cid, _ in store.keyword_search(f'"{word}"', 10_000, trigram=True)}
            assert hits == {r.id for r in rows if word in r.text.lower()} != set(), word
        for piece in ("cells", "atient", "protei"):  # the vocabulary: every word of the passages that holds the piece
            found = set(store.words_containing(f'"{piece}"', 10_000))
            assert found == {w for r in rows for w in substring_words([r.text]) if piece in w} != set(), piece
        for word in ("東京", "日本", "年"):  # too short for the trigram index: the CJK n-gram index
            assert {cid for cid, _ in store.gram_search([word], 10_000)} == {r.id for r in rows if word in r.text}, word
        vectors = VectorIndex.open(data_dir, store, spec.dim, writable=False)
        assert vectors.live_count == len(ids)
        in_hnsw = np.stack([np.asarray(vectors.vector(i)) for i in ids])  # as the hnsw file holds them
        assert ((in_hnsw * plain).sum(axis=1) / np.linalg.norm(in_hnsw, axis=1)).min() >= 0.9999
