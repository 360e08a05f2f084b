"""Bringing the index up to date with the library folders.

The run: take the writer lock, crawl, compare with the store (size and mtime
first, a content hash to confirm), apply moves and deletions, then stream the
new and changed files through extraction workers, the chunker and the
embedder, committing each batch of files in one transaction. Work committed
before a crash or a cancel is kept; the next run picks up the rest.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from desktop_search.checkpoints import checkpoint
from desktop_search.chunking import ChunkSettings, Chunker
from desktop_search.crawl import crawl
from desktop_search.errors import UserFacingError
from desktop_search.extract import kind_of
from desktop_search.extract.ocr import OcrOptions
from desktop_search.extract.pool import (
    DEFAULT_TIMEOUT_S,
    MAX_ATTEMPTS,
    ExtractionResult,
    ExtractorPool,
    hash_file,
    is_transient,
)
from desktop_search.models import ModelSpec, resolve_model
from desktop_search.paths import DataPaths, library_path
from desktop_search.progress import Progress, RateMeter
from desktop_search.storage import Manifest, Store, VectorIndex
from desktop_search.storage.database import ChunkRecord, DocumentRecord, KnownDocument
from desktop_search.storage.files import atomic_write_bytes
from desktop_search.storage.lock import WriterLock
from desktop_search.storage.vectors import remove_files

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]

# Batches handed to the embed/store threads and not yet stored. Two let the
# reader chunk batch N+2 while N+1 is embedded and N is committed.
MAX_IN_FLIGHT = 2
# An idle embedder takes a batch this small rather than wait for a full one
# (the start of a run, or files arriving slower than they are embedded).
EAGER_CHUNKS = 32


@dataclass
class IndexOptions:
    model: str | None = None  # path or name; None = default
    extra_models: Sequence[str] = ()
    device: str = "auto"
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    workers: int | None = None  # extraction processes
    timeout_s: float = DEFAULT_TIMEOUT_S  # per file
    batch_chunks: int = 512  # chunks embedded and committed together
    flush_interval_s: float = 2.0  # commit at least this often, so searches see progress
    save_interval_s: float = 60.0  # how often the hnsw file is saved mid-run
    quantize: bool = False
    ocr: OcrOptions | None = field(default_factory=OcrOptions)  # None: pages without a text layer are not read


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    skipped_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    slowest: tuple[str, float] | None = None  # the file that took longest to read, and its seconds
    # Seconds per stage of the new-file pipeline: extract (summed over the
    # workers, so it can exceed the wall time), wait (for extraction results),
    # chunk, tokenize, forward, store (commit + hnsw add), stall (the reader
    # waiting for the embedder). The stages overlap; see benchmarks/bench_index.py.
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class _Plan:
    todo: list[tuple[str, int]] = field(default_factory=list)  # (path, folder id)
    replacing: set[str] = field(default_factory=set)
    moves: list[tuple[KnownDocument, str, int, int, int]] = field(default_factory=list)
    touches: list[tuple[KnownDocument, int, int]] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)  # path -> attempt number
    deletes: list[KnownDocument] = field(default_factory=list)
    unchanged: int = 0
    skipped_folders: list[str] = field(default_factory=list)


def build_manifest(spec: ModelSpec, chunking: ChunkSettings) -> Manifest:
    return Manifest(
        model_id=spec.id, dim=spec.dim, pooling=spec.pooling,
        max_tokens=min(chunking.max_tokens, spec.max_tokens), overlap_tokens=chunking.overlap_tokens,
        title_prefix=chunking.title_prefix, passage_prefix=spec.passage_prefix, query_prefix=spec.query_prefix,
    )


def remove_index_files(paths: DataPaths) -> None:
    """Delete the database and vectors (for --rebuild or a damaged store)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(paths.database) + suffix).unlink(missing_ok=True)
    remove_files(paths)


def save_folders_backup(paths: DataPaths, folders: Sequence[dict]) -> None:
    """Keep the library folder list outside the database (see :meth:`Indexer._existing_folders`)."""
    keep = [{"path": f["path"], "include": f["include"], "exclude": f["exclude"]} for f in folders]
    try:
        # ASCII JSON escapes lone surrogates, so a folder name that is not UTF-8 survives the round trip.
        atomic_write_bytes(paths.folders_backup, json.dumps(keep).encode("ascii"))
    except OSError as exc:  # a nicety: the index itself is fine without it
        logger.warning("Cannot save the folder list backup: %s", exc)


