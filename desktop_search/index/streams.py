"""The two streams of an index run: text first, vectors behind.

Who runs what, and what crosses between them:

- **main thread** (:class:`KeywordStream`): takes :class:`ExtractionResult`
  (extracted *and* chunked in the worker processes), turns each into a
  :class:`DocumentRecord` and commits batches of them with their passages and
  full-text rows but no vectors. A file is keyword-searchable from then on.
- **"index-embed" thread** (:class:`EmbedStream`): reads passages still
  waiting for a vector from the store, oldest first, as a
  :class:`PendingBatch`, embeds them, and hands an :class:`EmbeddedBatch` on.
  It loads the model itself, so reading starts while the model loads. On
  a CPU it then embeds a first small batch and, if the model costs much next
  to reading (the model an index is made with does), waits until every file
  is read: the model and the readers would share the same cores, and reading
  first makes the whole library keyword-searchable in the time reading alone
  takes, for about the same total time. A model that costs little next to
  reading goes on alongside, using what the readers leave of the cores. On
  a GPU it embeds from the first commit. Once every file is read and every
  passage has a vector, it embeds again the passages an older recipe made
  (``Store.stale_chunks``; their old vectors serve meanwhile).
- **"index-vectors" thread** (:class:`VectorStream`): stores each
  :class:`EmbeddedBatch` (one transaction) and adds it to the hnsw index.

The store is the queue between the first two, so a kill -9 at any moment
loses nothing: committed passages without a vector are what the next run's
embed stream starts with, and a vector is stored only into a passage that has
none (:meth:`Store.store_embeddings`), so nothing is embedded twice. Beside
it, an :class:`InputIdCache` hands the passages' model input ids (made by the
extraction workers) from the first stream to the second, so the main process
does not tokenize them again; a passage whose ids it does not hold (left by a
killed run, or over its memory bound) is tokenized from its stored text.
The streams' SQLite writes take one lock; the hnsw index has its own, so a
text commit does not wait for vectors going into hnsw. A passage a commit
deletes (its file replaced) while its vector is on the way in is marked
deleted again once the vector is in (``Counts.deleted``).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop_search.checkpoints import checkpoint
from desktop_search.embed.hardware import cpu_cores
from desktop_search.embed.tokenizer import PassageIds
from desktop_search.failures import FailureCode
from desktop_search.index.input_ids import InputIdCache
from desktop_search.ingest.chunking import embedding_text
from desktop_search.ingest.extract import kind_of
from desktop_search.ingest.pool import ExtractionResult
from desktop_search.paths import DataPaths
from desktop_search.storage import Store, VectorIndex
from desktop_search.storage.records import ChunkRecord, DocumentRecord, PendingChunk
from desktop_search.storage.schema import DocStatus

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder

logger = logging.getLogger(__name__)

# Embedded batches waiting to be stored: the model goes on with the next
# batches while SQLite and hnsw take the last ones, all that wait at once.
STORE_QUEUE = 8
# On a CPU the embed stream embeds this many passages alongside reading to see what the model costs,
PROBE_PASSAGES = 32
# and goes on alongside if a passage costs it (forward seconds x cores) at most this share of what reading it
# costs the workers: then it barely slows reading. The default model costs some 20 times reading on a CPU;
# the benchmarks' free forward a fifth.
CHEAP_MODEL = 0.5
# A mid-run save writes the whole hnsw file and syncs it, under the write lock:
# 1.8 GB and seconds at a million passages. It is saved at most this share of
# the time (a crash costs the inserts since, redone from SQLite at the next open).
SAVE_SHARE = 0.05


@dataclass(frozen=True)
class PendingBatch:
    """Committed passages without vectors, oldest first, with their embedding input (and its ids, where known)."""

    ids: np.ndarray
    texts: list[str]
    input_ids: list[np.ndarray | None]  # the workers' model input ids, None where the model tokenizes the text
    replace: bool = False  # passages with an old recipe's vector, which the new one replaces


@dataclass(frozen=True)
class EmbeddedBatch:
    ids: np.ndarray
    vectors: np.ndarray
    replace: bool = False


@dataclass
class Counts:
    """What the streams have done this run; written by one thread each, read by the main thread."""

    files_done: int = 0
    passages_committed: int = 0
    embedded: int = 0
    waiting_at_start: int = 0  # passages a killed or cancelled run left without vectors, and those queued for a new one
    failed: int = 0
    embedding_since: float | None = None  # time.monotonic() when the first batch went to the model
    deleted: list[int] = field(default_factory=list)  # passages this run's commits deleted, under the write lock


@dataclass
class StreamClock:
    """Seconds per stage (see ``IndexReport.timings``), summed from several threads."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds


