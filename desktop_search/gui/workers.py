"""Background work for the window: indexing and searching, each on its own QThread.

One pattern throughout: a worker QObject is moved to a QThread and driven by
queued signals; it reports back with signals only, so nothing but GUI-thread
slots ever touches a widget. Every slot catches its exceptions: a
``UserFacingError`` is shown as it is, anything else is logged with its
traceback and shown as a generic message. The heavy core modules (SQLAlchemy,
hnswlib, torch) are imported here lazily, in the worker threads, so the window
appears before any of them load.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_search.errors import UserFacingError
from desktop_search.index.library_info import LibraryInfo, read_library_info
from desktop_search.paths import DataPaths
from desktop_search.search.terms import PER_DOCUMENT
from desktop_search.settings import Settings

if TYPE_CHECKING:  # imported where first needed, so the window opens without torch and transformers
    from desktop_search.embed.embedder import TextEmbedder
    from desktop_search.index.indexer import Indexer
    from desktop_search.search.searcher import Searcher

logger = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong ({what}). The details are in the log file {log}."
MAX_WATCHED_DIRS = 4000  # inotify watches are a shared, limited resource


def report_errors(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap a worker slot so that an exception becomes a ``failed`` signal, never a crash."""

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        def slot(self: _Worker, *args: Any) -> None:
            try:
                fn(self, *args)
            except UserFacingError as exc:
                logger.warning("%s: %s", what, exc)
                self.failed.emit(str(exc))
            except Exception:  # a bug: keep the traceback, keep the app alive
                logger.exception("Unexpected error while %s", what)
                self.failed.emit(GENERIC_ERROR.format(what=what, log=self.paths.log))

        slot.__name__ = fn.__name__
        slot.__doc__ = fn.__doc__
        return slot

    return wrap


class _Worker(QObject):
    failed = Signal(str)

    def __init__(self, paths: DataPaths, settings: Settings) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings

    @Slot(object)
    def set_settings(self, settings: Settings) -> None:
        """New settings from the window; they apply from the next request on."""
        self.settings = settings


class ThreadMovable(Protocol):
    """A QObject, or a test's stand-in for one: what :func:`start_thread` needs."""

    def moveToThread(self, thread: QThread) -> bool: ...  # noqa: N802 - QObject's name


def start_thread(worker: ThreadMovable, name: str) -> QThread:
    """Move ``worker`` to a new, started QThread that deletes nothing on its own."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    return thread


def stop_thread(thread: QThread, timeout_ms: int = 120_000) -> bool:
    """Ask the thread's event loop to quit once its current slot returns, and wait."""
    thread.quit()
    ok = thread.wait(timeout_ms)
    if not ok:
        logger.error("Thread %s did not stop within %d ms", thread.objectName(), timeout_ms)
    return ok


class JobKind(StrEnum):
    UPDATE = "update"
    REBUILD = "rebuild"
    REMOVE = "remove"


@dataclass
class IndexJob:
    """One request to the index worker."""

    kind: JobKind = JobKind.UPDATE
    add: list[str] = field(default_factory=list)
    remove: str | None = None
    include: list[str] = field(default_factory=list)  # patterns for the folders in ``add``
    exclude: list[str] = field(default_factory=list)


@dataclass
class RunFlags:
    """Cancel and pause for the running job: thread-safe events, owned by the
    :class:`~desktop_search.gui.controller.IndexController` on the GUI thread and
    only read by the indexer, so neither waits for the worker's event loop."""

    cancel: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)


class IndexWorker(_Worker):
    """Runs :class:`~desktop_search.index.indexer.Indexer` jobs one after another."""

    progress = Signal(object)  # desktop_search.index.progress.Progress (a copy)
    finished = Signal(object)  # desktop_search.index.indexer.IndexReport, or None after a removal

    def __init__(self, paths: DataPaths, settings: Settings, flags: RunFlags) -> None:
        super().__init__(paths, settings)
        self.flags = flags
        self._indexer: Indexer | None = None
        self._indexer_key: tuple[Any, ...] | None = None

    def _get_indexer(self) -> Indexer:
        """One Indexer per model setting, so its loaded model serves every run."""
        from desktop_search.index.indexer import Indexer, IndexOptions
        from desktop_search.ingest.extract.ocr import OcrOptions

        key = (self.settings.model, self.settings.device, self.settings.precision, self.settings.engine,
               tuple(self.settings.extra_models), self.settings.ocr, self.settings.ocr_languages)
        if self._indexer is None or key != self._indexer_key:
            options = IndexOptions(model=self.settings.model, extra_models=self.settings.extra_models,
                                   device=self.settings.device, precision=self.settings.precision,
                                   engine=self.settings.engine,
                                   ocr=OcrOptions(enabled=self.settings.ocr, languages=self.settings.ocr_languages))
            self._indexer = Indexer(self.paths, options, on_progress=self._on_progress, cancel=self.flags.cancel,
                                    pause=self.flags.pause)
            self._indexer_key = key
        return self._indexer

    def _on_progress(self, p: Any) -> None:
        # The indexer keeps mutating its Progress; the GUI gets a snapshot.
        self.progress.emit(dataclasses.replace(p))

    @Slot(object)
    @report_errors("indexing")
    def run(self, job: IndexJob) -> None:
        if job.kind == JobKind.REMOVE and job.remove:
            from desktop_search.index.folders import remove_folder

            remove_folder(self.paths, job.remove)
            self.finished.emit(None)
            return
        report = self._get_indexer().run(job.add, include=job.include, exclude=job.exclude,
                                         rebuild=job.kind == JobKind.REBUILD)
        self.finished.emit(report)


