"""The threaded embed/store stages of an index run: order, errors, timings."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.models import resolve_model
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.storage import Store, VectorIndex
from tests.conftest import make_pdf

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def _library(folder, n: int = 12):
    folder.mkdir()
    for i in range(n):
        pages = [" ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(40 + 10 * j)) + "." for j in range(1 + i % 3)]
        make_pdf(folder / f"doc{i:02d}.pdf", pages, title=f"Document {i}")
    return folder


class FailingEmbedder(Embedder):
    """Fails on its ``fail_on``-th batch of passages, like a GPU running out of memory."""

    fail_on = 3
    calls = 0

    def encode_passages(self, texts, ids=None):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("simulated embedding failure")
        return super().encode_passages(texts, ids)


def _stored(data_dir):
    with Store(data_dir.database, readonly=True) as store:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT c.id, c.text, c.embedding, d.title FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.id"
            ).all()
        return rows, store.known_documents()


def test_small_batches_keep_every_vector_with_its_chunk(tiny_model, data_dir, tmp_path):
    """Many batches in flight at once must still pair each chunk with its own vector."""
    lib = _library(tmp_path / "lib")
    spec = resolve_model(str(tiny_model))
    embedder = Embedder(spec, device="cpu")
    options = IndexOptions(model=str(tiny_model), device="cpu", batch_chunks=3, workers=2)
    report = Indexer(data_dir, options, embedder=embedder).run(add=[lib])

    assert report.added == 12 and not report.failed
    rows, known = _stored(data_dir)
    assert len(known) == 12
    assert report.chunks == len(rows) > 12
    stored = np.stack([np.frombuffer(r.embedding, dtype=np.float16).astype(np.float32) for r in rows])
    expected = embedder.encode_passages([f"{r.title}\n{r.text}" for r in rows])
    np.testing.assert_allclose(stored, expected, atol=2e-3)

    with Store(data_dir.database, readonly=True) as store:
        vectors = VectorIndex.open(data_dir, store, spec.dim, writable=False)
    assert vectors.live_count == len(rows)
    for i in (0, len(rows) // 2, len(rows) - 1):
        ids, scores = vectors.search(expected[i], 1)
        assert ids[0] == rows[i].id and scores[0] > 0.99


def test_report_says_where_the_time_went(tiny_model, data_dir, tmp_path):
    lib = _library(tmp_path / "lib", n=4)
    report = Indexer(data_dir, IndexOptions(model=str(tiny_model), device="cpu")).run(add=[lib])
    t = report.timings
    for stage in ("extract", "chunk", "tokenize", "forward", "store"):
        assert t[stage] > 0, stage
    assert t["forward"] < report.seconds


def test_an_embedding_failure_stops_the_run_and_the_next_run_embeds_what_is_left(tiny_model, data_dir, tmp_path):
    lib = _library(tmp_path / "lib")
    spec = resolve_model(str(tiny_model))
    options = IndexOptions(model=str(tiny_model), device="cpu", batch_chunks=3, workers=1)
    failing = FailingEmbedder(spec, device="cpu")
    with pytest.raises(RuntimeError, match="simulated embedding failure"):
        Indexer(data_dir, options, embedder=failing).run(add=[lib])
    rows, known = _stored(data_dir)
    with_vectors = [r for r in rows if r.embedding is not None]
    assert 0 < len(with_vectors) < len(rows)  # batches before the failure kept their vectors
    assert {r.id for r in with_vectors} == {r.id for r in rows[: len(with_vectors)]}  # oldest first

    report = Indexer(data_dir, options, embedder=Embedder(spec, device="cpu")).run()
    assert report.added == 12 - len(known)
    rows, known = _stored(data_dir)
    assert len(known) == 12 and all(r.embedding is not None for r in rows)
    assert report.embedded == len(rows) - len(with_vectors)  # nothing embedded twice


def test_progress_arrives_in_order_from_the_calling_thread(tiny_model, data_dir, tmp_path):
    """Front ends queue progress per sending thread: every event must come from one thread."""
    import threading

    lib = _library(tmp_path / "lib")
    events = []
    options = IndexOptions(model=str(tiny_model), device="cpu", batch_chunks=3)
    Indexer(data_dir, options, on_progress=lambda p: events.append((p.phase, p.files_done, threading.get_ident()))).run(add=[lib])
    phases = [e[0] for e in events]
    assert phases[-2:] == ["saving", "done"]
    indexing = [e for e in events if e[0] == "indexing"]
    assert indexing and indexing[-1][1] == 12
    assert [e[1] for e in indexing] == sorted(e[1] for e in indexing)
    assert {e[2] for e in events} == {threading.get_ident()}


def test_progress_counts_files_read_and_passages_embedded(tiny_model, data_dir, tmp_path):
    lib = _library(tmp_path / "lib")
    events = []
    options = IndexOptions(model=str(tiny_model), device="cpu", batch_chunks=3)
    report = Indexer(data_dir, options, on_progress=lambda p: events.append(dataclasses.replace(p))).run(add=[lib])
    indexing = [p for p in events if p.phase == "indexing"]
    rows, _ = _stored(data_dir)
    last = indexing[-1]
    assert (last.files_done, last.files_total) == (12, 12)
    assert last.chunks_done == last.chunks_total == len(rows) == report.embedded
    assert [p.chunks_done for p in indexing] == sorted(p.chunks_done for p in indexing)
    assert all(p.chunks_done <= p.chunks_total for p in indexing)
    assert last.files_per_s > 0 and last.files_eta_s == 0
    assert "read 12/12 files" in last.line() and f"embedded {len(rows)}/{len(rows)} passages" in last.line()


def test_a_passage_that_opens_with_the_title_is_embedded_without_a_second_copy(tiny_model, data_dir, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    make_pdf(lib / "paper.pdf", ["Gamma Rays in Cells. " + " ".join(WORDS * 3) + ".", "Second page " + " ".join(WORDS) + "."],
             title="Gamma rays in cells")
    spec = resolve_model(str(tiny_model))
    embedder = Embedder(spec, device="cpu")
    Indexer(data_dir, IndexOptions(model=str(tiny_model), device="cpu"), embedder=embedder).run(add=[lib])

    rows, _ = _stored(data_dir)
    assert len(rows) == 2 and rows[0].text.startswith("Gamma Rays in Cells.")
    stored = np.stack([np.frombuffer(r.embedding, dtype=np.float16).astype(np.float32) for r in rows])
    # Page 1 opens with the title: embedded as it is. Page 2 gets the title in front.
    expected = embedder.encode_passages([rows[0].text, "Gamma rays in cells\n" + rows[1].text])
    np.testing.assert_allclose(stored, expected, atol=2e-3)
    doubled = embedder.encode_passages(["Gamma rays in cells\n" + rows[0].text])[0]
    assert not np.allclose(stored[0], doubled, atol=2e-3)


class CpuModel:
    """A model on the CPU that costs ``seconds`` a passage: random unit vectors, no forward."""

    def __init__(self, inner: Embedder, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.spec, self.device, self.precision, self.name = inner.spec, "cpu", inner.precision, "a CPU"
        self.engine = inner.engine
        self.timings = {"tokenize": 0.0, "forward": 0.0}
        self.rng = np.random.default_rng(0)

    def encode_queries(self, texts):
        return self.encode_passages(texts)

    def encode_passages(self, texts, ids=None):
        time.sleep(self.seconds * len(texts))
        self.timings["forward"] += self.seconds * len(texts)
        v = self.rng.normal(size=(len(texts), self.spec.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("seconds, waits", [(0.0, False), (0.05, True)])
def test_on_a_cpu_only_a_model_costly_next_to_reading_waits_for_reading_to_end(tiny_model, data_dir, tmp_path,
                                                                              seconds, waits):
    """A first batch tells what the model costs against reading (worker seconds a passage): a cheap model embeds
    alongside the readers, a costly one waits for the last file so the library is keyword-searchable sooner."""
    lib = _library(tmp_path / "lib", n=60)
    model = CpuModel(Embedder(resolve_model(str(tiny_model)), device="cpu"), seconds)
    options = IndexOptions(model=str(tiny_model), device="cpu", workers=1, batch_chunks=16)
    report = Indexer(data_dir, options, embedder=model).run(add=[lib])
    assert report.added == 60 and report.embedded == report.chunks > 32
    assert ("waiting for reading" in report.timings) == waits


def test_a_passage_deleted_while_its_vector_goes_into_hnsw_stays_deleted(data_dir, tmp_path):
    """hnsw takes vectors outside the SQLite write lock: a commit replacing their file in between must not
    leave the old passages live in hnsw."""
    import queue
    import threading

    from desktop_search.index.input_ids import InputIdCache
    from desktop_search.index.streams import Counts, EmbeddedBatch, KeywordStream, StreamClock, VectorStream
    from tests.storage.conftest import MANIFEST, record

    rng = np.random.default_rng(0)
    store = Store(data_dir.database)
    store.check_manifest(MANIFEST)
    folder = store.add_folder("/library")
    old = record("/library/a.pdf", folder, 3, rng)
    for c in old.chunks:
        c.embedding = None
    store.commit_documents([old])
    old_ids = np.array([p.id for p in store.pending_chunks(0, 10)], dtype=np.int64)
    vectors = VectorIndex(MANIFEST.dim)
    lock, counts, clock = threading.Lock(), Counts(), StreamClock()
    keyword = KeywordStream(store, vectors, lock, counts, clock, 100, 60.0, on_commit=lambda: None,
                            on_record=lambda rec: None, input_ids=InputIdCache())
    add = vectors.add

    def replaced_meanwhile(ids, vecs):
        keyword.add(record("/library/a.pdf", folder, 2, rng), eager=True)  # the file changed: its passages go
        add(ids, vecs)

    vectors.add = replaced_meanwhile  # type: ignore[method-assign]
    inbox: queue.Queue[EmbeddedBatch | None] = queue.Queue()
    inbox.put(EmbeddedBatch(old_ids, rng.normal(size=(3, MANIFEST.dim)).astype(np.float32)))
    inbox.put(None)
    stream = VectorStream(store, vectors, data_dir, lock, inbox, counts, clock, save_interval_s=1e9)
    stream.run()
    assert stream.error is None and sorted(counts.deleted) == sorted(old_ids.tolist())
    assert len(store.fetch_chunks(range(1, 100))) == 2 and counts.embedded == 3
    assert vectors.live_count == 0 and all(vectors.vector(int(i)) is None for i in old_ids)
    store.close()