class TimedEmbedder:
    """An embedder whose tokenize/forward seconds (``Embedder.timings``) go to the run's clock."""

    def __init__(self, embedder: TextEmbedder, clock: StreamClock) -> None:
        self.embedder = embedder
        self.device = embedder.device
        self.clock = clock
        self._seen = dict(embedder.timings)

    def encode_passages(self, texts: list[str], ids: list[np.ndarray | None] | None = None) -> np.ndarray:
        vecs = self.embedder.encode_passages(texts, ids)
        for key, value in self.embedder.timings.items():
            self.clock.add(key, value - self._seen.get(key, 0.0))
            self._seen[key] = value
        return vecs


def _words(result: ExtractionResult) -> list[str] | None:
    """The vocabulary words a worker sent (one a line), or None when it sent none (the store finds them)."""
    if result.words is None:
        return None
    return result.words.split("\n") if result.words else []


def record_of(result: ExtractionResult, folder_id: int, attempt: int) -> DocumentRecord:
    """One file's outcome as a store record: its passages, or its failure."""
    path = result.path
    doc = result.document
    if doc is None:
        logger.warning("Could not index %s: %s", path, result.error)
        try:
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = 0, 0
        return DocumentRecord(path=path, folder_id=folder_id, kind=kind_of(path) or "?", size=size, mtime_ns=mtime,
                              hash="", title=Path(path).stem, author=None, status=DocStatus.FAILED, error=result.error,
                              attempts=attempt, failure=result.failure or FailureCode.UNREADABLE)
    chunks = result.chunks or []
    rec = DocumentRecord(
        path=path, folder_id=folder_id, kind=doc.kind, size=doc.size, mtime_ns=doc.mtime_ns, hash=doc.hash,
        title=doc.title, author=doc.author, status=DocStatus.INDEXED, error=doc.warning, pages=doc.pages, lang=doc.lang,
        failure=doc.warning_code, words=_words(result),
        chunks=[
            ChunkRecord(ordinal=c.ordinal, text=c.text, char_start=c.char_start, char_end=c.char_end, page=c.page,
                        page_label=c.page_label, section=c.section, href=c.href, ocr=c.ocr)
            for c in chunks
        ],
    )
    if not chunks:
        rec.status, rec.error, rec.failure, rec.attempts = DocStatus.FAILED, "no text found", FailureCode.NO_TEXT, attempt
    return rec


class KeywordStream:
    """Main thread: commits read files, with their passages and full-text rows, in batches."""

    def __init__(self, store: Store, vectors: VectorIndex, write_lock: threading.Lock, counts: Counts,
                 clock: StreamClock, batch_chunks: int, flush_interval_s: float, on_commit: Callable[[], None],
                 on_record: Callable[[DocumentRecord], None], input_ids: InputIdCache) -> None:
        self.store = store
        self.vectors = vectors
        self.write_lock = write_lock
        self.counts = counts
        self.clock = clock
        self.batch_chunks = batch_chunks
        self.flush_interval_s = flush_interval_s
        self.on_commit = on_commit  # wakes the embed stream
        self.on_record = on_record  # the run's report
        self.input_ids = input_ids  # handed to the embed stream once committed
        self._pending: list[DocumentRecord] = []
        self._pending_ids: list[PassageIds | None] = []
        self._pending_chunks = 0
        self._last_flush = time.monotonic()

    @property
    def pending_chunks(self) -> int:
        return self._pending_chunks

    def add(self, rec: DocumentRecord, eager: bool, input_ids: PassageIds | None = None) -> None:
        """Queue one file (with its passages' model input, if known); commit when the batch is full, old, or
        ``eager`` (the embedder waits)."""
        self._pending.append(rec)
        self._pending_ids.append(input_ids)
        self._pending_chunks += len(rec.chunks)
        if (self._pending_chunks >= self.batch_chunks or eager
                or time.monotonic() - self._last_flush >= self.flush_interval_s):
            self.flush()

    def flush(self) -> None:
        batch, self._pending, self._pending_chunks = self._pending, [], 0
        batch_ids, self._pending_ids = self._pending_ids, []
        self._last_flush = time.monotonic()
        if not batch:
            return
        t0 = time.perf_counter()
        with self.write_lock:
            _, gone = self.store.commit_documents(batch)
            self.vectors.mark_deleted(gone)
            self.counts.deleted.extend(gone)
        for rec, input_ids in zip(batch, batch_ids, strict=True):
            if input_ids is not None and rec.first_chunk_id is not None and len(rec.chunks) == len(input_ids):
                self.input_ids.put(rec.first_chunk_id, input_ids)
            if rec.first_chunk_id is not None:
                self.input_ids.handed_over = max(self.input_ids.handed_over, rec.first_chunk_id + len(rec.chunks) - 1)
        self.clock.add("commit", time.perf_counter() - t0)
        for rec in batch:
            self.on_record(rec)
        self.counts.files_done += len(batch)
        self.counts.passages_committed += sum(len(r.chunks) for r in batch)
        self.counts.failed += sum(r.status == DocStatus.FAILED for r in batch)
        self.on_commit()