def load_folders_backup(paths: DataPaths) -> list[dict]:
    try:
        return json.loads(paths.folders_backup.read_bytes())
    except (OSError, ValueError):
        logger.warning("No readable folder list backup at %s", paths.folders_backup)
        return []


def remove_folder(paths: DataPaths, folder: str) -> int:
    """Take a library folder and its documents out of the index; returns the documents removed."""
    target = library_path(folder)
    with WriterLock(paths.lock):
        store = Store(paths.database)
        try:
            known = [f["path"] for f in store.folders()]
            if target not in known:
                raise UserFacingError(f"{target} is not in the library. Library folders: {', '.join(known) or 'none'}.")
            n, gone = store.remove_folder(target)
            save_folders_backup(paths, store.folders())
            manifest = store.manifest()
            if manifest is not None and gone:
                vectors = VectorIndex.open(paths, store, manifest.dim)
                vectors.mark_deleted(gone)
                vectors.save(paths)
                store.clear_tombstones(vectors.max_id)
        finally:
            store.close()
    return n


class Indexer:
    """One indexing run over the library; reusable by the CLI and the GUI worker."""

    def __init__(
        self,
        paths: DataPaths,
        options: IndexOptions | None = None,
        embedder: object | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
    ) -> None:
        self.paths = paths
        self.options = options or IndexOptions()
        self._embedder = embedder
        self._on_progress = on_progress or (lambda p: None)
        self.cancel = cancel or threading.Event()
        self.pause = pause or threading.Event()

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
            store = Store(self.paths.database)
            try:
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
            finally:
                store.close()
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
        try:
            return store.folders()
        finally:
            store.close()

    def _emit(self, p: Progress) -> None:
        try:
            self._on_progress(p)
        except Exception:  # noqa: BLE001 - a broken progress display must not stop indexing
            logger.exception("Progress callback failed")

    def _plan(self, store: Store) -> _Plan:
        plan = _Plan()
        known = store.known_documents()
        seen: set[str] = set()
        scanned_folders: set[int] = set()
        changed: list[tuple[str, int, KnownDocument, int, int]] = []
        new: list[tuple[str, int, int, int]] = []
        for folder in store.folders():
            if not os.path.isdir(folder["path"]):
                # An unplugged drive is not a deleted library: keep its documents.
                logger.warning("Folder %s is not available; keeping its documents", folder["path"])
                plan.skipped_folders.append(folder["path"])
                continue
            scanned_folders.add(folder["id"])
            for f in crawl(folder["path"], folder["include"], folder["exclude"]):
                if f.path in seen:
                    continue  # nested library folders
                seen.add(f.path)
                k = known.get(f.path)
                if k is None:
                    new.append((f.path, folder["id"], f.size, f.mtime_ns))
                elif k.size == f.size and k.mtime_ns == f.mtime_ns:
                    if k.status == "failed" and is_transient(k.error) and k.attempts < MAX_ATTEMPTS:
                        plan.todo.append((f.path, folder["id"]))
                        plan.replacing.add(f.path)
                        plan.retries[f.path] = k.attempts + 1
                    else:
                        plan.unchanged += 1
                else:
                    changed.append((f.path, folder["id"], k, f.size, f.mtime_ns))
        missing = [k for p, k in known.items() if p not in seen and k.folder_id in scanned_folders]

        for path, fid, k, size, mtime in changed:
            if k.status == "indexed" and _safe_hash(path) == k.hash:
                plan.touches.append((k, size, mtime))
            else:
                plan.todo.append((path, fid))
                plan.replacing.add(path)
        # A new path whose content matches a vanished document is a move.
        by_size: dict[int, list[KnownDocument]] = defaultdict(list)
        for k in missing:
            if k.status == "indexed":
                by_size[k.size].append(k)
        for path, fid, size, mtime in new:
            candidates = by_size.get(size)
            if candidates:
                digest = _safe_hash(path)
                match = next((c for c in candidates if c.hash == digest), None)
                if match is not None:
                    candidates.remove(match)
                    plan.moves.append((match, path, fid, size, mtime))
                    continue
            plan.todo.append((path, fid))
        moved = {m[0].id for m in plan.moves}
        plan.deletes = [k for k in missing if k.id not in moved]
        return plan

    def _update(self, store: Store, spec: ModelSpec) -> IndexReport:
        self._emit(Progress("scanning"))
        plan = self._plan(store)
        checkpoint("planned")
        report = IndexReport(unchanged=plan.unchanged, skipped_folders=plan.skipped_folders)
        for k, size, mtime in plan.touches:
            store.touch_document(k.id, size, mtime)
        for k, path, fid, size, mtime in plan.moves:
            store.move_document(k.id, path, fid, size, mtime)
            logger.info("Moved %s -> %s (embeddings kept)", k.path, path)
        report.unchanged += len(plan.touches)
        report.moved = len(plan.moves)

        vectors: VectorIndex | None = None
        if plan.deletes or plan.todo or not VectorIndex.file_looks_sound(self.paths):
            vectors = VectorIndex.open(self.paths, store, spec.dim)
        if plan.deletes:
            vectors.mark_deleted(store.delete_documents([k.id for k in plan.deletes]))
            report.deleted = len(plan.deletes)
        if plan.todo:
            self._index_files(store, spec, vectors, plan, report)
        if vectors is not None:
            self._emit(Progress("saving"))
            vectors.save(self.paths)
            store.clear_tombstones(vectors.max_id)
        done = Progress("done", files_done=len(plan.todo), files_total=len(plan.todo), chunks_done=report.chunks,
                        failed=len(report.failed))
        self._emit(done)
        return report

    def embedder(self, spec: ModelSpec) -> object:
        if self._embedder is None:
            from desktop_search.embedding import Embedder

            self._emit(Progress("loading model"))
            self._embedder = Embedder(spec, device=self.options.device, quantize=self.options.quantize)
        return self._embedder

    def _index_files(self, store: Store, spec: ModelSpec, vectors: VectorIndex, plan: _Plan, report: IndexReport) -> None:
        """Stream files through extract -> chunk -> embed -> store.

        Extraction runs in worker processes; this thread chunks; one thread
        embeds and another commits, each taking batches in order, so the model
        never waits for chunking or SQLite (on a GPU, nor the GPU for the CPU).
        """
        embedder = self.embedder(spec)
        manifest = build_manifest(spec, self.options.chunking)
        chunker = Chunker(embedder.tokenizer, ChunkSettings(manifest.max_tokens, manifest.overlap_tokens, manifest.title_prefix))
        folder_of = dict(plan.todo)
        progress = Progress("indexing", files_total=len(plan.todo))
        meter = RateMeter()
        timings = report.timings
        embed_before = dict(getattr(embedder, "timings", {}))
        pending: list[tuple[DocumentRecord, list[str]]] = []
        pending_chunks = 0
        last_flush = time.monotonic()
        last_save = time.monotonic()
        in_flight: deque[Future[None]] = deque()
        embed_ex = ThreadPoolExecutor(1, thread_name_prefix="index-embed")
        store_ex = ThreadPoolExecutor(1, thread_name_prefix="index-store")

        def embed(batch: list[tuple[DocumentRecord, list[str]]]) -> object:
            texts = [t for _, ts in batch for t in ts]
            checkpoint("embedding")
            return embedder.encode_passages(texts) if texts else None

        def store_batch(batch: list[tuple[DocumentRecord, list[str]]], embedded: Future[object]) -> None:
            nonlocal last_save
            vecs = embedded.result()
            t0 = time.perf_counter()
            i = 0
            for rec, ts in batch:
                for c in rec.chunks:
                    c.embedding = vecs[i]
                    i += 1
            added, gone = store.commit_documents([rec for rec, _ in batch])
            vectors.mark_deleted(gone)
            added = [(ids, v) for ids, v in added if len(ids)]
            if added:  # one call for the batch: hnswlib spreads it over the cores
                vectors.add(np.concatenate([ids for ids, _ in added]), np.concatenate([v for _, v in added]))
            if time.monotonic() - last_save >= self.options.save_interval_s:
                vectors.save(self.paths)
                last_save = time.monotonic()
            timings["store"] += time.perf_counter() - t0
            for rec, _ in batch:
                if rec.status == "failed":
                    report.failed.append((rec.path, rec.error or "unknown error"))
                else:
                    if rec.error:
                        report.warnings.append((rec.path, rec.error))
                    if rec.path in plan.replacing:
                        report.updated += 1
                    else:
                        report.added += 1
            progress.files_done += len(batch)
            progress.chunks_done += i
            progress.failed = len(report.failed)
            report.chunks += i

        def reap(keep: int) -> None:
            """Collect stored batches (waiting while more than ``keep`` are in
            flight) and report progress, from this thread so that progress
            reaches the front end in order, before "saving" and "done"."""
            done = 0
            while in_flight and (len(in_flight) > keep or in_flight[0].done()):
                in_flight.popleft().result()  # re-raises a failed batch here
                done += 1
            if done:
                self._emit(meter.update(progress))

        def flush() -> None:
            nonlocal pending, pending_chunks, last_flush
            if not pending:
                return
            t0 = time.perf_counter()
            reap(MAX_IN_FLIGHT - 1)
            timings["stall"] += time.perf_counter() - t0
            embedded = embed_ex.submit(embed, pending)
            in_flight.append(store_ex.submit(store_batch, pending, embedded))
            pending, pending_chunks, last_flush = [], 0, time.monotonic()

        pool = ExtractorPool(workers=self.options.workers or _default_workers(embedder), timeout_s=self.options.timeout_s,
                             ocr=self.options.ocr)
        ok = False
        try:
            results = pool.imap_unordered([p for p, _ in plan.todo])
            while True:
                t0 = time.perf_counter()
                result = next(results, None)
                t1 = time.perf_counter()
                timings["wait"] += t1 - t0
                if result is None:
                    break
                checkpoint("extracting")
                timings["extract"] += result.seconds
                if report.slowest is None or result.seconds > report.slowest[1]:
                    report.slowest = (result.path, result.seconds)
                rec, texts = self._record(result, folder_of[result.path], chunker, manifest)
                if rec.status == "failed":
                    rec.attempts = plan.retries.get(rec.path, 1)
                timings["chunk"] += time.perf_counter() - t1
                pending.append((rec, texts))
                pending_chunks += len(texts)
                progress.current = result.path
                if result.document is not None:
                    progress.ocr_pages += result.document.ocr_pages
                reap(MAX_IN_FLIGHT)
                idle = not in_flight or in_flight[-1].done()
                if (
                    pending_chunks >= self.options.batch_chunks
                    or (idle and pending_chunks >= EAGER_CHUNKS)
                    or time.monotonic() - last_flush >= self.options.flush_interval_s
                ):
                    flush()
                while self.pause.is_set() and not self.cancel.is_set():
                    self.cancel.wait(0.2)
                if self.cancel.is_set():
                    report.cancelled = True
                    break
            flush()
            reap(0)
            ok = True
        finally:
            pool.close()
            # After a failure, batches not yet started are dropped; the next run redoes them.
            embed_ex.shutdown(wait=True, cancel_futures=not ok)
            store_ex.shutdown(wait=True, cancel_futures=not ok)
            for key, value in getattr(embedder, "timings", {}).items():
                timings[key] += value - embed_before.get(key, 0.0)

    def _record(self, result: ExtractionResult, folder_id: int, chunker: Chunker, manifest: Manifest) -> tuple[DocumentRecord, list[str]]:
        path = result.path
        doc = result.document
        if doc is None:
            logger.warning("Could not index %s: %s", path, result.error)
            try:
                st = os.stat(path)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime = 0, 0
            rec = DocumentRecord(path=path, folder_id=folder_id, kind=kind_of(path) or "?", size=size, mtime_ns=mtime,
                                 hash="", title=Path(path).stem, author=None, status="failed", error=result.error)
            return rec, []
        budget = chunker.budget(doc.title, manifest.passage_prefix)
        chunks = chunker.chunk_segments(doc.segments, budget)
        prefix = doc.title + "\n" if manifest.title_prefix and doc.title else ""
        rec = DocumentRecord(
            path=path, folder_id=folder_id, kind=doc.kind, size=doc.size, mtime_ns=doc.mtime_ns, hash=doc.hash,
            title=doc.title, author=doc.author, status="indexed", error=doc.warning, pages=doc.pages, lang=doc.lang,
            chunks=[
                ChunkRecord(ordinal=c.ordinal, text=c.text, char_start=c.char_start, char_end=c.char_end, page=c.page,
                            page_label=c.page_label, section=c.section, href=c.href, ocr=c.ocr)
                for c in chunks
            ],
        )
        if not chunks:
            rec.status, rec.error = "failed", "no text found"
        return rec, [prefix + c.text for c in chunks]


def _default_workers(embedder: object) -> int | None:
    """On a GPU, extraction is the bottleneck: use every core but the two that
    chunk and feed the GPU. On a CPU the model needs the cores (pool default)."""
    if str(getattr(embedder, "device", "cpu")).startswith("cpu"):
        return None
    from desktop_search.embedding import cpu_cores

    return max(2, cpu_cores() - 2)


def _safe_hash(path: str) -> str | None:
    try:
        return hash_file(path)
    except OSError:
        return None
