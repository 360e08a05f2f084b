"""Extraction in worker processes, each file under a timeout.

A dispatcher thread in the parent hands paths to workers and collects their
results into a bounded queue, so extraction runs ahead of embedding. A worker
that overruns its timeout is killed and replaced; one that dies (a crash in a
parser, an out-of-memory kill) costs only the file it was reading. A worker
reading a scanned PDF by OCR reports each page it finishes, and each report
starts the file's clock afresh: a 300-page scan is slow, not hung.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import queue
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from desktop_search.errors import ExtractionError
from desktop_search.extract.model import ExtractedDocument
from desktop_search.extract.ocr import OcrOptions, resolve

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MEMORY_LIMIT = 4 * 1024**3  # address space per worker
MAX_FILE_BYTES = 1024**3  # files larger than this are refused, not read


# Failures that may not recur (a machine too busy to read a file in time, a
# reader killed by the OS, a file mid-copy): retried on later runs, a few times.
TRANSIENT_FAILURES = ("timed out", "the reader ", "file disappeared")
MAX_ATTEMPTS = 3


def is_transient(error: str | None) -> bool:
    return bool(error) and error.startswith(TRANSIENT_FAILURES)


@dataclass
class ExtractionResult:
    """The outcome for one path: a document, or the reason it failed."""

    path: str
    document: ExtractedDocument | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class OcrPageRead:
    """Sent by a worker after each page OCR reads: it is making progress."""


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def hash_file(path: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_and_extract(path: str, ocr: OcrOptions | None = None,
                     on_ocr_page: Callable[[], None] | None = None) -> ExtractedDocument:
    """Read a file once: stat, hash and extract from the same bytes (scanned PDF pages by OCR with ``ocr``)."""
    from desktop_search.extract import extract_file

    try:
        # O_NONBLOCK: a file replaced by a FIFO since the crawl must not block the read forever.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ExtractionError("not a regular file (a pipe, device or folder)")
            if st.st_size > MAX_FILE_BYTES:
                raise ExtractionError(f"too large ({st.st_size // 2**20} MiB)")
            data = fh.read()
    except FileNotFoundError as exc:
        raise ExtractionError("file disappeared before it could be read") from exc
    except PermissionError as exc:
        raise ExtractionError("permission denied") from exc
    except IsADirectoryError as exc:
        raise ExtractionError("is a folder, not a file") from exc
    except OSError as exc:
        raise ExtractionError(f"cannot be read: {exc.strerror or exc}") from exc
    doc = extract_file(path, data, ocr, on_ocr_page)
    doc.size, doc.mtime_ns, doc.hash = st.st_size, st.st_mtime_ns, hash_bytes(data)
    return doc


def _limit_memory(limit: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on Windows, or not permitted
        logger.debug("cannot limit worker memory", exc_info=True)


def _worker_main(conn: Connection, memory_limit: int, ocr: OcrOptions | None = None) -> None:
    _limit_memory(memory_limit)
    logging.getLogger().handlers.clear()
    logging.getLogger().setLevel(logging.ERROR)
    sys.setrecursionlimit(5000)
    while True:
        try:
            path = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if path is None:
            return
        start = time.perf_counter()
        try:
            doc = read_and_extract(path, ocr, lambda: conn.send(OcrPageRead()))
            reply = ExtractionResult(path, document=doc)
        except ExtractionError as exc:
            reply = ExtractionResult(path, error=str(exc))
        except MemoryError:
            reply = ExtractionResult(path, error="too large to read within the memory limit")
        except RecursionError:
            reply = ExtractionResult(path, error="structure nested too deeply to read")
        except Exception as exc:  # noqa: BLE001 - a parser bug must cost one file, not the run
            reply = ExtractionResult(path, error=f"could not be read ({type(exc).__name__}: {exc})"[:300])
        reply.seconds = time.perf_counter() - start
        try:
            conn.send(reply)
        except (MemoryError, OSError, ValueError):
            conn.send(ExtractionResult(path, error="too large to pass back from the reader"))


class _Worker:
    def __init__(self, ctx: mp.context.BaseContext, memory_limit: int, ocr: OcrOptions | None = None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, memory_limit, ocr), daemon=True)
        self.process.start()
        child.close()
        self.path: str | None = None
        self.started = 0.0

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(5)
        finally:
            self.conn.close()


def _context() -> mp.context.BaseContext:
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
        ocr: OcrOptions | None = None,
    ) -> None:
        self.n_workers = max(1, workers or min(8, os.cpu_count() or 1))
        self.timeout_s = timeout_s
        self.memory_limit = memory_limit
        self.ocr = resolve(ocr, timeout_s) if ocr is not None else None  # None: scanned pages are not read
        self._results: queue.Queue[ExtractionResult | None] = queue.Queue(maxsize=lookahead or 4 * self.n_workers)
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
                yield item
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

    def _put(self, item: ExtractionResult | None) -> bool:
        while not self._stop.is_set():
            try:
                self._results.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _dispatch(self, todo: deque[str]) -> None:
        workers: list[_Worker] = []
        try:
            workers = [_Worker(self._ctx, self.memory_limit, self.ocr) for _ in range(min(self.n_workers, len(todo)) or 1)]
            idle = list(workers)
            busy: dict[Connection, _Worker] = {}
            while (todo or busy) and not self._stop.is_set():
                while idle and todo:
                    w = idle.pop()
                    w.path, w.started = todo.popleft(), time.monotonic()
                    w.conn.send(w.path)
                    busy[w.conn] = w
                now = time.monotonic()
                deadline = min(w.started + self.timeout_s for w in busy.values())
                ready = wait(list(busy), timeout=max(0.0, min(deadline - now, 0.5)))
                for conn in ready:
                    w = busy.pop(conn)  # type: ignore[arg-type]
                    try:
                        result: ExtractionResult | OcrPageRead = w.conn.recv()
                        if isinstance(result, OcrPageRead):
                            w.started = time.monotonic()  # a page read: the clock starts again
                            busy[conn] = w  # type: ignore[index]
                            continue
                        idle.append(w)
                    except (EOFError, OSError):
                        code = w.process.exitcode
                        w.kill()
                        workers.remove(w)
                        result = ExtractionResult(w.path or "", error=_death_reason(code),
                                                  seconds=time.monotonic() - w.started)
                        fresh = _Worker(self._ctx, self.memory_limit, self.ocr)
                        workers.append(fresh)
                        idle.append(fresh)
                    if not self._put(result):
                        return
                now = time.monotonic()
                for conn, w in list(busy.items()):
                    if now - w.started > self.timeout_s:
                        logger.warning("Extraction of %s exceeded %.0f s; stopping it", w.path, self.timeout_s)
                        busy.pop(conn)
                        w.kill()
                        workers.remove(w)
                        fresh = _Worker(self._ctx, self.memory_limit, self.ocr)
                        workers.append(fresh)
                        idle.append(fresh)
                        if not self._put(
                            ExtractionResult(w.path or "", error=f"timed out: took longer than {self.timeout_s:.0f} s to read",
                                             seconds=now - w.started)
                        ):
                            return
        except Exception as exc:  # noqa: BLE001 - a dispatcher bug must end the run, not hang it
            logger.exception("Extraction dispatcher failed")
            self._failure = exc
        finally:
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