class EmbedStream(threading.Thread):
    """Embeds waiting passages oldest first, until reading is done and none wait."""

    def __init__(self, store: Store, load_embedder: Callable[[], TimedEmbedder], title_prefix: bool,
                 batch_chunks: int, out: queue.Queue[EmbeddedBatch | None], clock: StreamClock,
                 counts: Counts, cancel: threading.Event, pause: threading.Event, input_ids: InputIdCache) -> None:
        super().__init__(name="index-embed", daemon=True)
        self.store = store
        self.input_ids = input_ids
        self.load_embedder = load_embedder
        self.title_prefix = title_prefix
        self.batch_chunks = batch_chunks
        self.out = out
        self.clock = clock
        self.counts = counts
        self.cancel = cancel
        self.pause = pause
        self.reading_done = threading.Event()
        self.stop = threading.Event()  # the run failed elsewhere
        self.wake = threading.Event()
        self.idle = threading.Event()  # waiting for passages to embed
        self.error: BaseException | None = None
        self._after = 0  # highest id handed on; the store thread may not have stored it yet
        self._stale_after = 0  # the same, for passages embedded again

    def run(self) -> None:
        try:
            embedder = self.load_embedder()
            if embedder.device.startswith("cpu") and not self._cheap_next_to_reading(embedder):
                t0 = time.perf_counter()
                while not self._reading_over():
                    self.reading_done.wait(0.2)
                self.clock.add("waiting for reading", time.perf_counter() - t0)
            while not (self.cancel.is_set() or self.stop.is_set()):
                if self.pause.is_set():
                    self.cancel.wait(0.2)
                    continue
                done = self.reading_done.is_set()  # read before looking, so no last commit is missed
                batch = self._next(upto=None if done else self.input_ids.handed_over)
                if batch is None and done:
                    batch = self._next_stale()
                if batch is None:
                    if done:
                        return
                    # An idle GPU gets small commits; a CPU, whose model shares the cores, full ones.
                    if not embedder.device.startswith("cpu"):
                        self.idle.set()
                    self.wake.wait(0.5)
                    self.wake.clear()
                    self.idle.clear()
                    continue
                self._embed(embedder, batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
            self.error = exc
        finally:
            self.out.put(None)

    def _reading_over(self) -> bool:
        return self.reading_done.is_set() or self.cancel.is_set() or self.stop.is_set()

    def _embed(self, embedder: TimedEmbedder, batch: PendingBatch) -> float:
        """Embed a batch and hand it to the vector stream; returns the seconds the model took."""
        checkpoint("embedding")
        if self.counts.embedding_since is None:
            self.counts.embedding_since = time.monotonic()
        t0 = time.perf_counter()
        vecs = embedder.encode_passages(batch.texts, batch.input_ids)
        t1 = time.perf_counter()
        self._put(EmbeddedBatch(batch.ids, vecs, batch.replace))
        self.clock.add("store wait", time.perf_counter() - t1)
        return t1 - t0

    def _cheap_next_to_reading(self, embedder: TimedEmbedder) -> bool:
        """Whether the model (on a CPU) costs little next to reading; embeds a first small batch to tell."""
        self.idle.set()  # the text stream commits a small batch for it
        while self.counts.passages_committed < PROBE_PASSAGES and not self._reading_over():
            self.wake.wait(0.2)
            self.wake.clear()
        self.idle.clear()
        batch = None if self._reading_over() else self._next(PROBE_PASSAGES, self.input_ids.handed_over)
        if batch is None:
            return True  # reading is over: nothing left to weigh against
        model = self._embed(embedder, batch) * cpu_cores() / len(batch.ids)
        read = (self.clock.seconds["extract"] + self.clock.seconds["chunk"]) / max(1, self.counts.passages_committed)
        cheap = model <= CHEAP_MODEL * read
        logger.info("The model costs %.2f ms of CPU a passage, reading %.2f ms: embedding %s", 1000 * model,
                    1000 * read, "alongside reading" if cheap else "once every file is read")
        return cheap

    def _next(self, limit: int | None = None, upto: int | None = None) -> PendingBatch | None:
        rows = self.store.pending_chunks(self._after, limit or self.batch_chunks, upto)
        if not rows:
            return None
        self._after = rows[-1].id
        return self._batch(rows)

    def _next_stale(self) -> PendingBatch | None:
        """Passages due for a new vector, once every new passage has one."""
        rows = self.store.stale_chunks(self._stale_after, self.batch_chunks)
        if not rows:
            return None
        self._stale_after = rows[-1].id
        return self._batch(rows, replace=True)

    def _batch(self, rows: list[PendingChunk], replace: bool = False) -> PendingBatch:
        texts = [embedding_text(r.title, r.text, self.title_prefix) for r in rows]
        ids = np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows))
        # Queued passages were committed by an earlier run: no worker made their ids.
        input_ids: list[np.ndarray | None] = [None] * len(rows) if replace else self.input_ids.take(ids)
        return PendingBatch(ids, texts, input_ids, replace)

    def _put(self, item: EmbeddedBatch) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


