"""Bringing the index up to date with the library folders.

The run: take the writer lock, plan (crawl and compare with the store: see
:mod:`desktop_search.index.plan`), apply moves and deletions, then stream the
new and changed files through extraction workers (which also chunk them) and
commit their text, while the embedding stream follows behind and commits the
vectors (see :mod:`desktop_search.index.streams`). Work committed before a
crash or a cancel is kept; the next run picks up the rest, passages still
waiting for their vectors included.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop_search.checkpoints import checkpoint
from desktop_search.embed.engine import follow_index
from desktop_search.embed.models import ModelSpec, resolve_model
from desktop_search.errors import UserFacingError
from desktop_search.index.folders import load_folders_backup, remove_index_files, save_folders_backup
from desktop_search.index.input_ids import InputIdCache
from desktop_search.index.plan import RunPlan, plan_run
from desktop_search.index.progress import Phase, Progress, RateMeter, save_progress
from desktop_search.index.streams import (
    STORE_QUEUE,
    Counts,
    EmbeddedBatch,
    EmbedStream,
    KeywordStream,
    StreamClock,
    TimedEmbedder,
    VectorStream,
    record_of,
)
from desktop_search.ingest.chunking import ChunkJob, ChunkSettings
from desktop_search.ingest.extract.ocr import OcrOptions
from desktop_search.ingest.pool import DEFAULT_TIMEOUT_S, ExtractorPool
from desktop_search.paths import DataPaths, library_path
from desktop_search.storage import Manifest, Store, VectorIndex
from desktop_search.storage.lock import WriterLock
from desktop_search.storage.records import DocumentRecord
from desktop_search.storage.schema import DocStatus, MetaKey
from desktop_search.storage.topk_index import update_topk_index

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]

# An idle embedder gets a commit this small rather than wait for a full batch
# (the start of a run, or files arriving slower than they are embedded).
EAGER_CHUNKS = 32
# How often the main thread reports progress while it waits for the embedder.
PROGRESS_INTERVAL_S = 0.5
# How often progress is saved to the data dir for `status` in another process.
PUBLISH_INTERVAL_S = 2.0


@dataclass
class IndexOptions:
    model: str | None = None  # path or name; None = default
    extra_models: Sequence[str] = ()
    device: str = "auto"
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    workers: int | None = None  # extraction processes
    timeout_s: float = DEFAULT_TIMEOUT_S  # per file
    batch_chunks: int = 512  # passages committed together, and embedded together
    flush_interval_s: float = 2.0  # commit at least this often, so searches see progress
    save_interval_s: float = 60.0  # how often the hnsw file is saved mid-run, at most (streams.SAVE_SHARE)
    precision: str = "auto"  # engine.Precision
    engine: str = "auto"  # engine.Engine
    ocr: OcrOptions | None = field(default_factory=OcrOptions)  # None: pages without a text layer are not read


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    unchanged: int = 0
    chunks: int = 0  # passages committed (keyword-searchable)
    embedded: int = 0  # passages given their vector (this run's and any a killed run left)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line each, about the run as a whole
    skipped_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    slowest: tuple[str, float] | None = None  # the file that took longest to read, and its seconds
    # Seconds per stage of the new-file pipeline: extract and chunk (summed
    # over the worker processes, so they can exceed the wall time), wait (the
    # main thread waiting for extraction results), commit (text and full-text
    # rows), model (loading it), tokenize and forward (the embedder), store
    # (vectors: SQLite + hnsw add), hnsw and hnsw save (the graph's share of
    # store: adding, and saving mid-run), store wait (the embedder waiting for
    # the store). The stages overlap; see benchmarks/bench_index.py.
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def build_manifest(spec: ModelSpec, chunking: ChunkSettings) -> Manifest:
    return Manifest(
        model_id=spec.id, dim=spec.dim, pooling=spec.pooling,
        max_tokens=min(chunking.max_tokens, spec.max_tokens), overlap_tokens=chunking.overlap_tokens,
        title_prefix=chunking.title_prefix, passage_prefix=spec.passage_prefix, query_prefix=spec.query_prefix,
    )


class Indexer:
    """One indexing run over the library; reusable by the CLI and the GUI worker."""

    def __init__(
        self,
        paths: DataPaths,
        options: IndexOptions | None = None,
        embedder: TextEmbedder | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
    ) -> None:
        self.paths = paths
        self.options = options or IndexOptions()
        self._embedder = embedder
        self._loaded_precision: str | None = None  # the precision asked of the embedder this Indexer loaded
        self._precision = self.options.precision  # for this run: the option, or the index's own (see _update)
        self._on_progress = on_progress or (lambda p: None)
        self.cancel = cancel or threading.Event()
        self.pause = pause or threading.Event()
        self._published = 0.0  # when progress was last saved for `status`

    # -- public ----------------------------------------------------------------

    def run(
        self,
        add: Sequence[str | os.PathLike[str]] = (),
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        rebuild: bool = False,
    ) -> IndexReport:
        """Add folders (if any) and bring every library folder up to date."""
        start = time.monotonic()
        # Find the model first: a rebuild must not throw the index away only
        # to find the new model missing.
        spec = resolve_model(self.options.model, self.options.extra_models)
        with WriterLock(self.paths.lock):
            if rebuild:
                folders_before = self._existing_folders()
                remove_index_files(self.paths)
            with Store(self.paths.database) as store:
                store.check_manifest(build_manifest(spec, self.options.chunking))
                if rebuild:
                    for f in folders_before:
                        store.add_folder(f["path"], f["include"], f["exclude"])
                for folder in add:
                    p = library_path(folder)
                    if not os.path.isdir(p):
                        raise UserFacingError(f"{p} is not a folder.")
                    store.add_folder(p, include, exclude)
                save_folders_backup(self.paths, store.folders())
                report = self._update(store, spec)
        report.seconds = time.monotonic() - start
        return report

    # -- steps ---------------------------------------------------------------------

    def _existing_folders(self) -> list[dict]:
        if not self.paths.database.exists():
            return []
        try:
            store = Store(self.paths.database)
        except UserFacingError:
            # A damaged store is exactly what a rebuild replaces; its folder list lives on in the backup.
            return load_folders_backup(self.paths)
        with store:
            return store.folders()

    def _emit(self, p: Progress) -> None:
        if p.phase == Phase.INDEXING:
            now = time.monotonic()
            if now - self._published >= PUBLISH_INTERVAL_S:
                self._published = now
                save_progress(self.paths.progress, p)
        elif p.phase == Phase.DONE:
            self.paths.progress.unlink(missing_ok=True)
        try:
            self._on_progress(p)
        except Exception:  # a broken progress display must not stop indexing
            logger.exception("Progress callback failed")

    def _update(self, store: Store, spec: ModelSpec) -> IndexReport:
        self._emit(Progress(Phase.SCANNING))
        plan = plan_run(store)
        checkpoint("planned")
        for folder in plan.skipped_folders:
            # An unplugged drive is not a deleted library: the plan keeps its documents.
            logger.warning("Folder %s is not available; keeping its documents", folder)
        report = IndexReport(unchanged=plan.unchanged, skipped_folders=plan.skipped_folders)
        # An update embeds as the index's vectors were made, unless told otherwise (as it keeps the model).
        self._precision, note = follow_index(self.options.precision, store.get_meta(MetaKey.EMBEDDING_PRECISION),
                                             query=False, engine=self.options.engine, device=self.options.device)
        for k, size, mtime in plan.touches:
            store.touch_document(k.id, size, mtime)
        for k, path, fid, size, mtime in plan.moves:
            store.move_document(k.id, path, fid, size, mtime)
            logger.info("Moved %s -> %s (embeddings kept)", k.path, path)
        report.unchanged += len(plan.touches)
        report.moved = len(plan.moves)

        embedded, total = store.embedding_counts()
        # Passages without a vector, and (after them) passages an older recipe embedded.
        waiting = total - embedded + store.reembed_waiting()
        if plan.deletes or plan.todo or waiting or not VectorIndex.file_looks_sound(self.paths):
            vectors = VectorIndex.open(self.paths, store, spec.dim)
            if plan.deletes:
                vectors.mark_deleted(store.delete_documents([k.id for k in plan.deletes]))
                report.deleted = len(plan.deletes)
            if plan.todo or waiting:
                self._index_files(store, spec, vectors, plan, report, waiting)
                if note and report.embedded:
                    report.notes.append(note)
            self._emit(Progress(Phase.SAVING))
            update_topk_index(self.paths, store)  # before the save, which clears the tombstones it reads
            vectors.save_if_due(self.paths, store)
        else:  # an index from before the top-k index gets one here
            update_topk_index(self.paths, store, on_work=lambda: self._emit(Progress(Phase.SAVING)))
        done = Progress(Phase.DONE, files_done=len(plan.todo), files_total=len(plan.todo), chunks_done=report.embedded,
                        chunks_total=report.embedded, failed=len(report.failed))
        self._emit(done)
        return report

    def embedder(self, spec: ModelSpec) -> TextEmbedder:
        """The model, loaded once per Indexer (the GUI reuses it across runs); called on the embed thread."""
        if self._embedder is None or (self._loaded_precision not in (None, self._precision)):
            from desktop_search.embed.embedder import Embedder

            self._embedder = Embedder(spec, device=self.options.device, precision=self._precision,
                                      engine=self.options.engine)
            self._loaded_precision = self._precision
        return self._embedder

    def _index_files(self, store: Store, spec: ModelSpec, vectors: VectorIndex, plan: RunPlan, report: IndexReport,
                     waiting: int) -> None:
        """Read files into the store on this thread while the embed and vector threads follow behind."""
        manifest = build_manifest(spec, self.options.chunking)
        job = ChunkJob(str(spec.path), ChunkSettings(manifest.max_tokens, manifest.overlap_tokens, manifest.title_prefix),
                       manifest.passage_prefix, input_max_tokens=spec.max_tokens)
        input_ids = InputIdCache(handed_over=store.max_chunk_id())  # passages of earlier runs: tokenized
        folder_of = dict(plan.todo)
        counts = Counts(waiting_at_start=waiting)
        clock = StreamClock()
        write_lock = threading.Lock()
        handoff: queue.Queue[EmbeddedBatch | None] = queue.Queue(maxsize=STORE_QUEUE)
        embed = EmbedStream(store, lambda: self._timed_embedder(spec, clock), manifest.title_prefix,
                            self.options.batch_chunks, handoff, clock, counts, self.cancel, self.pause, input_ids)
        store_vectors = VectorStream(store, vectors, self.paths, write_lock, handoff, counts, clock,
                                     self.options.save_interval_s)
        keyword = KeywordStream(store, vectors, write_lock, counts, clock, self.options.batch_chunks,
                                self.options.flush_interval_s, on_commit=embed.wake.set,
                                on_record=lambda rec: self._note(rec, plan, report), input_ids=input_ids)
        progress = Progress(Phase.INDEXING, files_total=len(plan.todo))
        meter = RateMeter()
        last_emit = 0.0

        def emit(force: bool = False) -> None:
            nonlocal last_emit
            if force or time.monotonic() - last_emit >= PROGRESS_INTERVAL_S:
                last_emit = time.monotonic()
                self._emit(meter.update(progress, counts))

        def check() -> None:
            for stream in (embed, store_vectors):
                if stream.error is not None:
                    raise stream.error

        # The pool starts before the model loads (in the embed thread): the
        # first files are keyword-searchable while the model is still loading.
        pool = ExtractorPool(workers=self.options.workers or _default_workers(self.options),
                             timeout_s=self.options.timeout_s, chunk_job=job, ocr=self.options.ocr)
        embed.start()
        store_vectors.start()
        try:
            results = pool.imap_unordered([p for p, _ in plan.todo])
            while True:
                t0 = time.perf_counter()
                result = next(results, None)
                clock.add("wait", time.perf_counter() - t0)
                if result is None:
                    break
                checkpoint("extracting")
                check()
                clock.add("extract", result.seconds - result.chunk_seconds)
                clock.add("chunk", result.chunk_seconds)
                if report.slowest is None or result.seconds > report.slowest[1]:
                    report.slowest = (result.path, result.seconds)
                attempt = plan.retries.get(result.path, 1)
                keyword.add(record_of(result, folder_of[result.path], attempt),
                            eager=embed.idle.is_set() and keyword.pending_chunks >= EAGER_CHUNKS,
                            input_ids=result.input_ids)
                progress.current = result.path
                if result.document is not None:
                    progress.ocr_pages += result.document.ocr_pages
                emit()
                while self.pause.is_set() and not self.cancel.is_set():
                    self.cancel.wait(0.2)
                if self.cancel.is_set():
                    break  # after at least one file, so a cancelled run still makes progress
            keyword.flush()
            pool.close()
            embed.reading_done.set()
            embed.wake.set()
            emit(force=True)
            while embed.is_alive():
                embed.join(PROGRESS_INTERVAL_S)
                check()
                emit()
            store_vectors.join()
            check()
            report.cancelled = self.cancel.is_set()
            emit(force=True)
        finally:
            pool.close()
            embed.stop.set()
            embed.reading_done.set()
            embed.wake.set()
            embed.join()
            store_vectors.join()
            for key, value in clock.seconds.items():
                report.timings[key] += value
            report.embedded += counts.embedded
            if counts.embedded and self._embedder is not None:
                store.record_arithmetic(self._embedder.engine, self._embedder.precision)

    def _timed_embedder(self, spec: ModelSpec, clock: StreamClock) -> TimedEmbedder:
        """The model, loaded on the embed thread; its seconds go to the report."""
        t0 = time.perf_counter()
        embedder = self.embedder(spec)
        clock.add("model", time.perf_counter() - t0)
        return TimedEmbedder(embedder, clock)

    @staticmethod
    def _note(rec: DocumentRecord, plan: RunPlan, report: IndexReport) -> None:
        """A committed file, in the run's report."""
        report.chunks += len(rec.chunks)
        if rec.status == DocStatus.FAILED:
            report.failed.append((rec.path, rec.error or "unknown error"))
            return
        if rec.error:
            report.warnings.append((rec.path, rec.error))
        if rec.path in plan.replacing:
            report.updated += 1
        else:
            report.added += 1


def _default_workers(options: IndexOptions) -> int | None:
    """On a GPU, extraction is the bottleneck: use every core but the two that
    feed the GPU and store. On a CPU the model needs the cores (pool default).
    Known without importing torch unless a GPU may be there."""
    from desktop_search.embed.engine import choose
    from desktop_search.embed.hardware import cpu_cores

    if options.device == "cpu" or choose(options.engine, options.device, options.precision).device == "cpu":
        return None
    return max(2, cpu_cores() - 2)
