"""Extraction (and chunking) in worker processes, each file under a timeout.

Given a :class:`~desktop_search.ingest.chunking.ChunkJob`, a worker also cuts the
document into passages with the model's tokenizer (loaded once per worker,
without torch), so the main process only stores, batches and embeds.
A dispatcher thread in the parent hands paths to workers and collects their
results into a bounded queue, so extraction runs ahead of embedding. A worker
that overruns its timeout is killed and replaced; one that dies (a crash in a
parser, an out-of-memory kill) costs only the file it was reading. A worker
reading a scanned PDF by OCR reports each page it finishes, and each report
starts the file's clock afresh: a 300-page scan is slow, not hung.

Files that read fast go to a worker several at a time, answered in one
message (:data:`BATCH_S`): a message costs the parent's dispatcher as much
CPU as a SciFact abstract's whole result does to unpickle. A batch is under
one file's timeout; if it overruns it, or its worker dies, each of its files
is read again on its own, so the file at fault costs only itself.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import pickle
import queue
import selectors
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

from desktop_search.embed.tokenizer import PassageIds, load_model_tokenizer
from desktop_search.errors import ExtractionError
from desktop_search.failures import FailureCode
from desktop_search.ingest.chunking import Chunk, Chunker, ChunkJob
from desktop_search.ingest.extract import kind_of
from desktop_search.ingest.extract.document import ExtractedDocument
from desktop_search.ingest.extract.ocr import OcrOptions, resolve
from desktop_search.language import substring_words

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
# A batch is about this many seconds of reading, judged by the files read so
# far; at most MAX_BATCH files. Measured on SciFact (3 ms a file): 16 files a
# message cut the dispatcher's CPU per file from 155 us to 35.
BATCH_S = 0.05
MAX_BATCH = 16
DEFAULT_MEMORY_LIMIT = 4 * 1024**3  # address space per worker
MAX_FILE_BYTES = 1024**3  # files larger than this are refused, not read


@dataclass
class ExtractionResult:
    """The outcome for one path: a document (and its passages, when chunked), or why it failed."""

    path: str
    document: ExtractedDocument | None = None
    error: str | None = None
    seconds: float = 0.0
    failure: FailureCode | None = None
    chunks: list[Chunk] | None = None  # with a ChunkJob; the document's segments are then dropped
    input_ids: PassageIds | None = None  # the chunks' model input, with a ChunkJob that asks for it
    # language.substring_words of the chunks, for the vocabulary, one a line: one string pickles
    # and unpickles in a third of the time a set of a hundred words takes (the main process does that)
    words: str | None = None
    chunk_seconds: float = 0.0


@dataclass
class OcrPageRead:
    """Sent by a worker after each page OCR reads: it is making progress."""


@dataclass(frozen=True)
class ReadRequest:
    """Files for a worker, answered together; ``careful`` (one file) after a reader died on it (see :func:`extract_file`)."""

    paths: tuple[str, ...]
    careful: bool = False


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def hash_file(path: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_and_extract(path: str, ocr: OcrOptions | None = None,
                     on_ocr_page: Callable[[], None] | None = None, careful: bool = False) -> ExtractedDocument:
    """Read a file once: stat, hash and extract from the same bytes (scanned PDF pages by OCR with ``ocr``)."""
    from desktop_search.ingest.extract import extract_file

    try:
        # O_NONBLOCK: a file replaced by a FIFO since the crawl must not block the read forever.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ExtractionError("not a regular file (a pipe, device or folder)", FailureCode.NOT_A_FILE)
            if st.st_size > MAX_FILE_BYTES:
                raise ExtractionError(f"too large ({st.st_size // 2**20} MiB)", FailureCode.TOO_LARGE)
            data = fh.read()
    except FileNotFoundError as exc:
        raise ExtractionError("file disappeared before it could be read", FailureCode.DISAPPEARED) from exc
    except PermissionError as exc:
        raise ExtractionError("permission denied", FailureCode.PERMISSION) from exc
    except IsADirectoryError as exc:
        raise ExtractionError("is a folder, not a file", FailureCode.NOT_A_FILE) from exc
    except OSError as exc:
        raise ExtractionError(f"cannot be read: {exc.strerror or exc}", FailureCode.IO_ERROR) from exc
    doc = extract_file(path, data, ocr, on_ocr_page, careful)
    doc.size, doc.mtime_ns, doc.hash = st.st_size, st.st_mtime_ns, hash_bytes(data)
    return doc


def _limit_memory(limit: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on Windows, or not permitted
        logger.debug("cannot limit worker memory", exc_info=True)


def _read_one(path: str, chunker: Chunker | None, job: ChunkJob | None, ocr: OcrOptions | None,
              on_ocr_page: Callable[[], None], careful: bool = False) -> ExtractionResult:
    start = time.perf_counter()
    try:
        doc = read_and_extract(path, ocr, on_ocr_page, careful)
        reply = ExtractionResult(path, document=doc)
        if chunker is not None and job is not None:
            t0 = time.perf_counter()
            if job.input_max_tokens:
                reply.chunks, reply.input_ids = chunker.chunk_with_ids(doc.title, doc.segments, job.passage_prefix,
                                                                       job.input_max_tokens)
            else:
                reply.chunks = chunker.chunk_document(doc.title, doc.segments, job.passage_prefix)
            doc.segments = []  # the passages carry the text; no need to send it twice
            reply.words = "\n".join(substring_words(c.text for c in reply.chunks))
            reply.chunk_seconds = time.perf_counter() - t0
    except ExtractionError as exc:
        reply = ExtractionResult(path, error=str(exc), failure=exc.code)
    except MemoryError:
        reply = ExtractionResult(path, error="too large to read within the memory limit", failure=FailureCode.TOO_LARGE)
    except RecursionError:
        reply = ExtractionResult(path, error="structure nested too deeply to read", failure=FailureCode.UNREADABLE)
    except Exception as exc:  # noqa: BLE001 - a parser bug must cost one file, not the run
        reply = ExtractionResult(path, error=f"could not be read ({type(exc).__name__}: {exc})"[:300],
                                 failure=FailureCode.UNREADABLE)
    reply.seconds = time.perf_counter() - start
    return reply


def _worker_main(conn: Connection, memory_limit: int, job: ChunkJob | None, ocr: OcrOptions | None = None) -> None:
    _limit_memory(memory_limit)
    logging.getLogger().handlers.clear()
    logging.getLogger().setLevel(logging.ERROR)
    sys.setrecursionlimit(5000)
    chunker: Chunker | None = None
    while True:
        try:
            request: ReadRequest | None = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if request is None:
            return
        if job is not None and chunker is None:
            # Loaded on the first file, not at start: a worker that only ever
            # times out, or a pool for one file, pays nothing more.
            chunker = Chunker(load_model_tokenizer(job.tokenizer_dir), job.settings)
        replies = [_read_one(path, chunker, job, ocr, lambda: conn.send(OcrPageRead()), request.careful)
                   for path in request.paths]
        try:
            conn.send(replies)
        except (MemoryError, OSError, ValueError):
            conn.send([_passable(r) for r in replies])


def _passable(reply: ExtractionResult) -> ExtractionResult:
    """``reply``, or its failure when it is too large to pass back."""
    try:
        pickle.dumps(reply)
        return reply
    except (MemoryError, OSError, ValueError):
        return ExtractionResult(reply.path, error="too large to pass back from the reader", failure=FailureCode.TOO_LARGE)


class _Worker:
    def __init__(self, ctx: mp.context.ForkServerContext | mp.context.SpawnContext, memory_limit: int, job: ChunkJob | None,
                 ocr: OcrOptions | None = None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, memory_limit, job, ocr), daemon=True)
        self.process.start()
        child.close()
        self.paths: tuple[str, ...] = ()  # what it is reading
        self.careful = False  # reading its one path the careful way
        self.started = 0.0

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(5)
        finally:
            self.conn.close()


def _context() -> mp.context.ForkServerContext | mp.context.SpawnContext:
    # forkserver children are clean processes started from a small server: no
    # inherited torch threads or locks, and cheaper than spawn on Linux.
    if sys.platform.startswith("linux"):
        return mp.get_context("forkserver")
    return mp.get_context("spawn")


class ExtractorPool:
    """A pool of extraction processes with a per-file timeout."""

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        lookahead: int | None = None,
        chunk_job: ChunkJob | None = None,
        ocr: OcrOptions | None = None,
    ) -> None:
        self.n_workers = max(1, workers or min(8, os.cpu_count() or 1))
        self.chunk_job = chunk_job
        self.timeout_s = timeout_s
        self.memory_limit = memory_limit
        self.ocr = resolve(ocr, timeout_s) if ocr is not None else None  # None: scanned pages are not read
        # Results wait here as the workers' answers came, a batch at a time: at most ``lookahead`` answers.
        self._results: queue.Queue[list[ExtractionResult] | None] = queue.Queue(maxsize=lookahead or 4 * self.n_workers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._ctx = _context()

    def imap_unordered(self, paths: Iterable[str]) -> Iterator[ExtractionResult]:
        """Yield one result per path, as soon as each is ready."""
        todo = deque(paths)
        self._thread = threading.Thread(target=self._dispatch, args=(todo,), name="extract-dispatch", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._results.get()
                if item is None:
                    if self._failure is not None:
                        # Never end quietly with files unread: that would be a silent skip.
                        raise RuntimeError("text extraction stopped unexpectedly") from self._failure
                    return
                yield from item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        # Unblock a dispatcher waiting on a full queue.
        try:
            while True:
                self._results.get_nowait()
        except queue.Empty:
            pass
        if self._thread is not None:
            self._thread.join(10)

    def _put(self, item: list[ExtractionResult] | None) -> bool:
        while not self._stop.is_set():
            try:
                self._results.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _dispatch(self, todo: deque[str]) -> None:
        workers: list[_Worker] = []
        # The workers reading, registered while they do: one selector for the
        # run, not one built per result as multiprocessing.connection.wait does.
        busy = selectors.DefaultSelector()

        def replace(w: _Worker) -> None:
            w.kill()
            workers.remove(w)
            fresh = _Worker(self._ctx, self.memory_limit, self.chunk_job, self.ocr)
            workers.append(fresh)
            idle.append(fresh)

        try:
            workers = [_Worker(self._ctx, self.memory_limit, self.chunk_job, self.ocr)
                       for _ in range(min(self.n_workers, len(todo)) or 1)]
            idle = list(workers)
            careful: set[str] = set()  # PDFs to read again with pypdf alone: a reader died on them
            alone: set[str] = set()  # read one at a time: a batch they were in failed
            per_file: float | None = None  # seconds a file takes to read, lately
            while (todo or busy.get_map()) and not self._stop.is_set():
                while idle and todo:
                    w = idle.pop()
                    w.paths, w.started = _next_batch(todo, alone, per_file, len(workers)), time.monotonic()
                    w.careful = w.paths[0] in careful
                    w.conn.send(ReadRequest(w.paths, w.careful))
                    busy.register(w.conn, selectors.EVENT_READ, w)
                now = time.monotonic()
                deadline = min(key.data.started + self.timeout_s for key in busy.get_map().values())
                for key, _ in busy.select(timeout=max(0.0, min(deadline - now, 0.5))):
                    w = key.data
                    try:
                        got: list[ExtractionResult] | OcrPageRead = w.conn.recv()
                        if isinstance(got, OcrPageRead):
                            w.started = time.monotonic()  # a page read: the clock starts again
                            continue
                        busy.unregister(w.conn)
                        idle.append(w)
                        results = got
                    except (EOFError, OSError):
                        busy.unregister(w.conn)
                        w.process.join(2)  # the exit code is there once the process is reaped
                        code = w.process.exitcode
                        replace(w)
                        if len(w.paths) > 1:
                            alone.update(w.paths)  # one of them killed it: each on its own, to find which
                            todo.extendleft(reversed(w.paths))
                            continue
                        path = w.paths[0]
                        if kind_of(path) == "pdf" and not w.careful:
                            # PDFium aborts the process when a page will not fit in
                            # memory; pypdf refuses such a page and reads the rest.
                            logger.info("The reader died on %s (%s); reading it again with pypdf", path, _death_reason(code))
                            careful.add(path)
                            alone.add(path)
                            todo.appendleft(path)
                            continue
                        results = [ExtractionResult(path, error=_death_reason(code), seconds=time.monotonic() - w.started,
                                                    failure=FailureCode.READER_DIED)]
                    for result in results:
                        per_file = result.seconds if per_file is None else 0.8 * per_file + 0.2 * result.seconds
                    if not self._put(results):
                        return
                now = time.monotonic()
                for w in [key.data for key in busy.get_map().values()]:
                    if now - w.started <= self.timeout_s:
                        continue
                    busy.unregister(w.conn)
                    replace(w)
                    if len(w.paths) > 1:
                        alone.update(w.paths)  # one of them is slow: each on its own, under its own timeout
                        todo.extendleft(reversed(w.paths))
                        continue
                    logger.warning("Extraction of %s exceeded %.0f s; stopping it", w.paths[0], self.timeout_s)
                    if not self._put([
                        ExtractionResult(w.paths[0], error=f"timed out: took longer than {self.timeout_s:.0f} s to read",
                                         seconds=now - w.started, failure=FailureCode.TIMEOUT)
                    ]):
                        return
        except Exception as exc:  # a dispatcher bug must end the run, not hang it
            logger.exception("Extraction dispatcher failed")
            self._failure = exc
        finally:
            busy.close()
            for w in workers:
                try:
                    w.conn.send(None)
                except (OSError, ValueError):
                    pass
            for w in workers:
                w.process.join(1)
                if w.process.is_alive():
                    w.kill()
                else:
                    w.conn.close()
            self._put(None)


def _next_batch(todo: deque[str], alone: set[str], per_file: float | None, workers: int) -> tuple[str, ...]:
    """The next files for one worker: about BATCH_S of reading at the recent pace, leaving the rest to the others."""
    size = 1 if per_file is None else int(min(MAX_BATCH, BATCH_S / max(per_file, 1e-4), len(todo) / workers))
    batch = [todo.popleft()]
    while len(batch) < size and todo and todo[0] not in alone and batch[0] not in alone:
        batch.append(todo.popleft())
    return tuple(batch)


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        if name == "SIGKILL":
            return "the reader was killed while reading it (out of memory?)"
        return f"the reader crashed while reading it ({name})"
    return f"the reader stopped unexpectedly while reading it (exit code {exitcode})"
