"""The main window: search field, result cards, preview, library, indexing progress.

Everything slow runs in the two workers (:mod:`desktop_search.gui.workers`);
the window only sends them requests and renders what they send back. The
workers start after the window is first exposed, so the window never waits
for the model, SQLAlchemy or torch.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
    QMainWindow, QMessageBox, QProgressBar, QPushButton, QSplitter, QStackedWidget, QToolButton, QVBoxLayout,
    QWidget,
)

from desktop_search.gui.dialogs import AboutDialog, SettingsDialog
from desktop_search.gui.language_notice import LanguageNoticeBar, ModelDownloadWorker
from desktop_search.gui.library import FailedFilesDialog, LibraryPanel
from desktop_search.gui.preview import PreviewPane
from desktop_search.gui.results import HTML_ROLE, RESULT_ROLE, CardDelegate, card_html, query_terms
from desktop_search.gui.workers import IndexJob, IndexWorker, SearchWorker, start_thread, stop_thread
from desktop_search.models import multilingual_model_name
from desktop_search.paths import DataPaths
from desktop_search.progress import format_duration
from desktop_search.settings import Settings

logger = logging.getLogger(__name__)

TITLE = "Desktop Search"
TYPE_PAUSE_MS = 350  # search-as-you-type waits for this pause in typing
WATCH_SETTLE_MS = 2000  # let a copy into a watched folder finish before rescanning
RESCAN_INTERVAL_MS = 60_000  # the safety net for changes the watcher missed
INFO_INTERVAL_S = 2.0  # status bar counts refresh at most this often while indexing


class MainWindow(QMainWindow):
    # For tests and the start-up probe: emitted after the window has updated itself.
    first_exposed = Signal()
    model_ready = Signal(dict)
    results_shown = Signal(int)  # number of results
    preview_shown = Signal()
    index_finished = Signal(object)  # IndexReport, or None after a removal or failure
    info_updated = Signal(dict)

    # Requests to the workers (queued: the workers live on their own threads).
    _index_request = Signal(object)
    _index_settings = Signal(object)
    _search_request = Signal(int, str, int, str)
    _context_request = Signal(int, object)
    _info_request = Signal(bool)
    _load_request = Signal()
    _reopen_request = Signal()
    _release_request = Signal()
    _search_settings = Signal(object)
    _download_request = Signal(str)
    model_downloaded = Signal(str)  # the model's name, once it is on disk (and the user was asked)

    def __init__(self, paths: DataPaths, settings: Settings | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings if settings is not None else Settings.load(paths.settings)
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.resize(1200, 760)

        self._search_id = 0
        self._context_id = 0
        self._terms: list[str] = []
        self._search_started = 0.0
        self._model_info: dict[str, Any] | None = None
        self._info: dict[str, Any] = {"failed": [], "warnings": [], "folders": []}
        self._running: IndexJob | None = None
        self._auto_job = False
        self._jobs: deque[tuple[IndexJob, bool]] = deque()
        self._last_info = 0.0
        self._exposed = False
        self._background_started = False
        self._closed = False
        self._downloading = False

        self._build_ui()
        self._build_menus()
        self._start_workers()

        self._type_timer = QTimer(self, singleShot=True, interval=TYPE_PAUSE_MS)
        self._type_timer.timeout.connect(self.run_search)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_directory_changed)
        self._watch_timer = QTimer(self, singleShot=True, interval=WATCH_SETTLE_MS)
        self._watch_timer.timeout.connect(lambda: self.request_update(auto=True))
        self.rescan_timer = QTimer(self, interval=RESCAN_INTERVAL_MS)
        self.rescan_timer.timeout.connect(lambda: self.request_update(auto=True))

    # -- building ----------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Ask a question or type keywords, then press Enter")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.returnPressed.connect(self.run_search)
        self.search_field.textChanged.connect(self._on_text_changed)
        self.search_field.installEventFilter(self)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.run_search)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setTextVisible(False)
        self.busy.hide()
        top = QHBoxLayout()
        top.addWidget(self.search_field, 1)
        top.addWidget(self.busy)
        top.addWidget(self.search_button)

        # A dismissable message line for errors: visible, never modal, never a crash.
        self.banner = QFrame()
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextFormat(Qt.TextFormat.PlainText)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.banner.hide)
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.banner_label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.banner.hide()

        self.results = QListWidget()
        self.results.setItemDelegate(CardDelegate(self.results))
        self.results.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.results.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.results.setWordWrap(True)
        self.results.setUniformItemSizes(False)
        self.results.currentItemChanged.connect(self._on_current_changed)
        self.results.itemActivated.connect(lambda _item: self.preview.open_document())
        self.results.installEventFilter(self)
        self.placeholder = QLabel("Type a question and press Enter.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.placeholder)
        self.results_stack.addWidget(self.results)

        self.preview = PreviewPane()
        self.preview.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.results_stack)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)

        # Indexing progress: files done/total, current file, chunks/s, ETA; pause and cancel.
        self.progress_panel = QFrame()
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v / %m files")
        self.progress_label = QLabel()
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pause_button = QPushButton("&Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_indexing)
        prow = QHBoxLayout()
        prow.addWidget(self.progress_bar, 1)
        prow.addWidget(self.pause_button)
        prow.addWidget(self.cancel_button)
        pcol = QVBoxLayout(self.progress_panel)
        pcol.setContentsMargins(0, 0, 0, 0)
        pcol.addLayout(prow)
        pcol.addWidget(self.progress_label)
        self.progress_panel.hide()

        central = QWidget()
        col = QVBoxLayout(central)
        col.addLayout(top)
        col.addWidget(self.banner)
        self.notice_bar = LanguageNoticeBar()
        self.notice_bar.get_requested.connect(self.get_model)
        col.addWidget(self.notice_bar)
        col.addWidget(self.splitter, 1)
        col.addWidget(self.progress_panel)
        self.setCentralWidget(central)

        self.library = LibraryPanel()
        self.library.add_requested.connect(self.add_folder_dialog)
        self.library.remove_requested.connect(self.remove_folder)
        self.library.update_requested.connect(lambda: self.request_update(auto=False))
        self.library.rebuild_requested.connect(self.rebuild)
        self.library.failed_requested.connect(self.show_failed_files)
        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("library")
        self.library_dock.setWidget(self.library)
        self.library_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                      | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library_dock)
        self.resizeDocks([self.library_dock], [300], Qt.Orientation.Horizontal)

        self.counts_label = QLabel("No documents yet")
        self.model_label = QLabel("Model: not loaded")
        self.device_label = QLabel("Device: –")
        bar = self.statusBar()
        for w in (self.counts_label, self.model_label, self.device_label):
            bar.addPermanentWidget(w)
        self.search_field.setFocus()

    def _build_menus(self) -> None:
        def action(menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        action(m, "&Add folder…", self.add_folder_dialog, QKeySequence.StandardKey.Open)
        action(m, "&Update now", lambda: self.request_update(auto=False), QKeySequence.StandardKey.Refresh)
        action(m, "Re&build index…", self.rebuild)
        action(m, "&Failed files…", self.show_failed_files)
        m.addSeparator()
        action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        m = self.menuBar().addMenu("&Edit")
        action(m, "&Copy passage with citation", self.preview.copy_passage, "Ctrl+Shift+C")
        action(m, "&Open document", self.preview.open_document)
        action(m, "Show in &folder", self.preview.show_in_folder)
        m.addSeparator()
        action(m, "&Settings…", self.edit_settings, QKeySequence.StandardKey.Preferences)
        action(m, "&Get a multilingual model…", lambda: self.get_model(multilingual_model_name()))
        m = self.menuBar().addMenu("&View")
        m.addAction(self.library_dock.toggleViewAction())
        m = self.menuBar().addMenu("&Help")
        action(m, "&About Desktop Search", lambda: AboutDialog(self).exec())
        QShortcut(QKeySequence("Ctrl+L"), self, activated=self._focus_search)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, activated=self._focus_search)

    def _start_workers(self) -> None:
        self.index_worker = IndexWorker(self.paths, self.settings)
        self.search_worker = SearchWorker(self.paths, self.settings)
        self.index_thread = start_thread(self.index_worker, "desktop-search-index")
        self.search_thread = start_thread(self.search_worker, "desktop-search-search")
        iw, sw = self.index_worker, self.search_worker
        self._index_request.connect(iw.run)
        self._index_settings.connect(iw.set_settings)
        iw.progress.connect(self._on_progress)
        iw.finished.connect(self._on_index_finished)
        iw.failed.connect(self._on_index_failed)
        self._search_request.connect(sw.search)
        self._context_request.connect(sw.fetch_context)
        self._info_request.connect(sw.refresh_info)
        self._load_request.connect(sw.load)
        self._reopen_request.connect(sw.reopen)
        self._release_request.connect(sw.release)
        self._search_settings.connect(sw.set_settings)
        sw.ready.connect(self._on_model_ready)
        sw.results.connect(self._on_results)
        sw.context.connect(self._on_context)
        sw.info.connect(self._on_info)
        sw.failed.connect(self._on_search_failed)
        sw.notice.connect(self.notice_bar.show_notice)
        self.download_worker = ModelDownloadWorker(self.paths.root)
        self.download_thread = start_thread(self.download_worker, "desktop-search-download")
        self._download_request.connect(self.download_worker.run)
        self.download_worker.progress.connect(self.notice_bar.set_busy)
        self.download_worker.finished.connect(self._on_model_downloaded)
        self.download_worker.failed.connect(self._on_download_failed)

    # -- start-up: background work waits for the window ---------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        handle = self.windowHandle()
        if not self._exposed and handle is not None:
            handle.installEventFilter(self)
            # Should the platform never report an exposure, start anyway.
            QTimer.singleShot(1500, self._start_background)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Expose and obj is self.windowHandle() and not self._exposed:
            if obj.isExposed():
                self._exposed = True
                logger.info("Window first exposed")
                self.first_exposed.emit()
                # Let this first frame reach the screen before anything heavy starts.
                QTimer.singleShot(0, self._start_background)
        elif event.type() == QEvent.Type.KeyPress:
            return self._on_key(obj, event)
        return super().eventFilter(obj, event)

    def _start_background(self) -> None:
        if self._background_started or self._closed:
            return
        self._background_started = True
        self._info_request.emit(True)  # the library's counts first: they need no model
        self._load_request.emit()
        self.rescan_timer.start()

    # -- searching ------------------------------------------------------------------------

    def _on_text_changed(self, text: str) -> None:
        if self.settings.search_as_you_type and text.strip():
            self._type_timer.start()

    def run_search(self) -> None:
        self._type_timer.stop()
        query = self.search_field.text().strip()
        if not query:
            return
        self._search_id += 1
        self.search_worker.latest = self._search_id  # lets the worker skip superseded queries
        self._terms = query_terms(query)
        self._search_started = time.monotonic()
        self.busy.show()
        if self._model_info is None:
            self._show_placeholder("Searching… (the model is still loading; this happens once)")
        self.statusBar().showMessage("Searching…")
        self._search_request.emit(self._search_id, query, self.settings.top_k, self.settings.search_mode)

    def _on_results(self, request: int, query: str, results: list[Any]) -> None:
        if request != self._search_id:
            return
        self.busy.hide()
        elapsed = time.monotonic() - self._search_started
        self.results.clear()
        self.preview.clear()
        muted = self.palette().color(self.palette().ColorRole.PlaceholderText).name()
        for r in results:
            item = QListWidgetItem()
            item.setData(RESULT_ROLE, r)
            item.setData(HTML_ROLE, card_html(r, self._terms, muted))
            item.setToolTip(r.path)
            self.results.addItem(item)
        if results:
            self.results_stack.setCurrentWidget(self.results)
            self.results.setCurrentRow(0)
        elif not self._info.get("folders"):
            self._show_placeholder("Nothing is indexed yet. Add a folder in the Library panel, or drop one here.")
        else:
            self._show_placeholder(f"No passages found for “{query}”.")
        self.statusBar().showMessage(f"{len(results)} results for “{query}” in {elapsed:.2f} s", 10000)
        logger.info("%d results in %.2f s", len(results), elapsed)
        self.results_shown.emit(len(results))

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.results_stack.setCurrentWidget(self.placeholder)

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if current is None:
            return
        self._context_id += 1
        self._context_request.emit(self._context_id, current.data(RESULT_ROLE))

    def _on_context(self, request: int, result: Any, rows: list[dict[str, Any]]) -> None:
        if request != self._context_id:
            return
        self.preview.show_result(result, rows, self._terms)
        self.preview_shown.emit()

    def current_result(self) -> Any:
        item = self.results.currentItem()
        return item.data(RESULT_ROLE) if item is not None else None

    def _focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _on_key(self, obj: QObject, event: Any) -> bool:
        """Down from the field goes to the results; Escape from the results goes back."""
        key = event.key()
        if obj is self.search_field and key == Qt.Key.Key_Down and self.results.count():
            self.results.setFocus()
            if self.results.currentRow() < 0:
                self.results.setCurrentRow(0)
            return True
        if obj is self.results and key == Qt.Key.Key_Escape:
            self._focus_search()
            return True
        if obj is self.results and event.matches(QKeySequence.StandardKey.Copy):
            self.preview.copy_passage()
            return True
        return False

    def _on_model_ready(self, info: dict[str, Any]) -> None:
        self._model_info = info
        self.model_label.setText(f"Model: {Path(info['model']).name}")
        self.model_label.setToolTip(info["model"])
        self.device_label.setText(f"Device: {info['device']}")
        self.model_ready.emit(info)

    def _on_search_failed(self, message: str) -> None:
        self.busy.hide()
        if self.results_stack.currentWidget() is self.placeholder:
            self._show_placeholder("The search could not run; see the message above.")
        self.show_message(message)

    # -- library and indexing -----------------------------------------------------------

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", str(Path.home()))
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        folders = [os.path.abspath(f) for f in folders if os.path.isdir(f)]
        if folders:
            self.start_job(IndexJob("update", add=folders))

    def remove_folder(self, folder: str) -> None:
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Take {folder} out of the library?\n\nIts documents leave the index; the files themselves are not touched.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.start_job(IndexJob("remove", remove=folder))

    def rebuild(self) -> None:
        answer = QMessageBox.question(
            self, "Rebuild the index",
            "Read and embed every document again? This takes as long as the first indexing did.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.start_job(IndexJob("rebuild"))

    def request_update(self, auto: bool = False) -> None:
        """Update now; automatic requests (watcher, timer) skip an empty library and merge."""
        if auto and not self._info.get("folders"):
            return
        if self._running is not None or self._jobs:
            if not any(j.kind == "update" and not j.add for j, _ in self._jobs):
                self._jobs.append((IndexJob("update"), auto))
            return
        self.start_job(IndexJob("update"), auto=auto)

    def start_job(self, job: IndexJob, auto: bool = False) -> None:
        if self._closed:
            return
        if self._running is not None:
            self._jobs.append((job, auto))
            self.statusBar().showMessage("Queued until the current indexing run finishes", 5000)
            return
        self._running, self._auto_job = job, auto
        self.index_worker.cancel.clear()
        self.index_worker.pause.clear()
        self.pause_button.setChecked(False)
        self.library.set_indexing(True)
        if not auto:
            self._show_progress("Starting…")
        if job.kind == "rebuild":
            self._release_request.emit()  # reopened when the run ends
        self._index_request.emit(job)

    def _show_progress(self, text: str) -> None:
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText(text)
        self.cancel_button.setEnabled(True)
        self.pause_button.setEnabled(True)
        self.progress_panel.show()

    def _on_progress(self, p: Any) -> None:
        if self._running is None:
            return
        if p.phase == "indexing":
            self.progress_panel.show()
            self.progress_bar.setRange(0, max(p.files_total, 1))
            self.progress_bar.setValue(p.files_done)
            eta = format_duration(p.eta_s) if p.eta_s is not None else "--:--"
            current = f" · {os.path.basename(p.current)}" if p.current else ""
            failed = f" · {p.failed} failed" if p.failed else ""
            paused = "Paused · " if self.index_worker.pause.is_set() else ""
            self.progress_label.setText(
                f"{paused}{p.files_done}/{p.files_total} files · {p.chunks_done} passages · "
                f"{p.chunks_per_s:.1f} passages/s · ETA {eta}{failed}{current}"
            )
            self.progress_label.setToolTip(p.current or "")
            now = time.monotonic()
            if now - self._last_info >= INFO_INTERVAL_S:
                self._last_info = now
                self._info_request.emit(False)  # counts grow as batches commit; search sees them too
        elif p.phase in ("loading model", "scanning", "saving"):
            if p.phase == "loading model":
                self.progress_panel.show()
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText({"scanning": "Looking for new and changed files…",
                                         "loading model": "Loading the model…",
                                         "saving": "Saving the index…"}[p.phase])

    def _on_index_finished(self, report: Any) -> None:
        job = self._running
        if report is not None:
            parts = [f"{report.added} new", f"{report.updated} changed", f"{report.deleted} removed"]
            if report.moved:
                parts.append(f"{report.moved} moved")
            summary = f"Indexed: {', '.join(parts)}; {len(report.failed)} failed; {report.chunks} passages"
            if report.cancelled:
                summary = "Indexing stopped: " + summary + ". Update again to finish."
            if not self._auto_job or report.added or report.updated or report.deleted or report.moved or report.failed:
                self.statusBar().showMessage(summary, 15000)
        if job is not None and job.kind in ("rebuild", "remove"):
            self._reopen_request.emit()  # the index files were replaced
        self._job_done(report)

    def _on_index_failed(self, message: str) -> None:
        if self._auto_job:
            self.statusBar().showMessage(message, 15000)
        else:
            self.show_message(message)
        self._job_done(None)

    def _job_done(self, report: Any) -> None:
        self._running = None
        self.progress_panel.hide()
        self.library.set_indexing(False)
        self._info_request.emit(True)
        self.index_finished.emit(report)
        if self._jobs and not self._closed:
            job, auto = self._jobs.popleft()
            self.start_job(job, auto=auto)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.index_worker.pause.set()
            self.pause_button.setText("&Resume")
        else:
            self.index_worker.pause.clear()
            self.pause_button.setText("&Pause")

    def cancel_indexing(self) -> None:
        self._jobs.clear()
        self.index_worker.cancel.set()
        self.index_worker.pause.clear()
        self.cancel_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        self.progress_label.setText("Stopping after the current file… (what is done is kept)")

    @property
    def indexing(self) -> bool:
        return self._running is not None

    def _on_info(self, info: dict[str, Any]) -> None:
        self._info = info
        self.library.set_folders(info["folders"])
        self.counts_label.setText(f"{info['documents']} documents · {info['chunks']} passages")
        if info["failed"]:
            self.counts_label.setText(self.counts_label.text() + f" · {len(info['failed'])} failed")
        if "watch_dirs" in info:
            self._watch(info["watch_dirs"])
        self.info_updated.emit(info)

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

    def show_failed_files(self) -> None:
        FailedFilesDialog(self._info.get("failed", []), self._info.get("warnings", []), self).exec()

    # -- drag and drop ----------------------------------------------------------------

    @staticmethod
    def _dropped_folders(event: QDragEnterEvent | QDropEvent) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and os.path.isdir(u.toLocalFile())]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self._dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        folders = self._dropped_folders(event)
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)

    # -- settings, messages, closing -------------------------------------------------------

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.apply_settings(dialog.settings())

    def apply_settings(self, settings: Settings) -> None:
        model_changed = (settings.model, settings.device) != (self.settings.model, self.settings.device)
        self.settings = settings
        try:
            settings.save(self.paths.settings)
        except OSError as exc:
            self.show_message(f"Could not save the settings: {exc}")
        self._index_settings.emit(settings)
        self._search_settings.emit(settings)
        if model_changed:
            self._model_info = None
            self.model_label.setText("Model: loading…")
            self._reopen_request.emit()

    def get_model(self, name: str) -> None:
        """Download catalogue model ``name`` in the background (from the notice or the Edit menu)."""
        if self._downloading:
            return
        self._downloading = True
        self.notice_bar.set_busy(0, 0)
        self.notice_bar.show()
        self.statusBar().showMessage(f"Downloading {name}…")
        self._download_request.emit(name)

    def _on_model_downloaded(self, name: str, folder: str) -> None:
        self._downloading = False
        self.notice_bar.set_idle()
        self.statusBar().showMessage(f"{name} downloaded and verified.", 5000)
        settings = replace(self.settings, extra_models=[*self.settings.extra_models, folder]
                           if folder not in self.settings.extra_models else list(self.settings.extra_models))
        answer = QMessageBox.question(
            self, "Rebuild with the new model",
            f"{name} is ready. Rebuild the index with it now?\n\n"
            "Every document is read and embedded again; this takes as long as the first indexing did.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            settings.model = name
            self.apply_settings(settings)
            self.notice_bar.hide()
            self.start_job(IndexJob("rebuild"))
        else:
            self.apply_settings(settings)
        self.model_downloaded.emit(name)

    def _on_download_failed(self, message: str) -> None:
        self._downloading = False
        self.notice_bar.set_idle()
        self.show_message(message)

    def show_message(self, text: str) -> None:
        """Show ``text`` in the message line, under the last few messages still shown."""
        lines = self.banner_label.text().split("\n") if self.banner.isVisible() else []
        lines = [line for line in lines if line != text][-2:] + [text]
        self.banner_label.setText("\n".join(lines))
        self.banner.show()

    def banner_text(self) -> str:
        return self.banner_label.text() if self.banner.isVisible() else ""

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop timers and workers; what the indexer committed is kept."""
        if self._closed:
            return
        self._closed = True
        for t in (self._type_timer, self._watch_timer, self.rescan_timer):
            t.stop()
        self._jobs.clear()
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self.index_worker.cancel.set()
        self.index_worker.pause.clear()
        stop_thread(self.index_thread)
        stop_thread(self.search_thread)
        stop_thread(self.download_thread)
        self.search_worker.shutdown()