class VectorStream(threading.Thread):
    """Stores embedded batches and adds them to the hnsw index, in the order they come."""

    def __init__(self, store: Store, vectors: VectorIndex, paths: DataPaths, write_lock: threading.Lock,
                 inbox: queue.Queue[EmbeddedBatch | None], counts: Counts, clock: StreamClock,
                 save_interval_s: float) -> None:
        super().__init__(name="index-vectors", daemon=True)
        self.store = store
        self.vectors = vectors
        self.paths = paths
        self.write_lock = write_lock
        self.inbox = inbox
        self.counts = counts
        self.clock = clock
        self.save_interval_s = save_interval_s
        self.error: BaseException | None = None

    def run(self) -> None:
        last_save, save_s = time.monotonic(), 0.0
        end = False
        while not end:
            batches, end = self._waiting()
            if self.error is not None or not batches:
                continue  # drain, so the embed stream never blocks on a dead consumer
            try:
                t0 = time.perf_counter()
                with self.write_lock:
                    kept = [self._stored(b) for b in batches]
                    deleted_before = len(self.counts.deleted)
                ids = np.concatenate([b.ids for b in kept])
                # hnsw has its own lock (a replaced vector is updated in place): commits go on meanwhile. A passage
                # a commit deleted since it was stored is deleted in hnsw again, now that it is in.
                t1 = time.perf_counter()
                self.vectors.add_then_delete(ids, np.concatenate([b.vectors for b in kept]),
                                             partial(self._deleted_since, deleted_before))
                self.clock.add("hnsw", time.perf_counter() - t1)
                with self.write_lock:
                    if time.monotonic() - last_save >= max(self.save_interval_s, save_s / SAVE_SHARE):
                        t1 = time.perf_counter()
                        self.vectors.save(self.paths)
                        save_s = time.perf_counter() - t1
                        self.clock.add("hnsw save", save_s)
                        last_save = time.monotonic()
                self.counts.embedded += len(ids)
                self.clock.add("store", time.perf_counter() - t0)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.error = exc

    def _waiting(self) -> tuple[list[EmbeddedBatch], bool]:
        """The next batch and all queued behind it, and whether the end came. On a GPU the model fills
        several batches while a commit of text holds the write lock: they are stored after one wait and go
        into hnsw in one call (spread over the cores), not one wait and one call each."""
        got = [self.inbox.get()]
        while got[-1] is not None:
            try:
                got.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return [b for b in got if b is not None], got[-1] is None

    def _stored(self, batch: EmbeddedBatch) -> EmbeddedBatch:
        """Store a batch's vectors (under the write lock); the part stored, for hnsw."""
        store = self.store.replace_embeddings if batch.replace else self.store.store_embeddings
        took = store(batch.ids, batch.vectors)
        if len(took) == len(batch.ids):
            return batch
        keep = np.isin(batch.ids, took)
        return EmbeddedBatch(batch.ids[keep], batch.vectors[keep], batch.replace)

    def _deleted_since(self, seen: int) -> list[int]:
        """Passages this run's commits have deleted since the first ``seen`` of them."""
        with self.write_lock:
            return self.counts.deleted[seen:]
