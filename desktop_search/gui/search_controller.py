"""The search controller: the search worker on its thread, and the window's side of talking to it.

Every search and every passage's context gets a request id; answers to a
request since superseded are dropped here, and the worker skips superseded
searches before it runs them (:class:`~desktop_search.gui.workers.LatestRequest`),
so search-as-you-type never queues up work. Requests go out as queued
signals and answers come back as signals: the GUI thread never calls into
the worker, nor writes into it.

A query asked while the vectors and the query model still load is answered
by keyword at once; when they are in, the newest such query is asked again,
so its dense or hybrid answer replaces the keyword one.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop_search.gui.workers import LatestRequest, SearchRequest, SearchWorker, start_thread, stop_thread
from desktop_search.paths import DataPaths
from desktop_search.search.terms import highlight_terms
from desktop_search.settings import Settings

if TYPE_CHECKING:
    from desktop_search.search.results import DocumentResult, SearchResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchAnswer:
    """What a search found, with the words to mark in it and how long it took."""

    request: SearchRequest
    documents: list[DocumentResult]
    terms: list[str]
    seconds: float
    keyword_only: bool = False  # answered by keyword while the model loads; the full answer follows


class SearchController(QObject):
    searching = Signal(object, bool)  # SearchRequest, whether the query model is still loading
    answered = Signal(object)  # SearchAnswer, for the newest request only
    context = Signal(object, list, list)  # SearchResult, neighbour chunk dicts, the words to mark
    model_ready = Signal(dict)  # {"model": id, "device": name}
    model_loading = Signal()  # new model settings: the model loads again
    failed = Signal(str)
    # The worker's own reports, passed on as they come.
    info = Signal(object, object)  # LibraryInfo, the folders to watch (None unless asked)
    notice = Signal(object)  # coverage.LanguageNotice, or None
    pattern_counts = Signal(str, list, list, object)  # folder, include, exclude, crawl.PatternCounts
    released = Signal()  # the index files are closed: a rebuild may replace them

    # Requests to the worker (queued: it lives on its own thread).
    _search_request = Signal(object)
    _context_request = Signal(int, object)
    _info_request = Signal(bool)
    _load_request = Signal()
    _reopen_request = Signal()
    _release_request = Signal()
    _settings_request = Signal(object)
    _count_request = Signal(str, list, list)

    def __init__(self, paths: DataPaths, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.terms: list[str] = []  # the shown query's words, for highlighting
        self.model_info: dict[str, Any] | None = None  # None until the query model has loaded
        self._latest = LatestRequest()  # the newest search; the worker skips older ones
        self._search_id = 0
        self._context_id = 0
        self._started = 0.0
        self._ask_again: SearchRequest | None = None  # answered by keyword only: asked again once the model is ready
        self.worker = SearchWorker(paths, settings, self._latest)
        self.worker_thread = start_thread(self.worker, "desktop-search-search")
        w = self.worker
        for request, slot in ((self._search_request, w.search), (self._context_request, w.fetch_context),
                              (self._info_request, w.refresh_info), (self._load_request, w.load),
                              (self._reopen_request, w.reopen), (self._release_request, w.release),
                              (self._settings_request, w.set_settings), (self._count_request, w.count_patterns)):
            request.connect(slot)
        w.ready.connect(self._on_ready)
        w.results.connect(self._on_results)
        w.context.connect(self._on_context)
        for report, relay in ((w.failed, self.failed), (w.info, self.info), (w.notice, self.notice),
                              (w.pattern_counts, self.pattern_counts), (w.released, self.released)):
            report.connect(relay)

    # -- searching ----------------------------------------------------------------------

    def search(self, query: str, folders: tuple[str, ...], kinds: tuple[str, ...]) -> None:
        self.terms = highlight_terms(query)
        self._send(query, folders, kinds, None)

    def similar(self, result: SearchResult, folders: tuple[str, ...], kinds: tuple[str, ...]) -> None:
        """Passages near ``result``'s vector (the passage itself left out)."""
        self.terms = []
        self._send(f"more like {result.location} of {os.path.basename(result.path)}", folders, kinds, result.chunk_id)

    def _send(self, query: str, folders: tuple[str, ...], kinds: tuple[str, ...], similar_to: int | None,
              quietly: bool = False) -> None:
        """Ask the worker; ``quietly``: the keyword answer on show stays as it is until this one replaces it."""
        self._search_id = self._latest.next()
        self._started = time.monotonic()
        request = SearchRequest(id=self._search_id, query=query, top_k=self.settings.top_k, mode=self.settings.search_mode,
                                folders=folders, kinds=kinds, similar_to=similar_to)
        if not quietly:
            self.searching.emit(request, self.model_info is None)
        self._search_request.emit(request)

    def _on_results(self, request: SearchRequest, documents: list[DocumentResult], keyword_only: bool) -> None:
        if request.id != self._search_id:
            return
        elapsed = time.monotonic() - self._started
        logger.info("%d documents in %.2f s%s", len(documents), elapsed, " (keyword only)" if keyword_only else "")
        self._ask_again = request if keyword_only else None
        self.answered.emit(SearchAnswer(request, documents, self.terms, elapsed, keyword_only))

    def fetch_context(self, result: SearchResult) -> None:
        """The passage's neighbours, for the preview; an older request's answer is dropped."""
        self._context_id += 1
        self._context_request.emit(self._context_id, result)

    def _on_context(self, request: int, result: SearchResult, rows: list[dict[str, Any]]) -> None:
        if request == self._context_id:
            self.context.emit(result, rows, self.terms)

    # -- the model, the library, the index files ----------------------------------------------

    def load(self) -> None:
        """Open the index and load its query model, so the first search is quick."""
        self._load_request.emit()

    def _on_ready(self, info: dict[str, Any]) -> None:
        self.model_info = info
        self.model_ready.emit(info)
        again, self._ask_again = self._ask_again, None
        if again is not None and again.id == self._search_id:
            self._send(again.query, again.folders, again.kinds, None, quietly=True)

    def apply_settings(self, settings: Settings, reload_model: bool) -> None:
        """New settings for the next request on; with ``reload_model``, the query model loads again."""
        self.settings = settings
        self._settings_request.emit(settings)
        if reload_model:
            self.model_info = None
            self.model_loading.emit()
            self._reopen_request.emit()

    def refresh_info(self, with_dirs: bool) -> None:
        """Read the library's counts again (answered by ``info``), with the folders to watch if asked."""
        self._info_request.emit(with_dirs)

    def count_patterns(self, folder: str, include: list[str], exclude: list[str]) -> None:
        self._count_request.emit(folder, include, exclude)

    def release(self) -> None:
        """Close the index files before a rebuild replaces them (answered by ``released``)."""
        self._release_request.emit()

    def reopen(self) -> None:
        """Forget the open index: its files were replaced or changed underneath."""
        self._reopen_request.emit()

    def shutdown(self) -> None:
        """Stop the thread, then close the index (the worker is idle by then)."""
        stop_thread(self.worker_thread)
        self.worker.shutdown()
