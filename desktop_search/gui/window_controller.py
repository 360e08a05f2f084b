"""The window's controller: turns what the views ask for into background jobs, and their outcomes into reports.

It owns the settings (and saves them), the search side
(:class:`~desktop_search.gui.search_controller.SearchController`), the index
jobs (:class:`~desktop_search.gui.controller.IndexController`), the model
download, and the folder watcher with its periodic rescan. It holds no
widget: the window wires the views to its methods and to its signals (and
to those of its search and index parts), and asks the user whatever needs
asking before it calls in.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from desktop_search.gui.controller import IndexController, JobOutcome
from desktop_search.gui.language_notice import ModelDownloadWorker
from desktop_search.gui.search_controller import SearchController
from desktop_search.gui.viewer import Passage, launch, viewer_command
from desktop_search.gui.workers import IndexJob, IndexWorker, JobKind, RunFlags, SearchRequest, start_thread, stop_thread
from desktop_search.index.library_info import LibraryInfo
from desktop_search.index.progress import Phase, Progress
from desktop_search.paths import DataPaths
from desktop_search.settings import Settings

if TYPE_CHECKING:
    from desktop_search.search.results import SearchResult

logger = logging.getLogger(__name__)

WATCH_SETTLE_MS = 2000  # let a copy into a watched folder finish before rescanning
RESCAN_INTERVAL_MS = 60_000  # the safety net for changes the watcher missed
INFO_INTERVAL_S = 2.0  # the library's counts refresh at most this often while indexing


class WindowController(QObject):
    status = Signal(str, int)  # a passing line for the status bar, and for how many ms (0: until replaced)
    message = Signal(str)  # for the message banner: something the user should read
    info_ready = Signal(object)  # LibraryInfo, as last read
    settings_changed = Signal(object)  # Settings, once applied and saved
    opened = Signal(object)  # the ViewerCommand a passage was opened with

    _download_request = Signal(str)

    def __init__(self, paths: DataPaths, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.settings = settings
        self.info = LibraryInfo()  # the library as last read
        self._last_info = 0.0  # when the counts were last refreshed during a run
        self._background_started = False
        self._closed = False
        self._warned_no_page: set[str] = set()  # viewers already reported as not taking a page
        self._downloading = False

        flags = RunFlags()
        self.index = IndexController(IndexWorker(paths, settings, flags), flags, self)
        self.search = SearchController(paths, settings, self)
        index, search = self.index, self.search
        index.release_requested.connect(search.release)
        search.released.connect(index.on_released)
        index.reopen_requested.connect(search.reopen)
        index.progress.connect(self._on_progress)
        index.finished.connect(self._on_job_finished)
        index.queued.connect(lambda _job: self.status.emit("Queued until the current indexing run finishes", 5000))
        search.info.connect(self._on_info)

        self.download_worker = ModelDownloadWorker(paths.root)
        self.download_thread = start_thread(self.download_worker, "desktop-search-download")
        self._download_request.connect(self.download_worker.run)
        self.download_worker.finished.connect(self._download_ended)
        self.download_worker.failed.connect(self._download_ended)

        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_directory_changed)
        self._watch_timer = QTimer(self, singleShot=True, interval=WATCH_SETTLE_MS)
        self._watch_timer.timeout.connect(lambda: self.request_update(auto=True))
        self.rescan_timer = QTimer(self, interval=RESCAN_INTERVAL_MS)
        self.rescan_timer.timeout.connect(lambda: self.request_update(auto=True))

    def start(self) -> None:
        """The window is on screen: read the library, load the model, start the rescans (once)."""
        if self._background_started or self._closed:
            return
        self._background_started = True
        self.search.load()  # opens the index and starts loading the vectors and the model on their own thread
        self.search.refresh_info(True)
        self.rescan_timer.start()

    # -- settings ----------------------------------------------------------------------

    def _save_settings(self) -> None:
        try:
            self.settings.save(self.paths.settings)
        except OSError as exc:
            self.message.emit(f"Could not save the settings: {exc}")

    def apply_settings(self, settings: Settings) -> None:
        model_changed = ((settings.model, settings.device, settings.precision, settings.engine)
                         != (self.settings.model, self.settings.device, self.settings.precision, self.settings.engine))
        self.settings = settings
        self._save_settings()
        self.index.apply_settings(settings)
        self.search.apply_settings(settings, reload_model=model_changed)
        self.settings_changed.emit(settings)

    def set_filters(self, folders: tuple[str, ...], kinds: tuple[str, ...]) -> None:
        """Keep the chosen filters for the next start."""
        # A new Settings object: the workers hold the old one, and are never written into.
        self.settings = replace(self.settings, filter_folders=list(folders), filter_kinds=list(kinds))
        self._save_settings()

    # -- opening a passage ----------------------------------------------------------------

    def open_passage(self, r: SearchResult | None) -> None:
        """Open ``r`` in the user's viewer, at its page or chapter where the viewer can."""
        if r is None:
            return
        command = viewer_command(Passage(r.path, r.page, r.page_label, r.section), self.settings.viewer)
        if not launch(command):
            self.message.emit(f"Could not start {command.argv[0]} to open {r.path}.")
            return
        if not command.at_page and (r.page is not None or r.section) and command.viewer not in self._warned_no_page:
            self._warned_no_page.add(command.viewer)
            name = os.path.basename(r.path)
            if command.template:
                hint = "The viewer command has no %p for the page." if r.page is not None else \
                    "A viewer command can pass a page (%p), not an EPUB chapter."
            else:
                hint = "Set a viewer command with %f (file) and %p (page) in Settings."
            self.message.emit(f"{command.viewer} cannot be told where to open, so {name} opens at its start "
                              f"(the passage is on {r.location}). {hint}")
        self.status.emit(f"Opened {os.path.basename(r.path)} ({r.location})", 5000)
        self.opened.emit(command)

    def no_results_text(self, request: SearchRequest) -> str:
        """Why a search found nothing, in the results' place."""
        if not self.info.folders:
            return "Nothing is indexed yet. Add a folder in the Library panel, or drop one here."
        if request.similar_to is not None:
            return "No other passages are near this one."
        return f"No passages found for “{request.query}”."

    # -- the library and its index jobs ---------------------------------------------------------

    def add_folders(self, folders: list[str]) -> None:
        folders = [os.path.abspath(f) for f in folders if os.path.isdir(f)]
        if folders:
            self.index.submit(IndexJob(JobKind.UPDATE, add=folders))

    def set_patterns(self, folder: str, include: list[str], exclude: list[str]) -> None:
        """New include/exclude patterns for a folder: saved by an update run, which applies them."""
        self.index.submit(IndexJob(JobKind.UPDATE, add=[folder], include=include, exclude=exclude))

    def remove_folder(self, folder: str) -> None:
        self.index.submit(IndexJob(JobKind.REMOVE, remove=folder))

    def rebuild(self) -> None:
        self.index.submit(IndexJob(JobKind.REBUILD))

    def request_update(self, auto: bool = False) -> None:
        """Update now; automatic requests (watcher, timer) skip an empty library."""
        if auto and not self.info.folders:
            return
        self.index.submit(IndexJob(JobKind.UPDATE), auto=auto)

    @property
    def indexing(self) -> bool:
        return self.index.busy

    def _on_progress(self, p: Progress) -> None:
        if p.phase == Phase.INDEXING:
            now = time.monotonic()
            if now - self._last_info >= INFO_INTERVAL_S:
                self._last_info = now
                self.search.refresh_info(False)  # counts grow as batches commit; search sees them too

    def _on_job_finished(self, outcome: JobOutcome) -> None:
        report = outcome.report
        if outcome.error is not None:
            if outcome.auto:
                self.status.emit(outcome.error, 15000)
            else:
                self.message.emit(outcome.error)
        elif report is not None:
            parts = [f"{report.added} new", f"{report.updated} changed", f"{report.deleted} removed"]
            if report.moved:
                parts.append(f"{report.moved} moved")
            summary = f"Indexed: {', '.join(parts)}; {len(report.failed)} failed; {report.chunks} passages"
            if report.cancelled:
                summary = "Indexing stopped: " + summary + ". Update again to finish."
            if not outcome.auto or report.added or report.updated or report.deleted or report.moved or report.failed:
                self.status.emit(summary, 15000)
        self.search.refresh_info(True)

    def _on_info(self, info: LibraryInfo, dirs: list[str] | None) -> None:
        self.info = info
        if dirs is not None:
            self._watch(dirs)
        self.info_ready.emit(info)

    def _watch(self, dirs: list[str]) -> None:
        current = set(self.watcher.directories())
        wanted = set(dirs)
        if current - wanted:
            self.watcher.removePaths(sorted(current - wanted))
        if wanted - current:
            self.watcher.addPaths(sorted(wanted - current))

    def _on_directory_changed(self, path: str) -> None:
        logger.info("Change seen in %s", path)
        self._watch_timer.start()

    # -- getting a model -----------------------------------------------------------------

    def download_model(self, name: str) -> bool:
        """Download catalogue model ``name`` in the background; False while another one downloads."""
        if self._downloading:
            return False
        self._downloading = True
        self._download_request.emit(name)
        return True

    def _download_ended(self, *_args: str) -> None:
        self._downloading = False

    def adopt_model(self, name: str, folder: str, rebuild: bool) -> None:
        """Keep a downloaded model among the known ones; with ``rebuild``, use it and index again with it."""
        settings = replace(self.settings, extra_models=[*self.settings.extra_models, folder]
                           if folder not in self.settings.extra_models else list(self.settings.extra_models))
        if rebuild:
            settings.model = name
        self.apply_settings(settings)
        if rebuild:
            self.rebuild()

    # -- closing ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop timers and workers; what the indexer committed is kept."""
        if self._closed:
            return
        self._closed = True
        for t in (self._watch_timer, self.rescan_timer):
            t.stop()
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self.index.shutdown()
        stop_thread(self.download_thread)
        self.search.shutdown()
