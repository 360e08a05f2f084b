"""Passages an older recipe embedded get their new vector from the next index run, after every new passage,
their old vector serving searches until then; nothing else is embedded again."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.models import spec_from_folder
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.paths import DataPaths
from desktop_search.recipe import TitleRule, embedding_text, opens_with
from desktop_search.storage import Store, VectorIndex
from desktop_search.storage.passages import to_blob
from desktop_search.storage.schema import MetaKey
from tests.conftest import make_epub, make_pdf

DIM = 32


class RecordingEmbedder:
    """The tiny embedder, recording each batch of texts it is given."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def encode_passages(self, texts, ids=None):
        self.batches.append(list(texts))
        return self.inner.encode_passages(texts, ids)


@pytest.fixture(scope="module")
def tiny_embedder(tiny_model: Path) -> Embedder:
    return Embedder(spec_from_folder(tiny_model), device="cpu", precision="fp32")


def _index(paths: DataPaths, tiny_model: Path, embedder: RecordingEmbedder, *add: Path):
    options = IndexOptions(model=str(tiny_model), device="cpu", workers=1, precision="fp32")
    return Indexer(paths, options, embedder=embedder).run(list(add))


def _as_made_by_rule_1(paths: DataPaths, embedder: Embedder) -> dict[int, tuple[str, str]]:
    """Turn the index into one a schema-3 release before b91051d wrote: title-opening passages embedded
    with the title in front; returns those passages' (title, text) by id."""
    openers: dict[int, tuple[str, str]] = {}
    with closing(sqlite3.connect(paths.database)) as con, con:
        for cid, title, text in con.execute("SELECT c.id, d.title, c.text FROM chunks c JOIN documents d "
                                            "ON d.id = c.document_id").fetchall():
            if title and opens_with(text, title):
                openers[cid] = (title, text)
                old = embedder.encode_passages([embedding_text(title, text, True, TitleRule.ALWAYS)])[0]
                con.execute("UPDATE chunks SET embedding = ? WHERE id = ?", (to_blob(old), cid))
        con.execute("DROP TABLE reembed")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'title_rule'")
        con.execute("UPDATE meta SET value = json_set(value, '$.schema_version', 3) WHERE key = 'manifest'")
        con.execute("PRAGMA user_version = 3")
    for p in (paths.vectors, paths.vectors_meta):  # the hnsw cache is rebuilt from the (old) stored vectors
        p.unlink()
    return openers


def _vector(index: VectorIndex, cid: int) -> np.ndarray:
    vec = index.vector(cid)
    assert vec is not None, f"passage {cid} is not in the vector index"
    return vec


def _stored(paths: DataPaths, ids) -> dict[int, np.ndarray]:
    with closing(sqlite3.connect(paths.database)) as con:
        rows = con.execute(f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(ids))})", list(ids))
        return {cid: np.frombuffer(blob, dtype=np.float16).astype(np.float32) for cid, blob in rows}


def test_passages_of_an_older_title_rule_are_embedded_again_after_the_new_ones(
        data_dir, tmp_path: Path, tiny_model: Path, tiny_embedder: Embedder) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    make_pdf(lib / "comets.pdf", ["Comets and Meteors\nComets are icy bodies that warm near the sun.",
                                  "Meteors burn up in the air as shooting stars."], title="Comets and Meteors")
    make_epub(lib / "river.epub", [("The River", "A river runs to the sea.")], title="The River")
    make_pdf(lib / "plain.pdf", ["Orchards of apples and pears."], title="Fruit")
    recorder = RecordingEmbedder(tiny_embedder)
    _index(data_dir, tiny_model, recorder, lib)
    openers = _as_made_by_rule_1(data_dir, tiny_embedder)
    assert len(openers) == 2  # the first passage of comets.pdf and of river.epub
    old = _stored(data_dir, openers)

    with Store(data_dir.database, readonly=True) as store:  # the upgrade queues exactly them...
        assert {c.id for c in store.stale_chunks(0, 100)} == set(openers)
        searched = VectorIndex.open(data_dir, store, DIM, writable=False)  # ...and searches use their old vectors
        for cid, vec in old.items():
            assert np.allclose(_vector(searched, cid), vec, atol=1e-3)

    make_pdf(lib / "new.pdf", ["A new file about glaciers."], title="Ice")
    recorder.batches.clear()
    report = _index(data_dir, tiny_model, recorder)
    assert (report.added, report.updated, report.unchanged) == (1, 0, 3)
    assert report.embedded == 1 + len(openers)
    # New passages first, then the queued ones, from the text today's rule gives them: the passage alone.
    assert recorder.batches == [["Ice\nA new file about glaciers."], [text for _title, text in openers.values()]]

    new = _stored(data_dir, openers)
    saved = VectorIndex._load(data_dir, DIM)
    assert saved is not None
    for cid, (_title, text) in openers.items():
        want = tiny_embedder.encode_passages([text])[0]
        assert np.allclose(new[cid], want, atol=2e-3) and not np.allclose(new[cid], old[cid], atol=2e-3)
        assert np.allclose(_vector(saved, cid), want, atol=1e-5)  # the hnsw file has it too, under the same label
    with Store(data_dir.database) as store:
        assert store.reembed_waiting() == 0 and not store.stale_chunks(0, 100)
        assert store.get_meta(MetaKey.EMBEDDING_PRECISION) == "fp32,unknown"
        # The upgrade's record of the old vectors (torch, the only engine then), and today's fp32 engine.
        assert store.get_meta(MetaKey.EMBEDDING_ENGINE) == "onnx,torch"
    assert _index(data_dir, tiny_model, recorder).embedded == 0


def test_a_schema_3_index_of_today_s_rule_embeds_nothing_again(data_dir, tmp_path: Path, tiny_model: Path,
                                                               tiny_embedder: Embedder) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    make_epub(lib / "river.epub", [("The River", "A river runs to the sea.")], title="The River")
    recorder = RecordingEmbedder(tiny_embedder)
    _index(data_dir, tiny_model, recorder, lib)
    with closing(sqlite3.connect(data_dir.database)) as con, con:  # as today's release left it
        con.execute("DROP TABLE reembed")
        con.execute("DELETE FROM meta WHERE key = 'title_rule'")
        con.execute("PRAGMA user_version = 0")
    recorder.batches.clear()
    report = _index(data_dir, tiny_model, recorder)
    assert (report.unchanged, report.embedded, recorder.batches) == (1, 0, [])
    with Store(data_dir.database, readonly=True) as store:
        assert store.get_meta(MetaKey.TITLE_RULE) == "2" and store.reembed_waiting() == 0