class LatestRequest:
    """The newest request id: the window counts, the search worker skips older ones.

    Lock-protected, so the window never writes into the worker; owned by the window.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value

    def is_latest(self, request: int) -> bool:
        with self._lock:
            return request == self._value


@dataclass(frozen=True)
class SearchRequest:
    """A query (or a "more like this" passage) with the filters it runs under."""

    id: int
    query: str
    top_k: int
    mode: str
    folders: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    per_document: int = PER_DOCUMENT
    similar_to: int | None = None  # a chunk id: search near its vector instead of the query


class SearchWorker(_Worker):
    """Owns the :class:`~desktop_search.search.searcher.Searcher` and its query model.

    Requests are queued slots. The vectors and the query model load on a
    thread of their own ("desktop-search-load"): for a big library that takes
    seconds, and a query asked meanwhile is answered by keyword at once
    (``results`` says so), then ``ready`` tells the window it may ask again.
    ``latest`` lets stale requests (search-as-you-type) be skipped without a
    round trip.
    """

    ready = Signal(dict)  # {"model": id, "device": name}: dense ranking is ready
    results = Signal(object, list, bool)  # SearchRequest, [DocumentResult], answered by keyword while dense loads
    context = Signal(int, object, list)  # request id, SearchResult, neighbour chunk dicts
    info = Signal(object, object)  # LibraryInfo, the folders to watch (None unless asked)
    released = Signal()  # the index files are closed: a rebuild may replace them
    pattern_counts = Signal(str, list, list, object)  # folder, include, exclude, crawl.PatternCounts
    notice = Signal(object)  # coverage.LanguageNotice, or None: the model reads the library and the query

    def __init__(self, paths: DataPaths, settings: Settings, latest: LatestRequest) -> None:
        super().__init__(paths, settings)
        self.latest = latest
        self._searcher: Searcher | None = None
        self._embedder: TextEmbedder | None = None
        self._loader: threading.Thread | None = None
        self._loading_for: Searcher | None = None  # the searcher the loader loads for (None: the model alone)

    # -- the searcher and its model -----------------------------------------------

    def _open(self) -> Searcher | None:
        """The searcher, opened once the index exists; None before that. Its vectors and model load
        from :meth:`load`, or once a first query has its keyword answer (:meth:`_start_loading`)."""
        if self._searcher is not None:
            return self._searcher
        if not self.paths.database.exists():
            return None
        from desktop_search.search.searcher import DenseLoading, Searcher

        s = self.settings
        searcher = Searcher(self.paths, model=s.model, extra_models=s.extra_models, device=s.device,
                            precision=s.precision, engine=s.engine, embedder=self._embedder,
                            dense_loading=DenseLoading.BACKGROUND)
        if self._embedder is not None and searcher.spec is not None and (
                self._embedder.spec != searcher.spec
                or self._embedder.precision.family != searcher.query_precision()[0].family):
            searcher.close()  # the preloaded model is not the index's, or not in its precision: load the right one
            searcher = Searcher(self.paths, model=s.model, extra_models=s.extra_models, device=s.device,
                                precision=s.precision, engine=s.engine, dense_loading=DenseLoading.BACKGROUND)
        if searcher.spec is None:
            # The first run has created the database but not yet recorded its
            # model: try again on the next request rather than keep a searcher
            # that knows no model.
            searcher.close()
            return None
        self._searcher = searcher
        return searcher

    def _start_loading(self) -> None:
        """Load the open searcher's vectors and query model (or, with nothing indexed, the model the
        first run will use) on the loading thread, once per searcher.

        Not before a first query has its answer: the loading (torch's import above all) holds
        Python's lock for seconds, and a keyword query running beside it takes twice as long.
        """
        if self._loader is not None:
            if self._loading_for is self._searcher:
                return
            self._loader.join()  # the model alone, loaded before anything was indexed
        self._loading_for = self._searcher
        self._loader = threading.Thread(target=self._load, args=(self._searcher,), name="desktop-search-load",
                                        daemon=True)
        self._loader.start()

    @report_errors("loading the model")
    def _load(self, searcher: Searcher | None) -> None:
        """On the loading thread; searches go on meanwhile, answered by keyword."""
        if searcher is not None:
            searcher.load_dense()
            self._embedder = searcher.embedder
        elif self._embedder is None:
            from desktop_search.embed.embedder import Embedder
            from desktop_search.embed.engine import follow_index
            from desktop_search.embed.models import resolve_model

            spec = resolve_model(self.settings.model, self.settings.extra_models)
            query, _note = follow_index(self.settings.precision, None, query=True)
            self._embedder = Embedder(spec, device=self.settings.device, precision=query, engine=self.settings.engine)
        self.ready.emit({"model": self._embedder.spec.id, "device": self._embedder.name})

    def _close(self) -> None:
        if self._loader is not None:
            self._loader.join()  # it reads through the searcher's store
            self._loader, self._loading_for = None, None
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    @Slot()
    @report_errors("opening the index")
    def load(self) -> None:
        """Open the index and start loading its vectors and query model, so that dense ranking is soon ready."""
        self._open()
        self._start_loading()

    @Slot()
    def release(self) -> None:
        """Close the index files before a rebuild replaces them (Windows cannot delete open files)."""
        self._close()
        self.released.emit()

    @Slot()
    @report_errors("reopening the index")
    def reopen(self) -> None:
        """Forget the open index (after a rebuild replaced its files, or new settings)."""
        self._close()
        if self._embedder is not None and (
            self.settings.model not in (None, "", self._embedder.spec.id, str(self._embedder.spec.path))
            or self.settings.device not in ("auto", self._embedder.device)
            or self.settings.engine not in ("auto", self._embedder.engine)
            or self.settings.precision not in ("auto", self._embedder.precision)
        ):
            self._embedder = None
        self.load()

    # -- requests -------------------------------------------------------------------

    @Slot(object)
    @report_errors("searching")
    def search(self, request: SearchRequest) -> None:
        if not self.latest.is_latest(request.id):
            return  # a newer query is already waiting
        searcher = self._open()
        if searcher is None:
            self.results.emit(request, [], False)
            return
        # Asked before the search: dense may come in while it runs, after the search had done without it.
        keyword_only = request.similar_to is None and request.mode != "keyword" and not searcher.dense_ready
        self.results.emit(request, self._answer(searcher, request), keyword_only)
        if keyword_only and searcher.dense_ready and self.latest.is_latest(request.id):
            # The vectors and the model came in while it ran, and their ``ready`` may have reached the
            # window before this answer did (then the window would not ask again): answer in full now.
            self.results.emit(request, self._answer(searcher, request), False)
        self._start_loading()
        self.notice.emit(searcher.language_notice([request.query]) if request.mode != "keyword" else None)

    @staticmethod
    def _answer(searcher: Searcher, request: SearchRequest) -> list[Any]:
        if request.similar_to is not None:
            return searcher.similar(request.similar_to, top_k=request.top_k, folders=request.folders,
                                    kinds=request.kinds, per_document=request.per_document)
        return searcher.search_documents(request.query, top_k=request.top_k, mode=request.mode,
                                         folders=request.folders, kinds=request.kinds,
                                         per_document=request.per_document)

    @Slot(int, object)
    @report_errors("reading the passage's context")
    def fetch_context(self, request: int, result: Any) -> None:
        searcher = self._open()
        rows = searcher.context(result, span=1) if searcher is not None else []
        self.context.emit(request, result, rows)

    @Slot(bool)
    @report_errors("reading the library")
    def refresh_info(self, with_dirs: bool) -> None:
        """Counts for the status bar and the library panel, and (if asked) the folders to watch."""
        info: LibraryInfo = read_library_info(self.paths)
        dirs = watch_dirs([f.path for f in info.folders]) if with_dirs else None
        self.info.emit(info, dirs)

        try:
            searcher = self._open()
        except UserFacingError:
            return  # a missing model is reported by load(), once
        if searcher is not None:
            self.notice.emit(searcher.language_notice())

    @Slot(str, list, list)
    @report_errors("counting the files patterns exclude")
    def count_patterns(self, folder: str, include: list[str], exclude: list[str]) -> None:
        from desktop_search.ingest.crawl import pattern_counts

        self.pattern_counts.emit(folder, include, exclude, pattern_counts(folder, include, exclude))

    def shutdown(self) -> None:
        """Called from the GUI thread after this worker's thread has stopped."""
        self._close()


def watch_dirs(folders: Sequence[str], limit: int = MAX_WATCHED_DIRS) -> list[str]:
    """Library folders and their visible subfolders, for a QFileSystemWatcher.

    Directory watches see files appear, vanish and be renamed; edits in place
    are caught by the periodic rescan.
    """
    out: list[str] = []
    for root in folders:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, _files in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            out.append(dirpath)
            if len(out) >= limit:
                logger.info("Watching only the first %d folders; the periodic rescan covers the rest", limit)
                return out
    return out
